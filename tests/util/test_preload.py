"""Modules imported in the background: loaded once, in order, and a failure left to the caller."""

import sys
import threading

from scratchlab.util import import_in_background


def test_modules_load_in_a_background_thread(tmp_path, monkeypatch):
    (tmp_path / "slow_first.py").write_text(
        "import threading\nTHREAD = threading.current_thread().name\n")
    (tmp_path / "slow_second.py").write_text("import slow_first\nAFTER = slow_first.THREAD\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    thread = import_in_background("slow_first", "slow_second")
    thread.join(timeout=30)
    assert not thread.is_alive() and thread.daemon
    assert sys.modules["slow_first"].THREAD == "preload" != threading.current_thread().name
    assert sys.modules["slow_second"].AFTER == "preload"
    for name in ("slow_first", "slow_second"):
        monkeypatch.delitem(sys.modules, name)


def test_a_module_that_fails_is_left_to_the_caller(tmp_path, monkeypatch):
    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('broken on purpose')\n")
    (tmp_path / "after_broken.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    thread = import_in_background("broken_mod", "after_broken", "no_such_module_here")
    thread.join(timeout=30)
    assert "broken_mod" not in sys.modules and "after_broken" not in sys.modules
