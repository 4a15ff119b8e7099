"""Grid search over optimizer x learning rate x momentum, heatmaps, and a final retrain of the best.

Each combination trains in its own run folder ``OUT/runs/<optimizer>_lr<lr>_m<momentum>`` and is
done once its ``results.json`` exists: re-running the same grid skips finished combinations and
starts interrupted ones again. A combination that fails is recorded with its error (``error.json``
and the grid summary) and the grid goes on; it is tried again on the next run.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from scratchlab.detect.data_file import check_data
from scratchlab.detect.offline import check_model
from scratchlab.detect.results import RESULTS_FILE, DetectMetrics, load_results
from scratchlab.detect.yolo import OPTIMIZERS, TrainConfig, train
from scratchlab.errors import ConfigError
from scratchlab.util import atomic_write_bytes, atomic_write_json, atomic_write_text

METRICS = ("map50", "map50_95")


@dataclass
class GridConfig:
    """The grid: every optimizer x lr x momentum trains `epochs`; the best then `final_epochs`.

    Momentum is SGD's momentum and Adam/AdamW's beta1. `metric` picks the best combination.
    """

    optimizers: list[str] = field(default_factory=lambda: ["SGD", "Adam", "AdamW"])
    lrs: list[float] = field(default_factory=lambda: [0.01, 0.005, 0.001, 0.0005, 0.0001])
    momentums: list[float] = field(default_factory=lambda: [0.1, 0.5, 0.9])
    epochs: int = 5
    final_epochs: int = 100
    metric: str = "map50_95"
    out: str = "runs/grid"

    def validate(self) -> None:
        """Raise `ConfigError` for an empty grid or unknown names."""
        bad = [o for o in self.optimizers if o not in OPTIMIZERS]
        if bad or not (self.optimizers and self.lrs and self.momentums):
            raise ConfigError(
                f"grid needs optimizers from {', '.join(OPTIMIZERS)}, lrs and "
                f"momentums (bad: {bad})"
            )
        if self.metric not in METRICS:
            raise ConfigError(f"grid metric {self.metric!r} is not one of {', '.join(METRICS)}")
        if self.epochs < 1 or self.final_epochs < 0:
            raise ConfigError("grid epochs must be >= 1 and final epochs >= 0")


@dataclass
class GridEntry:
    """One combination: its settings, status (done/skipped/failed) and metrics or error."""

    optimizer: str
    lr: float
    momentum: float
    name: str
    status: str
    metrics: DetectMetrics | None = None
    error: str | None = None

    def value(self, metric: str) -> float:
        """The metric, NaN when the combination failed."""
        return getattr(self.metrics, metric) if self.metrics is not None else math.nan


@dataclass
class GridResult:
    """Every combination, the best one, its final retrain and the files written."""

    entries: list[GridEntry]
    best: GridEntry | None
    final: GridEntry | None
    heatmaps: list[Path]
    summary: Path


def combination_name(optimizer: str, lr: float, momentum: float) -> str:
    """Run folder name of one combination, e.g. ``SGD_lr0.01_m0.9``."""
    return f"{optimizer}_lr{lr:g}_m{momentum:g}"


def _run_one(base: TrainConfig, runs: Path, name: str, **changes: Any) -> GridEntry:
    """Train one combination unless its results JSON exists; record a failure instead of raising."""
    opt, lr, mom = changes["optimizer"], changes["lr"], changes["momentum"]
    results_json = runs / name / RESULTS_FILE
    if results_json.is_file():
        return GridEntry(opt, lr, mom, name, "skipped", load_results(results_json)[1])
    (runs / name / "error.json").unlink(missing_ok=True)
    try:
        result = train(replace(base, out=str(runs), name=name, **changes))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        atomic_write_json(
            runs / name / "error.json", {"error": error, "traceback": traceback.format_exc()}
        )
        return GridEntry(opt, lr, mom, name, "failed", error=error)
    return GridEntry(opt, lr, mom, name, "done", result.metrics)


def run_grid(grid: GridConfig, base: TrainConfig, log: Any = print) -> GridResult:
    """Run (or resume) the grid, draw heatmaps, retrain the best combination; see module doc."""
    grid.validate()
    combos = [(o, lr, m) for o in grid.optimizers for lr in grid.lrs for m in grid.momentums]
    for opt, lr, mom in combos:  # every combination's settings, before the first one trains
        replace(base, optimizer=opt, lr=lr, momentum=mom, epochs=grid.epochs).validate()
    base.validate()
    check_data(base.data)
    check_model(base.model)
    out = Path(grid.out)
    runs = out / "runs"
    entries = []
    for i, (opt, lr, mom) in enumerate(combos, 1):
        name = combination_name(opt, lr, mom)
        entry = _run_one(base, runs, name, optimizer=opt, lr=lr, momentum=mom, epochs=grid.epochs)
        log(
            f"[{i}/{len(combos)}] {name}: {entry.status} "
            "" + (entry.metrics.summary() if entry.metrics else entry.error or "")
        )
        entries.append(entry)
    heatmaps = [
        plot_heatmap(entries, opt, metric, grid, out / "heatmaps")
        for opt in grid.optimizers
        for metric in METRICS
    ]
    ok = [e for e in entries if e.metrics is not None]
    best = max(ok, key=lambda e: e.value(grid.metric)) if ok else None
    final = None
    if best is not None and grid.final_epochs > 0:
        final = _run_one(
            base,
            runs,
            f"final_{best.name}",
            optimizer=best.optimizer,
            lr=best.lr,
            momentum=best.momentum,
            epochs=grid.final_epochs,
        )
        log(
            f"final {final.name}: {final.status} "
            "" + (final.metrics.summary() if final.metrics else final.error or "")
        )
    summary = _write_summary(out, grid, base, entries, best, final)
    return GridResult(entries, best, final, heatmaps, summary)


def _entry_dict(entry: GridEntry | None) -> dict[str, Any] | None:
    return None if entry is None else asdict(entry)


def _write_summary(
    out: Path,
    grid: GridConfig,
    base: TrainConfig,
    entries: list[GridEntry],
    best: GridEntry | None,
    final: GridEntry | None,
) -> Path:
    doc = {
        "grid": asdict(grid),
        "base": asdict(base),
        "entries": [_entry_dict(e) for e in entries],
        "best": _entry_dict(best),
        "final": _entry_dict(final),
    }
    header = ["optimizer", "lr", "momentum", "status", *METRICS, "precision", "recall", "error"]
    rows = [",".join(header)]
    for e in entries:
        m = e.metrics
        vals = [
            e.optimizer,
            f"{e.lr:g}",
            f"{e.momentum:g}",
            e.status,
            *(f"{e.value(k):.6f}" for k in METRICS),
            f"{m.precision:.6f}" if m else "",
            f"{m.recall:.6f}" if m else "",
            (e.error or "").replace(",", ";"),
        ]
        rows.append(",".join(vals))
    atomic_write_text(out / "grid.csv", "\n".join(rows) + "\n")
    return atomic_write_json(out / "grid.json", doc)


def heatmap_matrix(
    entries: Sequence[GridEntry],
    optimizer: str,
    metric: str,
    lrs: Sequence[float],
    momentums: Sequence[float],
) -> list[list[float]]:
    """Rows = learning rates, columns = momentums; NaN where a combination failed or is missing."""
    by_key = {(e.lr, e.momentum): e.value(metric) for e in entries if e.optimizer == optimizer}
    return [[by_key.get((lr, m), math.nan) for m in momentums] for lr in lrs]


def plot_heatmap(
    entries: Sequence[GridEntry], optimizer: str, metric: str, grid: GridConfig, folder: Path
) -> Path:
    """Save an annotated learning-rate x momentum heatmap of `metric` for `optimizer`."""
    import numpy as np
    from matplotlib.figure import Figure

    from scratchlab.viz import figure_to_png

    values = np.array(
        heatmap_matrix(entries, optimizer, metric, grid.lrs, grid.momentums), dtype=float
    )
    fig = Figure(figsize=(1.4 * len(grid.momentums) + 2.2, 0.6 * len(grid.lrs) + 1.8))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=metric)
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (r, c), v in np.ndenumerate(values):
        text, colour = (
            ("failed", "black")
            if math.isnan(v)
            else (f"{v:.3f}", "black" if v > middle else "white")
        )
        ax.text(c, r, text, ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(len(grid.momentums)), [f"{m:g}" for m in grid.momentums])
    ax.set_yticks(range(len(grid.lrs)), [f"{lr:g}" for lr in grid.lrs])
    ax.set_xlabel("momentum" if optimizer == "SGD" else "momentum (beta1)")
    ax.set_ylabel("learning rate")
    ax.set_title(f"{optimizer}: {metric} after {grid.epochs} epoch(s)")
    fig.tight_layout()
    return atomic_write_bytes(folder / f"{optimizer}_{metric}.png", figure_to_png(fig))
