"""Inductive bias of CNNs: do they owe their advantage to locality and translation equivariance?

`scratchlab study inductive-bias [--quick] [--seeds N]` trains a SimpleCNN (606 parameters) and an
MLP (784-50-10-3) on the `edges` data in seven experiments that keep the original question
numbers: q1 overfitting, q2 sample efficiency and edge-detector initialisation, q3 training to
convergence, q4 domain shift, q5 pixel permutation, q6 five classes and pooling, q7 wider and
deeper CNNs. Every number is a mean +- std over seeds, with the per-seed values in table.csv.

    from scratchlab.studies import inductive_bias
    result = inductive_bias.run(quick=True)
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path

from scratchlab.experiments import ExperimentConfig, RunOutcome, run_configs
from scratchlab.studies._common import torch_threads
from scratchlab.studies.base import StudyResult, seed_list, study_dir
from scratchlab.studies.inductive_bias_analysis import analyse
from scratchlab.studies.inductive_bias_plan import (
    Budget,
    PlannedRun,
    budget_for,
    experiment_configs,
    study_runs,
    unique_configs,
)
from scratchlab.studies.inductive_bias_report import build_report, findings, verdict_table
from scratchlab.studies.inductive_bias_table import build_table, summarize
from scratchlab.studies.inductive_bias_verdicts import conclusions
from scratchlab.util import progress, resolve_device

NAME = "inductive-bias"
DESCRIPTION = "CNN vs MLP on edge images: locality, translation equivariance, permutation (q1-q7)"
FULL_SEEDS, QUICK_SEEDS = 5, 2

__all__ = [
    "DESCRIPTION", "NAME", "Budget", "PlannedRun", "budget_for", "conclusions", "experiment_configs",
    "findings", "run", "study_runs", "train",
]


def cpu_threads(device: str, threads: int = 1) -> AbstractContextManager[None]:
    """Use `threads` intra-op threads while training on the CPU (these nets are too small to gain
    from more, and lose much when the cores are shared); restored afterwards."""
    return torch_threads(threads if resolve_device(device).type == "cpu" else None)


MAX_DEFAULT_JOBS = 16  # each worker process holds its own torch (a few hundred MB)


def default_jobs(device: str) -> int:
    """One process per core on a CPU (one run each; at most `MAX_DEFAULT_JOBS`), one on a GPU
    (where the batched groups share the device)."""
    if resolve_device(device).type != "cpu":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_DEFAULT_JOBS))


def train(configs: list[ExperimentConfig], device: str = "auto", jobs: int | None = None, verbose: bool = True,
          batched: str = "auto") -> list[RunOutcome]:
    """Train every unfinished run through `run_configs` (with `batched="auto"`, runs that differ only
    in seed, data or learning rate train together in the batched trainer; `"off"` trains each alone),
    `jobs` worker processes at a time (default `default_jobs(device)`)."""
    jobs = default_jobs(device) if jobs is None else jobs
    with cpu_threads(device), progress(total=len(configs), desc="inductive-bias runs", verbose=verbose) as bar:
        return run_configs(configs, jobs=jobs, on_outcome=lambda _: bar.update(1), batched=batched)


def run(quick: bool = False, seeds: int | None = None, device: str = "auto",
        out_dir: str | Path | None = None, scale: float = 1.0, jobs: int | None = None,
        verbose: bool = True, batched: str = "auto") -> StudyResult:
    """Train the study's runs (finished ones are reused), analyse them and build the report.

    Args:
        quick: 2 seeds and reduced epochs (a few minutes on a CPU) instead of 5 seeds.
        seeds: number of seeds (default 5, or 2 in quick mode).
        device: auto, cpu or cuda.
        out_dir: output folder (default results/studies/inductive-bias); runs go to its `runs/`.
        scale: multiplies every epoch count (e.g. 0.1 for a smoke test).
        jobs: worker processes (default: one per core on a CPU, up to 16, where `auto` then trains the runs
            one at a time in them, measured faster there than batching; 1 on a GPU, where the
            batched groups share the device).
        verbose: progress bar.
        batched: `auto` (default) trains runs of one architecture together where that pays (on a
            GPU, or in one CPU process), `on` wherever it can, `off` one at a time (the same
            verdicts: a check of the batched trainer).
    """
    out = study_dir(NAME, out_dir)
    seed_values = seed_list(seeds, quick, FULL_SEEDS, QUICK_SEEDS)
    runs = study_runs(quick, seed_values, out / "runs", device, scale)
    train(unique_configs(runs), device=device, jobs=jobs, verbose=verbose, batched=batched)
    table = build_table(runs, NAME)
    budget = budget_for(quick, scale)
    analysis = analyse(runs, table, budget)
    report = build_report(table, analysis, quick=quick, budget=budget, seeds=seed_values)
    verdicts = verdict_table(table, analysis)
    return StudyResult(
        name=NAME, table=table, summary=summarize(table), figures=analysis.figures,
        findings=findings(table, analysis, budget), out_dir=out, report=report,
        headline=verdicts[["experiment", "hypothesis", "verdict"]],
    )
