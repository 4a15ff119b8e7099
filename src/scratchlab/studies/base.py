"""The `Study` protocol (configs plus an analysis of their records), `StudyResult`, `run_study`.

`run_study` writes `results/studies/<name>`: table.csv, summary.csv, figures/, report.html, runs/.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from matplotlib.figure import Figure

from scratchlab.errors import ConfigError
from scratchlab.experiments import (
    ExperimentConfig,
    RunRecord,
    load_record,
    result_path,
    run_configs,
    same_run,
)
from scratchlab.util import (
    Laps,
    atomic_write_bytes,
    atomic_write_text,
    import_in_background,
    progress,
    resolve_device,
    torch_threads,
)
from scratchlab.util.progress_bars import progress_enabled
from scratchlab.viz import HtmlReport
from scratchlab.viz.render import draw_pngs, start_workers


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
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Wall seconds of each phase of `run_study`: plan, train (or read back), analyse, report,
    # save; the command prints them after the study's time.
    seconds: dict[str, float] = field(default_factory=dict)

    def report_html(self) -> str:
        """The study's section of an HTML report (a fragment; `save` writes the full page)."""
        return self.report.body() if self.report is not None else ""

    def save(self, out_dir: str | Path | None = None) -> Path:
        """Write table.csv, summary.csv, figures/*.png and report.html into the output folder."""
        out = Path(out_dir or self.out_dir or Path("results") / "studies" / self.name)
        try:
            (out / "figures").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot write the study's output to {out} ({exc.strerror}); "
                              "choose another --out") from None
        atomic_write_text(out / "table.csv", self.table.to_csv(index=False))
        atomic_write_text(out / "summary.csv", self.summary.to_csv(index=False))
        drawn = self.report.png_of if self.report is not None else {}
        undrawn = [fig for fig in self.figures.values() if id(fig) not in drawn]
        drawn = {**drawn, **dict(zip(map(id, undrawn), draw_pngs(undrawn), strict=True))}
        for name, fig in self.figures.items():
            atomic_write_bytes(out / "figures" / f"{name}.png", drawn[id(fig)])
        if self.report is not None:
            self.report.save(out / "report.html")
        self.out_dir = out
        return out


