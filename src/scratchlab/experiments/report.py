"""The HTML report of a results folder: per folder and sweep, the shared config, a table, curves."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from scratchlab.errors import ConfigError
from scratchlab.experiments.records import RunRecord, load_records
from scratchlab.experiments.store import aggregate, records_table, shared_config, strip_seed
from scratchlab.viz import HtmlReport, plot_exp_results

MAX_CURVES = 16
MAX_ROWS = 200  # a section lists its runs one by one up to this many, else per group of seeds


def sweep_groups(directory: Path) -> dict[str, list[str] | None]:
    """Sweep name -> run names, from `*.sweep.json` manifests (`{"all runs": None}` without)."""
    groups: dict[str, list[str] | None] = {}
    for manifest in sorted(directory.glob("*.sweep.json")):
        try:
            data = json.loads(manifest.read_text())
            groups[str(data["name"])] = [str(name) for name in data["runs"]]
        except (OSError, ValueError, KeyError, TypeError):
            raise ConfigError(f"sweep manifest {manifest} is damaged; delete it or run the sweep "
                              "again") from None
    return groups or {"all runs": None}


def add_runs_section(report: HtmlReport, title: str, runs: list[RunRecord]) -> None:
    """One section: shared config, per-run (or per-group) table, overlaid curves."""
    report.heading(title)
    if not runs:
        report.paragraph("No results yet.")
        return
    report.heading("Shared configuration", 3).mapping(
        shared_config([r.config.flat() for r in runs]))
    table = records_table(runs)
    groups = aggregate(table)
    if len(table) <= MAX_ROWS:
        shown = table.drop(columns=["error"]) if table["error"].isna().all() else table
        report.heading("Runs", 3).table(shown)
    else:
        report.paragraph(f"{len(table)} runs: the table below gives each group of seeds.")
    if len(groups) and (groups["n"].max() > 1 or len(table) > MAX_ROWS):
        report.heading("Best test accuracy over seeds (mean, std, 95% CI)", 3).table(groups)
    fits = {strip_seed(r.config.run_name): r.fit for r in runs if r.fit is not None}
    if fits:
        fig, _ = plot_exp_results(dict(list(fits.items())[:MAX_CURVES]))
        more = f" (first {MAX_CURVES})" if len(fits) > MAX_CURVES else ""
        fig.suptitle(f"{title}: learning curves{more}")
        report.figure(fig, alt=f"{title} learning curves")


def build_report(directory: str | Path, title: str | None = None) -> HtmlReport:
    """A report of every run under `directory`, one section per folder and sweep."""
    directory = Path(directory)
    records = load_records(directory)
    if not records:
        raise ConfigError(f"no results files in {directory} or its subfolders; run an "
                          "experiment or sweep first")
    by_folder: dict[Path, list[RunRecord]] = defaultdict(list)
    for record in records:
        by_folder[(record.source or record.path).parent].append(record)
    where = f"{directory}" if len(by_folder) == 1 else f"{directory} ({len(by_folder)} folders)"
    report = HtmlReport(title or f"scratchlab results: {directory}",
                        subtitle=f"{len(records)} runs in {where}")
    for folder in sorted(by_folder):
        by_name = {r.config.run_name: r for r in by_folder[folder]}
        prefix = "" if folder == directory else f"{folder.relative_to(directory)}: "
        for name, members in sweep_groups(folder).items():
            chosen = (list(by_name.values()) if members is None
                      else [by_name[m] for m in members if m in by_name])
            add_runs_section(report, prefix + name, chosen)
    return report
