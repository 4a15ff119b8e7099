"""The study's small hyper-parameter search and the record of which settings the study used.

Every grid point (optimizer, lr, weight decay, batch size) trains the probe runs (one seed, the
study's data and epoch budget); the point with the best mean best accuracy over the probes wins.
`<out>/search.csv` keeps the whole grid and `<out>/hyperparameters.json` the winner, which later
runs of the study in the same folder use.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from scratchlab.experiments import run_configs
from scratchlab.experiments.runner import read_result, result_path
from scratchlab.studies.cnn_architecture_report import search_table
from scratchlab.studies.cnn_architecture_spec import StudySpec, executor_for, find_runs, run_config
from scratchlab.util import atomic_write_json, atomic_write_text

HYPER_FILE = "hyperparameters.json"
SEARCH_FILE = "search.csv"
NOT_SEARCHED = "defaults, not searched; run the study with --search to choose them"


def run_search(spec: StudySpec, out: Path, device: str, overrides: dict[str, Any], jobs: int = 1,
               verbose: bool = True) -> pd.DataFrame:
    """Train every grid point on the probes; write search.csv and the winner to hyperparameters.json."""
    probes = find_runs(spec, spec.search.probes)
    planned = []
    for i, point in enumerate(spec.search.points):
        hyper = {**spec.hyperparameters, **point}
        for probe in probes:
            planned.append((i, probe.name, run_config(probe, spec, hyper, 0, out / "search", device, overrides, f"_h{i}")))
    if verbose:
        print(f"search: {len(spec.search.points)} points x {len(probes)} probes", flush=True)
    run_configs([c for _, _, c in planned], executor=executor_for(device), jobs=jobs)
    rows = []
    for i, point in enumerate(spec.search.points):
        row: dict[str, Any] = {"point": i, **point}
        accs = {name: _best_acc(config) for j, name, config in planned if j == i}
        row.update(accs)
        row["mean_best_test_acc"] = sum(accs.values()) / len(accs)  # NaN when a probe failed
        rows.append(row)
    frame = search_table(rows)
    atomic_write_text(out / SEARCH_FILE, frame.to_csv(index=False))
    best = frame.iloc[0]
    chosen = {**spec.hyperparameters, **spec.search.points[int(best["point"])]}
    atomic_write_json(out / HYPER_FILE, {"source": "search", "hyperparameters": chosen,
                                         "mean_best_test_acc": best["mean_best_test_acc"],
                                         "probes": spec.search.probes})
    if verbose:
        print(f"search: chose {spec.search.points[int(best['point'])]} ({best['mean_best_test_acc']:.1f}% mean)", flush=True)
    return frame


def _best_acc(config) -> float:
    path = result_path(config)
    if not path.exists():
        return math.nan
    value = (read_result(path).get("summary") or {}).get("best_test_acc")
    return math.nan if value is None else float(value)


def chosen_hyperparameters(spec: StudySpec, out: Path) -> tuple[dict[str, Any], str]:
    """The hyper-parameters the study uses in `out` and where they come from (search or defaults)."""
    path = out / HYPER_FILE
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("source") == "search":
            accuracy = data.get("mean_best_test_acc", math.nan)
            return ({**spec.hyperparameters, **data["hyperparameters"]},
                    f"chosen by the search: best mean accuracy {accuracy:.1f}% over probes {', '.join(data.get('probes', []))}")
    return dict(spec.hyperparameters), NOT_SEARCHED


def search_frame(out: Path) -> pd.DataFrame | None:
    """The search table of `out`, when a search ran there."""
    path = out / SEARCH_FILE
    return pd.read_csv(path) if path.exists() else None
