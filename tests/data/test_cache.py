"""The decode cache: files written now or in the background, read back equal."""

from __future__ import annotations

import numpy as np

from scratchlab.data.cache import load_cached, save_cached, wait_for_writes


def test_a_background_write_keeps_the_array_as_it_was_given(tmp_path):
    source = tmp_path / "images.npz"
    source.write_bytes(b"source")
    array = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    given = array.copy()
    path = save_cached(source, "train", "key", array, background=True)
    array[:] = 0  # the caller goes on and changes its array while the file is written
    wait_for_writes()
    assert path == tmp_path / "images.train.key.npy" and path.is_file()
    np.testing.assert_array_equal(load_cached(source, "train", "key"), given)


def test_load_cached_waits_for_the_write_in_progress(tmp_path):
    source = tmp_path / "images.npz"
    source.write_bytes(b"source")
    array = np.random.default_rng(0).integers(0, 255, (2000, 3, 32, 32), dtype=np.uint8)
    save_cached(source, "test", "key", array, background=True)
    np.testing.assert_array_equal(load_cached(source, "test", "key"), array)


def test_no_writable_place_is_none(tmp_path, monkeypatch):
    source = tmp_path / "ro" / "images.npz"
    source.parent.mkdir()
    source.write_bytes(b"source")
    source.parent.chmod(0o555)
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("SCRATCHLAB_CACHE", str(blocker / "cache"))  # no folder can be made here
    try:
        assert save_cached(source, "train", "key", np.zeros(3, np.uint8), background=True) is None
    finally:
        source.parent.chmod(0o755)
    assert not list(source.parent.glob("*.npy"))
