"""The inductive-bias runs: budgets per mode, one `PlannedRun` per table row (SGD, momentum 0.9,
no weight decay; a run's data seed is `DATA_SEED_OFFSET + seed`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scratchlab.data.edges import EDGE_CLASSES
from scratchlab.errors import ConfigError
from scratchlab.experiments import ExperimentConfig

CLASSES3 = ("horizontal", "vertical", "none")
VALID_PER_CLASS = 50
DATA_SEED_OFFSET = 1000
# the images as the notebook draws them: one background level per image, uint8 levels, class blocks
NOTEBOOK_DATA = {"background": "flat", "quantize": True, "shuffle": False}
# dataset options per condition (a permutation is seeded by the data seed: one for a whole run)
CONDITION_DATA = {"domain_shift": {"possible_edge_location_ratio": 0.5},
                  "permuted": {"permutation": True}}
SIZES = (10, 30, 50, 100)
KERNEL = 7  # kernel size of every CNN unless a question varies it
# the models of q4 and q5 by label: (table model name, kernel size)
SHIFT_MODELS = {"cnn k=7": ("cnn", 7), "cnn k=3": ("cnn", 3), "mlp": ("mlp", None)}
# table model name -> registered model_type
MODEL_TYPES = {
    "cnn": "simplecnn", "mlp": "three_layer_mlp", "cnn_avgpool": "cnn_avgpool",
    "cnn_edge_init": "cnn_edge_init", "wider_cnn": "wider_cnn", "deeper_cnn": "deeper_cnn",
}


@dataclass(frozen=True)
class Budget:
    """Epochs per question (q3 and q7: the most), early stopping of q3 and the q7 search grid."""

    q12: int
    q3: int
    q3_patience: int
    q45: int
    q6: int
    q7: int
    q7_lrs: tuple[float, ...]
    q7_epoch_grid: tuple[int, ...]
    init_draws: int  # initialisations drawn per model for the q7 diagnosis
    q3_min_delta: float = 1e-3

    def scaled(self, scale: float) -> Budget:
        """The same budget with every epoch count (and patience) multiplied by `scale`."""
        number = isinstance(scale, int | float) and not isinstance(scale, bool)
        if not (number and 0 < scale < math.inf):
            raise ConfigError(f"scale must be a finite number > 0, got {scale!r}")

        def s(epochs: int) -> int:
            return max(2, math.ceil(epochs * scale))

        grid = tuple(sorted({min(s(e), s(self.q7)) for e in self.q7_epoch_grid}))
        return replace(self, q12=s(self.q12), q3=s(self.q3), q3_patience=s(self.q3_patience),
                       q45=s(self.q45), q6=s(self.q6), q7=s(self.q7), q7_epoch_grid=grid,
                       init_draws=max(3, math.ceil(self.init_draws * min(scale, 1.0))))


FULL = Budget(q12=500, q3=1000, q3_patience=50, q45=300, q6=200, q7=300,
              q7_lrs=(3e-3, 1e-2, 3e-2), q7_epoch_grid=(50, 100, 200, 300), init_draws=100)
QUICK = Budget(q12=40, q3=100, q3_patience=10, q45=20, q6=15, q7=30,
               q7_lrs=(1e-2, 3e-2), q7_epoch_grid=(10, 20, 30), init_draws=12)


def budget_for(quick: bool, scale: float = 1.0) -> Budget:
    """The budget of quick or full mode, scaled."""
    return (QUICK if quick else FULL).scaled(scale)


@dataclass(frozen=True)
class PlannedRun:
    """One row of the study's table: what the run is (meta) and how it is trained (config)."""

    experiment: str
    model: str
    condition: str
    kernel_size: int | None
    images_per_class: int
    seed: int
    config: ExperimentConfig = field(compare=False)

    def meta(self) -> dict[str, Any]:
        """The table columns that describe the run (everything but its measured numbers)."""
        c = self.config
        return {**{k: v for k, v in vars(self).items() if k != "config"},
                "classes": len(c.data.dataset_options["class_type"]), "lr": c.optim.lr,
                "batch_size": c.budget.bs_train, "run_name": c.run_name}