class Study:
    """A packaged study; `settings`: a `settings_class` instance, `options`: from `option_names`."""

    name: ClassVar[str]
    description: ClassVar[str]
    full_seeds: ClassVar[int] = 5
    quick_seeds: ClassVar[int] = 1
    option_names: ClassVar[tuple[str, ...]] = ()
    settings_class: ClassVar[Any] = None
    threads: ClassVar[int | None] = None  # torch threads on a CPU (small models: 1 is fastest)
    # modules `analyze` needs, imported in the background while the runs train (slow imports)
    preload: ClassVar[tuple[str, ...]] = ()

    def __init__(self, device: str = "auto", out_dir: str | Path | None = None,
                 settings: Any = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise ConfigError(f"study {self.name!r} does not take {flags}")
        jobs = options.get("jobs")
        if jobs is not None and (type(jobs) is not int or jobs < 1):  # bool is not a count
            raise ConfigError(f"jobs must be a whole number of at least 1, got {jobs!r}")
        self.device = device
        self.out = Path(out_dir) if out_dir is not None else Path("results") / "studies" / self.name
        self.options = options
        self.given = settings
        self.quick = False
        self.seeds: list[int] = []

    @classmethod
    def run(cls, quick: bool = False, seeds: int | None = None, device: str = "auto",
            out_dir: str | Path | None = None, **options: Any) -> StudyResult:
        """Run the study (`run_study`): train, analyse, write the output folder."""
        return run_study(cls(device, out_dir, **options), quick, seeds)

    @property
    def runs_dir(self) -> Path:
        return self.out / "runs"

    def settings_for(self, quick: bool) -> Any:
        """The settings given, else `settings_class.quick()` in quick mode or its defaults; the
        option `data_root`, where a study takes it, replaces theirs."""
        settings = self.given or (self.settings_class.quick() if quick else self.settings_class())
        if "data_root" in self.options:
            settings = replace(settings, data_root=str(self.options["data_root"]))
        return settings

    def cpu_threads(self) -> contextlib.AbstractContextManager[None]:
        """The study's torch threads (`threads`) while it trains or measures on a CPU."""
        cpu = resolve_device(self.device).type == "cpu"
        return torch_threads(self.threads if cpu else None)

    def configs(self, quick: bool, seeds: list[int]) -> list[ExperimentConfig]:
        """The runs of the study (each once); a measuring study has none."""
        return []

    def train(self, configs: list[ExperimentConfig]) -> list[RunRecord]:
        """Train the configs (finished ones are read back); one record each, in order."""
        with self.cpu_threads(), progress(total=len(configs), desc=f"{self.name} runs") as bar:
            return run_configs(configs, on_record=lambda _: bar.update(1), restart_changed=True)

    def read_back(self, configs: list[ExperimentConfig],
                  check_config: bool = True) -> list[RunRecord]:
        """The stored records of `configs`, nothing trained (option `report_only`). A run without
        a results file, or (`check_config`) with one another config made (e.g. another mode), is
        a failed record; a folder with none that fits is a ConfigError."""
        records = []
        for config in configs:
            path = result_path(config)
            record = load_record(path) if path.exists() else None
            if record is None:
                record = RunRecord(config=config, status="failed", error="no results file")
            elif check_config and not same_run(record.config, config):
                record = RunRecord(config=config, status="failed",
                                   error="its results file was made with another config")
            records.append(record)
        if not any(r.ok for r in records):
            raise ConfigError(f"--report-only: no finished run of this study in {self.runs_dir} "
                              "fits; run the study there first, or give the --quick, --seeds and "
                              "other options it ran with")
        return records

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        """Table, summary, figures and findings from the records of `configs`."""
        raise NotImplementedError

    def report(self, result: StudyResult) -> HtmlReport:
        """The study's report section: description, findings, summary, figures, settings."""
        report = HtmlReport(f"Study: {self.name}", subtitle=self.description)
        report.heading("Findings").bullets(result.findings)
        if not result.summary.empty:
            report.heading("Summary (mean, std, n and 95% CI over seeds)").table(result.summary)
        for name, fig in result.figures.items():
            report.heading(name.replace("_", " "), level=3).figure(fig, alt=name, close=False)
        report.heading("Settings", level=3).mapping(result.settings)
        for note in result.notes:
            report.paragraph(note)
        return report


def seed_list(seeds: int | None, quick: bool, full_default: int, quick_default: int,
              base: int = 0) -> list[int]:
    """The seeds of a study run: `seeds` of them, or its default for quick/full mode."""
    n = seeds if seeds is not None else (quick_default if quick else full_default)
    if not 1 <= n <= 1000:
        raise ConfigError(f"--seeds must be between 1 and 1000, got {n}")
    return [base + i for i in range(n)]


def run_study(study: Study, quick: bool = False, seeds: int | None = None,
              save: bool = True) -> StudyResult:
    """Configs -> `run_configs` -> `analyze` -> report section; writes the output folder. The
    result's `seconds` says how long each phase took."""
    laps = Laps()
    study.quick = quick
    study.seeds = seed_list(seeds, quick, study.full_seeds, study.quick_seeds)
    configs = study.configs(quick, study.seeds)
    laps.mark("plan")
    phase(f"study {study.name}: {len(configs)} runs to train or read back, "
          f"{len(study.seeds)} seed(s)" if configs else f"study {study.name}: measuring")
    read_only = study.options.get("report_only")
    if configs:  # while the runs train: the figures' drawing processes start, imports load
        start_workers()
        import_in_background(*study.preload)
    records = (study.read_back(configs) if read_only else study.train(configs)) if configs else []
    laps.mark("read back" if read_only else "train")
    phase(f"study {study.name}: analysing")
    result = study.analyze(records)
    laps.mark("analyse")
    result.out_dir = result.out_dir or study.out
    if result.report is None:
        result.report = study.report(result)
    result.report.draw_figures()
    laps.mark("report")
    if save:
        phase(f"study {study.name}: writing {result.out_dir}")
        result.save()
        laps.mark("save")
    result.seconds = {name.removesuffix("_seconds"): sec for name, sec in laps.seconds.items()}
    return result


def phase(line: str) -> None:
    """Say what the study does now, where no progress bar shows it (output not a terminal)."""
    if not progress_enabled() and not os.environ.get("SCRATCHLAB_QUIET"):
        print(line, flush=True)
