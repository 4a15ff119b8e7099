"""The HTML report of a results folder: per sweep, the shared config, a results table and curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scratchlab.errors import ConfigError
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


def results_folders(directory: Path) -> list[tuple[Path, list[dict[str, Any]]]]:
    """`directory` and its direct subfolders (a sweep writes to `results/<sweep name>/`), each with
    its runs, keeping the folders that hold any; a ConfigError when none does."""
    folders = [directory, *sorted(p for p in directory.iterdir() if p.is_dir() and p.name != "checkpoints")] \
        if directory.is_dir() else [directory]
    found = [(folder, runs) for folder in folders if (runs := load_runs(folder))]
    if not found:
        raise ConfigError(f"no results files in {directory} or its subfolders; run an experiment or sweep first")
    return found


def build_report(directory: str | Path, title: str | None = None) -> HtmlReport:
    """A report of every run in `directory` (and in its direct subfolders), one section per sweep."""
    directory = Path(directory)
    found = results_folders(directory)
    total = sum(len(runs) for _, runs in found)
    where = f"{directory}" if len(found) == 1 else f"{directory} ({len(found)} folders)"
    report = HtmlReport(title or f"scratchlab results: {directory}", subtitle=f"{total} runs in {where}")
    for folder, runs in found:
        by_name = {r["config"]["run_name"]: r for r in runs}
        prefix = "" if folder == directory else f"{folder.relative_to(directory)}: "
        for name, members in sweep_groups(folder).items():
            selected = list(by_name.values()) if members is None else [by_name[m] for m in members if m in by_name]
            add_runs_section(report, prefix + name, selected)
    return report
