"""The HTML report of a results folder: per sweep, the shared config, a results table and curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scratchlab.experiments.store import aggregate, load_runs, runs_table, shared_config, strip_seed
from scratchlab.training import FitResult
from scratchlab.viz import HtmlReport, plot_exp_results

MAX_CURVES = 16


def sweep_groups(directory: Path) -> dict[str, list[str] | None]:
    """Sweep name -> its run names, from the `*.sweep.json` manifests; `{"all runs": None}` without any."""
    groups: dict[str, list[str] | None] = {}
    for manifest in sorted(directory.glob("*.sweep.json")):
        data = json.loads(manifest.read_text())
        groups[data["name"]] = list(data["runs"])
    return groups or {"all runs": None}


def add_runs_section(report: HtmlReport, title: str, runs: list[dict[str, Any]]) -> None:
    """One section: shared config, per-run and per-group tables, overlaid curves."""
    report.heading(title)
    if not runs:
        report.paragraph("No results yet.")
        return
    report.heading("Shared configuration", 3).mapping(shared_config([r["config"] for r in runs]))
    directory = Path(runs[0]["path"]).parent
    names = {r["config"]["run_name"] for r in runs}
    table = runs_table(directory)
    table = table[table["run_name"].isin(names)]
    report.heading("Runs", 3).table(table.drop(columns=["error"]) if table["error"].isna().all() else table)
    groups = aggregate(table)
    if len(groups) and groups["n"].max() > 1:
        report.heading("Best test accuracy over seeds (mean, std, 95% CI)", 3).table(groups)
    fits = {strip_seed(r["config"]["run_name"]): FitResult.from_dict(r["results"]) for r in runs if r.get("results")}
    if fits:
        shown = dict(list(fits.items())[:MAX_CURVES])
        fig, _ = plot_exp_results(shown)
        fig.suptitle(f"{title}: learning curves" + (f" (first {MAX_CURVES})" if len(fits) > MAX_CURVES else ""))
        report.figure(fig, alt=f"{title} learning curves")


def build_report(directory: str | Path, title: str | None = None) -> HtmlReport:
    """A report of every run in `directory`, one section per sweep."""
    directory = Path(directory)
    runs = load_runs(directory)
    report = HtmlReport(title or f"scratchlab results: {directory}", subtitle=f"{len(runs)} runs in {directory}")
    by_name = {r["config"]["run_name"]: r for r in runs}
    for name, members in sweep_groups(directory).items():
        selected = list(by_name.values()) if members is None else [by_name[m] for m in members if m in by_name]
        add_runs_section(report, name, selected)
    return report
