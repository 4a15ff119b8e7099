"""`scratchlab study`: what the command prints and writes, with a stand-in study module."""

from __future__ import annotations

import re
import sys
import types

import pandas as pd
import pytest

from scratchlab.cli import main
from scratchlab.studies import registry
from scratchlab.studies.base import Study, StudyResult


def fake_study(headline: pd.DataFrame | None) -> types.ModuleType:
    module = types.ModuleType("fake_study_for_tests")

    class Fake(Study):
        name, description = "fake", "a stand-in study"

        def analyze(self, records):
            table = pd.DataFrame({"seed": [0, 1], "acc": [50.0, 70.0]})
            summary = pd.DataFrame({"acc_mean": [60.0], "acc_std": [14.1]})
            return StudyResult(
                name="fake",
                table=table,
                summary=summary,
                findings=["acc 60 +- 14"],
                headline=headline,
            )

    module.STUDY = Fake
    return module


def exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    return exit_.value.code


@pytest.fixture
def register_fake(monkeypatch):
    def install(headline: pd.DataFrame | None) -> None:
        monkeypatch.setitem(sys.modules, "fake_study_for_tests", fake_study(headline))
        monkeypatch.setitem(registry.STUDIES, "fake", "fake_study_for_tests")

    return install


def test_prints_the_headline_when_the_study_has_one(register_fake, tmp_path, capsys):
    register_fake(pd.DataFrame({"hypothesis": ["more data helps"], "verdict": ["supported"]}))
    assert exit_code(["study", "fake", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "more data helps" in printed and "supported" in printed and "acc_mean" not in printed
    assert "- acc 60 +- 14" in printed and f"report: {tmp_path / 'report.html'}" in printed
    assert len(pd.read_csv(tmp_path / "table.csv")) == 2 and (tmp_path / "summary.csv").exists()


def test_the_last_line_gives_the_time_of_each_phase(register_fake, tmp_path, capsys):
    register_fake(None)
    assert exit_code(["study", "fake", "--out", str(tmp_path)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    phases = re.search(r"finished in \d+ s \((.*)\); report", last)
    assert phases is not None, last
    assert [p.rsplit(" ", 2)[0] for p in phases[1].split(", ")] == [
        "plan", "train", "analyse", "report", "save"]


def test_prints_the_summary_otherwise(register_fake, tmp_path, capsys):
    register_fake(None)
    assert exit_code(["study", "fake", "--out", str(tmp_path)]) == 0
    assert "acc_mean" in capsys.readouterr().out


def test_a_flag_the_study_does_not_take_is_a_one_line_error(register_fake, tmp_path, capsys):
    register_fake(None)
    code = exit_code(["study", "fake", "--jobs", "2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "does not take --jobs" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "table.csv").exists()


@pytest.mark.parametrize("jobs", [0, -2, 1.5, True])
def test_a_study_refuses_jobs_that_are_not_a_count_before_anything_runs(jobs):
    from scratchlab.errors import ConfigError
    from scratchlab.studies.inductive_bias import InductiveBias

    with pytest.raises(ConfigError, match="jobs must be a whole number of at least 1"):
        InductiveBias(jobs=jobs)
