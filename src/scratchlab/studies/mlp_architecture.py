"""Study `mlp-architecture`: depth x width of torch MLP binary classifiers on `populations`.

    from scratchlab.studies import mlp_architecture
    result = mlp_architecture.run(quick=True)
"""

from __future__ import annotations

import inspect
import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from scratchlab.classifiers import BinaryClassifier, confusion_matrix, select_roc_thresh
from scratchlab.data.populations import load_populations, populations_arrays, rotate_2d
from scratchlab.experiments import ExperimentConfig, RunRecord, load_model
from scratchlab.studies._mlp_figures import make_figures
from scratchlab.studies.base import Study, StudyResult
from scratchlab.studies.common import split_tensors
from scratchlab.util.stats import compare, mean_std

NAME = "mlp-architecture"
DESCRIPTION = ("torch MLP depth x width on populations: decision boundaries, ROC thresholds, "
               "equal-size pairs")
GOALS = {"min": 80.0, "p75": 90.0}  # ours; the classic assignment asks for 75 and 85
CLASSIC = {"min": 75.0, "p75": 85.0}
PAIRS = [((1, 32), (4, 8)), ((1, 128), (4, 32))]  # equal numbers of hidden units
METRICS = ["train_acc", "valid_acc", "test_acc", "test_acc_thresh", "thresh", "fpr", "fnr"]


@dataclass(frozen=True)
class Settings:
    """The grid and the training budget of every MLP."""

    depths: tuple[int, ...] = (1, 2, 4)
    widths: tuple[int, ...] = (2, 8, 32, 128)
    epochs: int = 40
    batch_size: int = 128
    lr: float = 0.01
    activation: str = "tanh"

    @classmethod
    def quick(cls) -> Settings:
        return cls(epochs=6, batch_size=256)


def configs(settings: Settings, seeds: list[int], device: str,
            runs_dir: Path) -> list[ExperimentConfig]:
    """One config per (depth, width, seed): train on train, evaluate each epoch on valid."""
    return [
        ExperimentConfig.create(
            run_name=f"mlp_d{d}_w{w}_s{seed}", out_dir=runs_dir, seed=seed, device=device,
            dataset="populations", test_split="valid", model_type="mlp", hidden_dims=[w] * d,
            activation=settings.activation, bs_train=settings.batch_size, bs_test=2048,
            batches=None, epochs=settings.epochs, early_stopping=None, optimizer="adam",
            lr=settings.lr, reg=0.0,
            checkpoints=True,  # keeps the epoch of best validation accuracy
        )
        for d, w, seed in itertools.product(settings.depths, settings.widths, seeds)
    ]


class Trained(NamedTuple):
    """A run's record and its model at the epoch of best validation accuracy."""

    record: RunRecord
    model: Any

    @property
    def config(self) -> ExperimentConfig:
        return self.record.config


def select_best(records: list[RunRecord]) -> list[Trained]:
    """Each run with its model of the epoch of best validation accuracy."""
    return [Trained(r, load_model(r, "best")) for r in records]


def _acc(classifier: BinaryClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return 100.0 * float((classifier.classify(x) == y).float().mean())


def evaluate(run: Trained) -> dict:
    """Accuracies per split, the valid-selected threshold and the test FPR/FNR at it."""
    split = {name: split_tensors(run.config, name) for name in ("train", "valid", "test")}
    classifier = BinaryClassifier(run.model).eval()
    row = {name: _acc(classifier, *split[name]) for name in split}
    classifier.threshold = select_roc_thresh(classifier, *split["valid"])
    x, y = split["test"]
    with torch.no_grad():
        cm = confusion_matrix(y, classifier.classify(x), num_classes=2)
    return {
        "train_acc": row["train"], "valid_acc": row["valid"], "test_acc": row["test"],
        "thresh": classifier.threshold, "test_acc_thresh": 100.0 * cm.accuracy, "fpr": cm.fpr,
        "fnr": cm.fnr,
    }


def moons_bayes_accuracy(x: np.ndarray, y: np.ndarray, noise: float, degrees: float,
                         arc_points: int = 2000) -> float:
    """Accuracy (percent) on (x, y) of the Bayes rule for two-moons data rotated by `degrees`:
    a class density is a mean of Gaussians along its arc; the denser class wins (equal priors)."""
    t = np.linspace(0, np.pi, arc_points)
    arcs = [np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)]
    density = [
        np.exp(-((x[:, None, :] - rotate_2d(arc, degrees)[None]) ** 2).sum(-1)
               / (2 * noise**2)).mean(1)
        for arc in arcs
    ]
    return 100.0 * float(((density[1] > density[0]).astype(int) == y).mean())


def bayes_test_accuracy() -> float:
    """Test accuracy (percent) of the Bayes rule of the test population."""
    defaults = {k: p.default for k, p in inspect.signature(load_populations).parameters.items()}
    x, y = populations_arrays()["test"]
    return moons_bayes_accuracy(x, y, defaults["test_noise"], defaults["test_angle"])


