"""The study's runs and hyper-parameter search: `<out>/search.csv` keeps the grid and
`<out>/hyperparameters.json` the winner, which later runs in the same folder use."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from scratchlab.experiments import ExperimentConfig, RunRecord, build_run_model, run_configs
from scratchlab.util import atomic_write_json, atomic_write_text

from .spec import StudySpec, find_runs, run_config

HYPER_FILE = "hyperparameters.json"
SEARCH_FILE = "search.csv"
NOT_SEARCHED = "defaults, not searched; run the study with --search to choose them"


def execute(configs: list[ExperimentConfig], device: str, jobs: int,
            on_record: Callable[[RunRecord], None] | None = None) -> list[RunRecord]:
    """Train every unfinished config (finished ones are read back); records in config order."""
    order = sorted(configs, key=cost, reverse=True) if jobs > 1 else configs  # balances workers
    executor = "threads" if device.startswith("cuda") else "local"
    records = run_configs(order, executor=executor, jobs=jobs, on_record=on_record)
    by_name = {r.config.run_name: r for r in records}
    return [by_name[c.run_name] for c in configs]


def cost(config: ExperimentConfig) -> float:
    """Relative training cost of a config: multiply-adds per image times images."""
    import torch

    from scratchlab.models import summary

    with torch.device("meta"):  # shapes only: no weights, no arithmetic
        flops = summary(build_run_model(config, (3, 32, 32), 10), (3, 32, 32)).flops
    return flops * (config.data.train_limit or 50000) * config.budget.epochs


def run_search(spec: StudySpec, out: Path, device: str, overrides: dict[str, Any], jobs: int = 1,
               verbose: bool = True) -> pd.DataFrame:
    """Train every grid point on the probes; write search.csv and hyperparameters.json."""
    probes, points = find_runs(spec, spec.search.probes), spec.search.points
    configs = [run_config(probe, spec, {**spec.hyperparameters, **point}, 0, out / "search",
                          device, overrides, f"_h{i}")
               for i, point in enumerate(points) for probe in probes]
    if verbose:
        print(f"search: {len(points)} points x {len(probes)} probes", flush=True)
    accs = iter([best_acc(r) for r in execute(configs, device, jobs)])  # by point, then probe
    rows = []
    for i, point in enumerate(points):
        mine = {probe.name: next(accs) for probe in probes}
        rows.append({"point": i, **point, **mine,
                     "mean_best_test_acc": sum(mine.values()) / len(mine)})  # NaN: a probe failed
    frame = pd.DataFrame(rows).sort_values("mean_best_test_acc", ascending=False,
                                           na_position="last", kind="stable")
    frame["chosen"] = ["yes"] + [""] * (len(frame) - 1)
    atomic_write_text(out / SEARCH_FILE, frame.to_csv(index=False))
    best = frame.iloc[0]
    winner = points[int(best["point"])]
    atomic_write_json(out / HYPER_FILE, {"source": "search",
                                         "hyperparameters": {**spec.hyperparameters, **winner},
                                         "mean_best_test_acc": best["mean_best_test_acc"],
                                         "probes": spec.search.probes})
    if verbose:
        print(f"search: chose {winner} ({best['mean_best_test_acc']:.1f}% mean)", flush=True)
    return frame


def best_acc(record: RunRecord) -> float:
    value = record.summary.get("best_test_acc") if record.ok else None
    return math.nan if value is None else float(value)


def chosen_hyperparameters(spec: StudySpec, out: Path) -> tuple[dict[str, Any], str]:
    """The hyper-parameters the study uses in `out` and their source (search or defaults)."""
    path = out / HYPER_FILE
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("source") == "search":
            accuracy = data.get("mean_best_test_acc", math.nan)
            return ({**spec.hyperparameters, **data["hyperparameters"]},
                    f"chosen by the search: best mean accuracy {accuracy:.1f}% over probes "
                    f"{', '.join(data.get('probes', []))}")
    return dict(spec.hyperparameters), NOT_SEARCHED
