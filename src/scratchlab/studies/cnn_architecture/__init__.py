"""Study `cnn-architecture`: depth, width and residual connections on CIFAR-10 (exp1_1 ... exp2).

    from scratchlab.studies import cnn_architecture
    result = cnn_architecture.run(quick=True)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from scratchlab.data import get_dataset
from scratchlab.errors import ScratchlabError
from scratchlab.experiments import ExperimentConfig, RunRecord
from scratchlab.studies.base import Study, StudyResult
from scratchlab.util import atomic_write_json, resolve_device
from scratchlab.util.json_files import read_json
from scratchlab.viz import HtmlReport

from .analysis import findings, results_table, summarize
from .report import build_report, figures, pooling_text
from .search import SEARCH_FILE, chosen_hyperparameters, execute, run_search
from .spec import StudySpec, data_overrides, load_spec, study_configs

NAME = "cnn-architecture"
DESCRIPTION = ("CNN, ResNet and YourCNN on CIFAR-10: depth, width, residual connections "
               "(exp1_1 ... exp2)")
CUDA_JOBS = 4  # runs sharing one GPU at a time by default (bench/cnn_study_speed.py measures it)
EVAL_NOTE = ("the CIFAR-10 test split serves as the validation set; training images come from "
             "the train split")
PYTHON_ONLY = ("train_limit", "test_limit", "epochs")  # options without a command-line flag
QUICK_NOTE = ("Quick mode is a smoke test, not evidence: {epochs} on {images:,} training "
              "images for the first {runs} runs of each experiment show that every part runs; the "
              "accuracies and findings below say nothing about the architectures (the full study: "
              "scratchlab study cnn-architecture).")

__all__ = ["STUDY", "CnnArchitecture", "run"]


class CnnArchitecture(Study):
    """The study; its options are `option_names` (docs/studies/cnn-architecture.md)."""

    name, description = NAME, DESCRIPTION
    option_names = ("jobs", "search", "spec", "data_root", "experiments", "report_only",
                    *PYTHON_ONLY)

    def __init__(self, device: str = "auto", out_dir: str | Path | None = None,
                 verbose: bool = True, **options: Any) -> None:
        super().__init__(device, out_dir, **options)
        self.verbose = verbose
        self.dev = str(resolve_device(device)) if device == "auto" else device
        self.jobs = options.get("jobs") or (CUDA_JOBS if self.dev.startswith("cuda") else 1)
        self.spec = load_spec(options.get("spec"))

    def configs(self, quick: bool, seeds: list[int]) -> list[ExperimentConfig]:
        """The runs of the spec; with `search`, the grid is trained first and its winner used."""
        o, self.start = self.options, time.perf_counter()
        # with report_only: how the study ran, as its study.json says
        self.stored = read_study(self.out) if o.get("report_only") else {}
        self.quick = quick = self.stored.get("quick", quick)
        self.seeds = seeds = self.stored.get("seed_list", seeds)
        experiments = o.get("experiments") or self.stored.get("experiments")
        overrides = data_overrides(self.spec, quick, self.dev, o.get("data_root"),
                                   *(o.get(k) for k in PYTHON_ONLY))
        if not o.get("report_only"):
            self.say("reading CIFAR-10 (decoded once, then cached for every run)")
            warm_data_cache(self.spec, overrides)
            if o.get("search"):
                run_search(self.spec, self.out, self.dev, overrides, self.jobs, self.verbose)
        self.hyper, self.hyper_source = chosen_hyperparameters(self.spec, self.out)
        if "hyperparameters" in self.stored:
            self.hyper, self.hyper_source = (self.stored["hyperparameters"],
                                             self.stored.get("hyper_source", self.hyper_source))
        return study_configs(self.spec, self.runs_dir, self.dev, quick, seeds, self.hyper,
                             experiments, overrides)

    def say(self, text: str) -> None:
        """One line per phase (also without a terminal, where no progress bar is drawn)."""
        if self.verbose:
            print(f"{NAME}: {text}", flush=True)

    def train(self, configs: list[ExperimentConfig]) -> list[RunRecord]:
        """Every unfinished run, `jobs` at a time."""
        self.say(f"{len(configs)} runs on {self.dev}, {self.jobs} at a time -> {self.runs_dir}")
        return execute(configs, self.dev, self.jobs, print_record if self.verbose else None)

    def read_back(self, configs: list[ExperimentConfig],
                  check_config: bool = False) -> list[RunRecord]:
        """The stored records (`report_only`), as made on the device study.json names: their
        configs are not checked against these, planned for this machine."""
        self.say(f"reading {len(configs)} runs from {self.runs_dir} (nothing is trained)")
        return super().read_back(configs, check_config)

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        """Table, findings and figures from the records; writes study.json (the setup)."""
        wall = time.perf_counter() - self.start
        self.say("table, findings, figures and report")
        table, fits = results_table(records)
        setup = self.setup(table, records, wall)
        if self.options.get("report_only"):  # the stored setup wins; study.json stays as it is
            setup.update({k: v for k, v in self.stored.items() if k in setup})
        else:
            atomic_write_json(self.out / "study.json",
                              {k: v for k, v in setup.items() if k != "search"}
                              | {"runs": len(records), "quick": self.quick,
                                 "experiments": self.options.get("experiments"),
                                 "seed_list": self.seeds})
        notes = findings(table)
        if self.quick:
            epochs = f"{setup['epochs']} epoch{'s' if setup['epochs'] != 1 else ''}"
            notes.insert(0, QUICK_NOTE.format(epochs=epochs, images=setup["train_images"],
                                              runs=self.spec.quick.runs_per_experiment))
        ok = table[table["status"] == "ok"].dropna(subset=["best_test_acc"])
        headline = ok.loc[ok.groupby("model_type", sort=False)["best_test_acc"].idxmax(),
                          ["model_type", "run_name", "best_test_acc", "params"]]
        return StudyResult(NAME, table, summarize(table), figures(table, fits), notes,
                           self.out, headline=headline, settings=setup)

    def report(self, result: StudyResult) -> HtmlReport:
        return build_report(result.table, result.findings, result.figures, result.settings)

    def setup(self, table: pd.DataFrame, records: list[RunRecord], wall: float) -> dict[str, Any]:
        """How the study ran: data, budget, device, command, hyper-parameters, pooling, search."""
        first = records[0].config
        env = next((r.env for r in records if r.ok), {})  # as the first finished run recorded it
        search = self.out / SEARCH_FILE  # there when a search ran in this folder
        return {
            "train_images": first.data.train_limit or 50000,
            "eval_images": first.data.test_limit or 10000, "eval_note": EVAL_NOTE,
            "epochs": first.budget.epochs, "patience": first.budget.early_stopping,
            "seeds": table["seed"].nunique(), "device": self.dev,
            "device_name": env.get("device_name"), "torch": env.get("torch"),
            "command": self.command(), "jobs": self.jobs, "wall_seconds": wall,
            "hyperparameters": self.hyper, "hyper_source": self.hyper_source,
            "pooling": pooling_text({e: groups for e, groups in self.spec.experiments.items()
                                     if e in set(table["experiment"])}),
            "search": pd.read_csv(search) if search.exists() else None,
        }

    def command(self) -> str:
        """The `scratchlab study` command line that runs the study with these options."""
        o, default_out = self.options, Path("results") / "studies" / NAME
        seeds = len(self.seeds)  # named when it differs from the mode's default
        default = self.quick_seeds if self.quick else self.full_seeds
        flags = {"--quick": self.quick, "--seeds": seeds != default and seeds,
                 "--device": self.device, "--out": self.out != default_out and self.out,
                 "--jobs": self.jobs, "--search": o.get("search"),
                 "--spec": isinstance(o.get("spec"), str | Path) and o["spec"],
                 "--data-root": o.get("data_root"),
                 "--experiments": " ".join(o.get("experiments") or [])}
        parts = [f"scratchlab study {NAME}"] + [
            flag if value is True else f"{flag} {value}" for flag, value in flags.items()
            if value not in (None, False, "")]
        python = [f"{k}={o[k]}" for k in PYTHON_ONLY if o.get(k) is not None]
        return " ".join(parts) + (f" (from Python: {', '.join(python)})" if python else "")


def read_study(out: Path) -> dict[str, Any]:
    """The study.json of a finished study in `out` (a ScratchlabError when there is none)."""
    path = out / "study.json"
    if not path.exists():
        raise ScratchlabError(f"--report-only needs a finished study in {out}: no study.json "
                              "there")
    stored = read_json(path, "study file")
    if not isinstance(stored, dict):
        raise ScratchlabError(f"study file {path} is not a mapping; run the study again")
    kinds = {"quick": lambda v: isinstance(v, bool),
             "seed_list": lambda v: isinstance(v, list) and all(
                 isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v),
             "experiments": lambda v: v is None or (
                 isinstance(v, list) and all(isinstance(e, str) for e in v)),
             "hyperparameters": lambda v: isinstance(v, dict)}
    bad = [k for k, fits in kinds.items() if k in stored and not fits(stored[k])]
    if bad:
        raise ScratchlabError(f"study file {path} is damaged ({', '.join(bad)} of the wrong "
                              "kind); run the study again")
    return stored


def warm_data_cache(spec: StudySpec, overrides: dict[str, Any]) -> None:
    """Decode CIFAR-10 once here, so runs (and worker processes) read the decoded cache."""
    if spec.base.get("dataset", "cifar10") != "cifar10":
        return
    root = overrides.get("data_root", spec.base.get("data_root"))
    for split in {spec.base.get("train_split", "train"), spec.base.get("test_split", "test")}:
        get_dataset("cifar10", split, root=root, dtype="uint8")


def print_record(record: RunRecord) -> None:
    """One line per finished run: status, name, best accuracy and training time."""
    status = "cached" if record.cached else record.status
    detail = (f"best {record.summary.get('best_test_acc', float('nan')):.1f}% in "
              f"{record.timings.train_seconds or 0:.1f} s" if record.ok else record.error or "")
    print(f"  {status:6s} {record.config.run_name} {detail}", flush=True)


STUDY = CnnArchitecture
run = CnnArchitecture.run  # run(quick, seeds, device, out_dir, **options)
