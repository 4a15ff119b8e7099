"""Inductive bias of CNNs: do they owe their advantage to locality and translation equivariance?

    from scratchlab.studies import inductive_bias
    result = inductive_bias.run(quick=True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scratchlab.experiments import ExperimentConfig, RunRecord, run_configs
from scratchlab.studies.base import Study, StudyResult
from scratchlab.util import cpu_jobs, progress, resolve_device
from scratchlab.viz import HtmlReport

from .analysis import Analysis, analyse
from .plan import budget_for, experiment_configs, study_runs, unique_configs
from .report import build_report, findings
from .table import build_table, summarize

NAME = "inductive-bias"
DESCRIPTION = "CNN vs MLP on edge images: locality, translation equivariance, permutation (q1-q7)"

__all__ = ["STUDY", "InductiveBias", "InductiveBiasResult", "experiment_configs", "run"]


@dataclass
class InductiveBiasResult(StudyResult):
    """The study's result; `analysis.verdicts` is the conclusion table."""

    analysis: Analysis | None = None


class InductiveBias(Study):
    """The study. Options: `scale` multiplies every epoch count (0.1: a smoke test); `jobs`:
    worker processes (see `jobs()`); `batched`: auto, on or off, as `run_configs` (default: on
    with CPU worker processes, auto otherwise; see `batched()`);
    `report_only`: the table, figures and report from the runs in the output folder (give the
    mode, seeds and scale they ran with)."""

    name, description = NAME, DESCRIPTION
    full_seeds, quick_seeds = 5, 2
    option_names = ("jobs", "batched", "scale", "report_only")
    threads = 1  # torch threads per process on a CPU
    preload = ("sklearn.metrics",)  # the q4 confusion matrices (2 s to import on a GPU host)

    def __init__(self, device: str = "auto", out_dir: str | Path | None = None,
                 verbose: bool = True, **options: Any) -> None:
        super().__init__(device, out_dir, **options)
        self.verbose = verbose

    def configs(self, quick: bool, seeds: list[int]) -> list[ExperimentConfig]:
        scale = self.options.get("scale", 1.0)
        self.budget = budget_for(quick, scale)
        self.runs = study_runs(quick, seeds, self.runs_dir, self.device, scale)
        return unique_configs(self.runs)

    def jobs(self) -> int:
        """Worker processes: `jobs`, else one per core on a CPU and one on a GPU."""
        if (jobs := self.options.get("jobs")) is not None:
            return jobs
        return cpu_jobs() if resolve_device(self.device).type == "cpu" else 1

    def batched(self) -> str:
        """`batched`, else "on" when CPU worker processes train the runs: its nets have a
        stacked forward, so their groups cut into parts for the workers took 28 s of the quick
        study against 49 s for each run alone (2 cores, docs/speed.md); else "auto"."""
        if (mode := self.options.get("batched")) is not None:
            return str(mode)
        cpu = resolve_device(self.device).type == "cpu"
        return "on" if cpu and self.jobs() > 1 else "auto"

    def train(self, configs: list[ExperimentConfig]) -> list[RunRecord]:
        """The unfinished runs trained in `jobs()` processes, on a CPU with one thread each."""
        with self.cpu_threads(), progress(total=len(configs), desc=f"{NAME} runs",
                                          verbose=self.verbose) as bar:
            return run_configs(configs, jobs=self.jobs(), on_record=lambda _: bar.update(1),
                               batched=self.batched(), restart_changed=True)

    def analyze(self, records: list[RunRecord]) -> InductiveBiasResult:
        table = build_table(self.runs, {r.config.run_name: r for r in records}, NAME)
        analysis = analyse(table, records, self.budget, resolve_device(self.device))
        return InductiveBiasResult(
            NAME, table, summarize(table), analysis.figures,
            findings(table, analysis, self.budget), analysis=analysis,
            headline=analysis.verdicts[["experiment", "hypothesis", "verdict"]])

    def report(self, result: StudyResult) -> HtmlReport:
        assert isinstance(result, InductiveBiasResult) and result.analysis is not None
        return build_report(result.table, result.analysis, result.findings, self.quick,
                            self.budget, self.seeds)


STUDY = InductiveBias
run = InductiveBias.run  # run(quick, seeds, device, out_dir, **options)