def make_config(model: str, condition: str, kernel_size: int | None, n: int, seed: int, *,
                epochs: int, bs: int, out_dir: Path, device: str, lr: float = 1e-2,
                patience: int | None = None, min_delta: float = 0.0,
                keep_weights: bool = False) -> ExperimentConfig:
    """The ExperimentConfig of one run of the study."""
    classes = EDGE_CLASSES if condition == "five_classes" else CLASSES3
    options = {"class_type": list(classes), "seed": DATA_SEED_OFFSET + seed,
               "data_per_class": max(n, VALID_PER_CLASS), **NOTEBOOK_DATA,
               **CONDITION_DATA.get(condition, {})}
    stopping = {} if patience is None else {
        "early_stopping_monitor": "train_loss", "early_stopping_min_delta": min_delta}
    name = (f"ib_{model}_{condition}_k{kernel_size or 0}_n{n}_b{bs}_lr{lr:g}"
            + ("_es" if patience else "") + f"_s{seed}")
    return ExperimentConfig.create(
        run_name=name, out_dir=out_dir, seed=seed, device=device,
        dataset="edges", dataset_options=options, test_split="valid",
        train_limit=n * len(classes), test_limit=VALID_PER_CLASS * len(classes),
        bs_train=bs, bs_test=VALID_PER_CLASS * len(classes), batches=None, epochs=epochs,
        early_stopping=patience, **stopping, checkpoints=keep_weights,
        optimizer="momentum", lr=lr, momentum=0.9, reg=0.0,
        model_type=MODEL_TYPES[model],
        model_options={} if kernel_size is None else {"kernel_size": kernel_size})


def study_runs(quick: bool, seeds: list[int], out_dir: str | Path, device: str = "auto",
               scale: float = 1.0) -> list[PlannedRun]:
    """Every row of the study (q1 ... q7) for every seed."""
    b = budget_for(quick, scale)
    rows: list[PlannedRun] = []

    def add(exp: str, model: str, condition: str, n: int, k: int | None = KERNEL,
            **kw: Any) -> None:
        kernel = None if model == "mlp" else k
        for seed in seeds:
            config = make_config(model, condition, kernel, n, seed, out_dir=Path(out_dir),
                                 device=device, **kw)
            rows.append(PlannedRun(exp, model, condition, kernel, n, seed, config))

    q12, q45 = {"epochs": b.q12, "bs": 32}, {"epochs": b.q45, "bs": 10, "keep_weights": True}
    for model in ("cnn", "mlp"):  # q1: the overfitting sanity check
        add("q1", model, "iid", 10, **q12)
    for n in SIZES:  # q2: sample efficiency, edge-detector initialisation
        for model in ("cnn", "mlp", "cnn_edge_init"):
            add("q2", model, "iid", n, keep_weights=model == "cnn" and n == SIZES[-1], **q12)
    for k in (2, 3):
        add("q2", "cnn", "iid", 10, k, **q12)
        add("q2", "cnn_edge_init", "iid", 10, k, **q12)
    for model in ("cnn", "mlp"):  # q3: train until converged
        add("q3", model, "iid", 30, epochs=b.q3, bs=10, patience=b.q3_patience,
            min_delta=b.q3_min_delta)
    for exp, condition in (("q4", "domain_shift"), ("q5", "permuted")):
        for model in ("cnn", "mlp"):
            add(exp, model, "iid", 100, **q45)
            add(exp, model, condition, 100, **q45)
        add(exp, "cnn", condition, 100, 3, **q45)
    for model in ("cnn", "mlp", "cnn_avgpool"):  # q6: five classes, max vs average pooling
        add("q6", model, "five_classes", 100, epochs=b.q6, bs=10)
    add("q7", "cnn", "five_classes", 30, epochs=b.q7, bs=10)
    for model in ("wider_cnn", "deeper_cnn"):  # q7: wider and deeper, small search over lr
        for lr in b.q7_lrs:
            add("q7", model, "five_classes", 30, epochs=b.q7, bs=10, lr=lr,
                keep_weights=model == "deeper_cnn")
    return rows


def unique_configs(runs: list[PlannedRun]) -> list[ExperimentConfig]:
    """The configs to train, each once (rows of different questions may share a run)."""
    seen: dict[str, ExperimentConfig] = {}
    for run in runs:
        if seen.setdefault(run.config.run_name, run.config) != run.config:
            raise ConfigError(f"two different runs are both named {run.config.run_name}")
    return list(seen.values())


def experiment_configs(quick: bool, seeds: list[int], out_dir: str | Path, device: str = "auto",
                       scale: float = 1.0) -> list[ExperimentConfig]:
    """The full list of runs the study trains (each once), for quick or full mode."""
    return unique_configs(study_runs(quick, seeds, out_dir, device, scale))
