"""What every study shares: its result object, output folder layout, seeds and the summary table.

A study module defines `NAME`, `DESCRIPTION` and `run(quick=False, seeds=None, device="auto",
out_dir=None) -> StudyResult`. It trains only through `scratchlab.experiments` (run_experiment /
run_configs) and then analyses the stored results.

Output folder (default `results/studies/<name>`):
    table.csv        one row per trained model and seed
    summary.csv      mean, std and count over seeds per condition
    figures/*.png    every figure of the report
    report.html      the study's report section as a page
    runs/            the per-run JSON results and checkpoints
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scratchlab.errors import ConfigError
from scratchlab.util import atomic_write_bytes, atomic_write_text
from scratchlab.viz import HtmlReport, figure_to_png


@dataclass
class StudyResult:
    """A finished study: its table, summary, figures, findings and report section."""

    name: str
    table: pd.DataFrame
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: dict[str, Figure] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    out_dir: Path | None = None
    report: HtmlReport | None = None
    # A few rows the command prints at the end instead of the whole summary (optional).
    headline: pd.DataFrame | None = None

    def report_html(self) -> str:
        """The study's section of an HTML report (a fragment; `save` writes the full page)."""
        return self.report.body() if self.report is not None else ""

    def save(self, out_dir: str | Path | None = None) -> Path:
        """Write table.csv, summary.csv, figures/*.png and report.html into the output folder."""
        out = Path(out_dir or self.out_dir or Path("results") / "studies" / self.name)
        (out / "figures").mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "table.csv", self.table.to_csv(index=False))
        atomic_write_text(out / "summary.csv", self.summary.to_csv(index=False))
        drawn = self.report.png_of if self.report is not None else {}
        for name, fig in self.figures.items():
            png = drawn.get(id(fig)) or figure_to_png(fig)
            atomic_write_bytes(out / "figures" / f"{name}.png", png)
        if self.report is not None:
            self.report.save(out / "report.html")
        self.out_dir = out
        return out


def study_dir(name: str, out_dir: str | Path | None) -> Path:
    return Path(out_dir) if out_dir is not None else Path("results") / "studies" / name


def seed_list(seeds: int | None, quick: bool, full_default: int, quick_default: int, base: int = 0) -> list[int]:
    """The seeds of a study run: `seeds` of them, or its default for quick/full mode."""
    n = seeds if seeds is not None else (quick_default if quick else full_default)
    if n < 1:
        raise ConfigError(f"--seeds must be >= 1, got {n}")
    return [base + i for i in range(n)]


def mean_std(table: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, std (ddof=1; 0 for one seed) and count of `metrics` over seeds, per group `by`."""
    grouped = table.groupby(by, sort=False, dropna=False)
    parts = []
    for metric in metrics:
        stats = grouped[metric].agg(["mean", "std", "count"])
        stats["std"] = stats["std"].fillna(0.0)
        stats.columns = [f"{metric}_mean", f"{metric}_std", "n"]
        parts.append(stats if not parts else stats.drop(columns="n"))
    return pd.concat(parts, axis=1).reset_index()


def fmt_pm(mean: float, std: float, digits: int = 1) -> str:
    """'83.4 +- 1.2' (the form every study uses for numbers over seeds)."""
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


def new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (5, 4)) -> tuple[Figure, Any]:
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    return fig, axes