def cell_means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (depth, width)."""
    return table.groupby(["depth", "width"])[["params", "test_acc", "test_acc_thresh",
                                              "thresh"]].mean()


def _goal_text(values: pd.Series, label: str) -> str:
    low, p75 = values.min(), values.quantile(0.75)
    verdict = [f"{k} {'met' if v >= GOALS[k] else 'missed'}" for k,
               v in (("min", low), ("p75", p75))]
    classic = [f"{k} {'met' if v >= CLASSIC[k] else 'missed'}" for k,
               v in (("min", low), ("p75", p75))]
    return (f"{label}: min test accuracy {low:.1f}%, 75th percentile {p75:.1f}% over the "
            f"{len(values)} cells "
            f"(goals {GOALS['min']:.0f}/{GOALS['p75']:.0f}: {', '.join(verdict)}; classic "
            f"{CLASSIC['min']:.0f}/{CLASSIC['p75']:.0f}: {', '.join(classic)}).")


def _pair_text(table: pd.DataFrame, cells: pd.DataFrame, a: tuple[int, int],
               b: tuple[int, int]) -> str:
    """The comparison of two cells with the same number of hidden units (95% intervals over
    seeds; "inconclusive" when they overlap)."""
    acc = [table[(table.depth == d) & (table.width == w)].test_acc_thresh for d, w in (a, b)]
    c = compare(acc[0], acc[1])
    verdict = c.verdict("the wider net is ahead", "the deeper net is ahead")
    sizes = [f"depth {d} x width {w} ({int(cells.loc[(d, w), 'params'])} parameters)"
             for d, w in (a, b)]
    return (f"Same {a[0] * a[1]} hidden units: {sizes[0]} vs {sizes[1]}: {c}, deeper minus "
            f"wider {-c.difference:+.1f} points: {verdict}.")


def findings(table: pd.DataFrame, bayes: float) -> list[str]:
    """Conclusions computed from the table and the Bayes accuracy."""
    cells = cell_means(table)
    out = [_goal_text(cells.test_acc, "Threshold 0.5"),
           _goal_text(cells.test_acc_thresh, "Valid-selected thresholds")]
    out.append(f"The Bayes rule of the test population scores {bayes:.1f}% on the test set: no "
               "classifier can do better on average.")
    best, worst = cells.test_acc_thresh.idxmax(), cells.test_acc_thresh.idxmin()
    out.append(f"Best cell: depth {best[0]}, width {best[1]} ({cells.test_acc_thresh[best]:.1f}%); "
               f"worst: depth {worst[0]}, width {worst[1]} ({cells.test_acc_thresh[worst]:.1f}%).")
    gains = cells.test_acc_thresh - cells.test_acc
    out.append(f"Selected thresholds lie in [{cells.thresh.min():.2f}, {cells.thresh.max():.2f}] "
               "and change test "
               f"accuracy by {gains.mean():+.1f} points on average (better in "
               f"{int((gains > 0).sum())} of {len(gains)} cells).")
    for a, b in PAIRS:
        if a in cells.index and b in cells.index:
            out.append(_pair_text(table, cells, a, b))
    first = table[(table.depth == table.depth.iloc[0]) & (table.width == table.width.iloc[0])]
    out.append(f"First classifier (depth {first.depth.iloc[0]}, width {first.width.iloc[0]}): at "
               "its selected threshold "
               f"FPR {100 * first.fpr.mean():.1f}%, FNR {100 * first.fnr.mean():.1f}% on the test "
               "set.")
    return out


def rows(runs: list[Trained]) -> list[dict]:
    """One table row per run: its cell, size and every evaluation."""
    out = []
    for run in runs:
        c = run.config
        hidden = c.model.hidden_dims
        out.append({
            "study": NAME, "experiment": "depth_width", "run_name": c.run_name,
            "depth": len(hidden), "width": hidden[0], "seed": c.seed,
            "params": run.record.summary["params"], "hidden_units": sum(hidden),
            "best_epoch": run.record.fit.epochs_to_best, **evaluate(run),
        })
    return out


class MlpArchitecture(Study):
    """The study (see the module docstring); `settings`: the grid and budget."""

    name, description = NAME, DESCRIPTION
    settings_class, threads = Settings, 1
    full_seeds, quick_seeds = 5, 1

    def configs(self, quick: bool, seeds: list[int]) -> list[ExperimentConfig]:
        self.settings = self.settings_for(quick)
        return configs(self.settings, seeds, self.device, self.runs_dir)

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        with self.cpu_threads():
            runs = select_best(records)
            table = pd.DataFrame(rows(runs))
        found = findings(table, bayes_test_accuracy())
        return StudyResult(
            NAME, table, mean_std(table, ["depth", "width"], METRICS),
            make_figures(table, runs, self.settings, PAIRS), found,
            settings=asdict(self.settings), notes=[
                "Accuracies in percent; train on train, epoch and threshold selected on valid, "
                "everything scored on test. Summary rows are (depth, width) cells; min and 75th "
                "percentile are taken over the cells' means."])


STUDY = MlpArchitecture
run = MlpArchitecture.run  # run(quick, seeds, device, out_dir, **options)
