"""Without a terminal (no progress bars) a study says what it does, one line per phase."""

from __future__ import annotations

import pandas as pd

from scratchlab.studies.base import Study, StudyResult, run_study
from scratchlab.util import Laps


class Tiny(Study):
    name, description = "tiny", "a study that measures one number"

    def analyze(self, records):
        return StudyResult(self.name, pd.DataFrame({"x": [1.0]}))


def test_phases_are_printed_without_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SCRATCHLAB_QUIET", raising=False)
    run_study(Tiny(out_dir=tmp_path / "tiny"), quick=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["study tiny: measuring", "study tiny: analysing",
                     f"study tiny: writing {tmp_path / 'tiny'}"]


def test_quiet_prints_no_phases(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCRATCHLAB_QUIET", "1")
    run_study(Tiny(out_dir=tmp_path / "tiny"), quick=True)
    assert capsys.readouterr().out == ""


def test_each_phase_is_timed(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCRATCHLAB_QUIET", "1")
    ticks = iter(range(0, 100, 3))  # each clock reading 3 s after the one before
    monkeypatch.setattr("scratchlab.studies.base.Laps", lambda: Laps(clock=lambda: next(ticks)))
    result = run_study(Tiny(out_dir=tmp_path / "tiny"), quick=True)
    assert result.seconds == {"plan": 3, "train": 3, "analyse": 3, "report": 3, "save": 3}
    assert run_study(Tiny(out_dir=tmp_path / "other"), quick=True, save=False).seconds.keys() \
        == {"plan", "train", "analyse", "report"}


class Training(Tiny):
    """A study with runs (none trained here) whose analysis imports a slow library."""

    preload = ("a_slow_library",)

    def configs(self, quick, seeds):
        return ["one run"]

    def train(self, configs):
        self.started = dict(calls)
        return []


calls: dict[str, object] = {}


def test_the_analysis_imports_and_figure_workers_start_before_the_runs_train(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("SCRATCHLAB_QUIET", "1")
    calls.clear()
    monkeypatch.setattr("scratchlab.studies.base.import_in_background",
                        lambda *names: calls.update(preload=names))
    monkeypatch.setattr("scratchlab.studies.base.start_workers",
                        lambda: calls.update(workers=True))
    study = Training(out_dir=tmp_path / "t")
    run_study(study, quick=True)
    assert study.started == {"preload": ("a_slow_library",), "workers": True}
    calls.clear()
    run_study(Tiny(out_dir=tmp_path / "m"), quick=True)  # a study that only measures: neither
    assert calls == {}
