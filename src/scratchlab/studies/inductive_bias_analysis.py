"""Analysis of the finished runs: convergence (q3), the q7 search and diagnosis, kernels and
confusion matrices from the stored weights, and every figure of the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from scratchlab.classifiers import ConfusionMatrix, confusion_matrix
from scratchlab.errors import ScratchlabError
from scratchlab.experiments import load_model
from scratchlab.experiments.pipeline import build_data, build_run_model
from scratchlab.models import summary
from scratchlab.studies import inductive_bias_figures as figs
from scratchlab.studies.inductive_bias_diagnosis import init_diagnosis, trained_diagnosis
from scratchlab.studies.inductive_bias_plan import MODEL_TYPES, Budget, PlannedRun
from scratchlab.studies.inductive_bias_table import Stat, load_history, select, stat
from scratchlab.studies.inductive_bias_verdicts import conclusions
from scratchlab.training import FitResult
from scratchlab.util import seed_everything

DIAGNOSIS_IMAGES = 100  # validation images the q7 diagnosis is measured on


@dataclass
class Analysis:
    """What the report needs besides the table."""

    params: dict[str, int]
    convergence: pd.DataFrame
    overfit: pd.DataFrame
    search: pd.DataFrame
    init: pd.DataFrame
    trained: pd.DataFrame
    kernel_structure: dict[str, Stat] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    verdicts: pd.DataFrame | None = None  # the conclusion table, once computed


class RunStore:
    """Lazy access to the histories, weights and validation data of the study's runs."""

    def __init__(self, runs: list[PlannedRun]) -> None:
        self.configs = {run.config.run_name: run.config for run in runs}
        self.runs = runs

    @cache  # noqa: B019 - one store per analysis
    def history(self, run_name: str) -> FitResult | None:
        return load_history(self.runs, run_name)

    def valid_data(self, run_name: str) -> tuple[torch.Tensor, torch.Tensor]:
        config = self.configs[run_name].model_copy(update={"device": "cpu"})
        data = build_data(config, torch.device("cpu"))
        return data.test.tensors[0], data.test.tensors[1]

    def model(self, run_name: str) -> nn.Module | None:
        """The trained model (None when the run kept no weights)."""
        config = self.configs[run_name]
        try:
            return load_model(config.out_dir / f"{run_name}.json")
        except ScratchlabError:  # no checkpoint kept (or an unreadable one)
            return None

    def initial_model(self, run_name: str) -> nn.Module:
        """The run's model as initialised before training (same seed and pipeline as the run)."""
        config = self.configs[run_name].model_copy(update={"device": "cpu"})
        seed_everything(config.seed)
        data = build_data(config, torch.device("cpu"))
        return build_run_model(config, data.input_shape, data.num_classes)

    def weights(self, run_name: str) -> tuple[nn.Module, torch.Tensor] | None:
        model = self.model(run_name)
        return None if model is None else (model, self.valid_data(run_name)[0])


def parameter_counts() -> dict[str, int]:
    """Trainable parameters of every model of the study on 28x28 images with 3 classes."""
    return {name: summary(nn_model(name), (1, 28, 28)).params for name in MODEL_TYPES}


def nn_model(name: str) -> nn.Module:
    from scratchlab.models import build_model

    return build_model({"model_type": MODEL_TYPES[name], "out_classes": 3})


def convergence(table: pd.DataFrame, store: RunStore, budget: Budget) -> pd.DataFrame:
    """q3: per run, the epochs trained, whether early stopping ended it and the final numbers."""
    rows = select(table, experiment="q3").copy()
    rows["stopped_early"] = rows["epochs"] < budget.q3
    rows["final_train_loss"] = [_epoch_mean(store.history(n)) for n in rows["run_name"]]
    return rows[["model", "seed", "epochs", "stopped_early", "final_train_loss", "train_acc", "valid_acc"]]


def _epoch_mean(fit: FitResult | None, epochs_back: int = 0) -> float:
    """Mean train loss of the last epoch (or of the epoch `epochs_back` before it)."""
    means = fit.epoch_mean("train_loss") if fit is not None else []
    return means[-1 - epochs_back] if epochs_back < len(means) else float("nan")


def overfit(table: pd.DataFrame, store: RunStore) -> pd.DataFrame:
    """q1: per run, the final train accuracy and the mean train loss of the last epoch and of the
    epoch a tenth of the budget earlier (a run short of 100% whose loss still falls ran out of epochs)."""
    rows = select(table, experiment="q1").copy()
    back = [max(1, int(e) // 10) for e in rows["epochs"]]
    rows["final_train_loss"] = [_epoch_mean(store.history(n)) for n in rows["run_name"]]
    rows["earlier_train_loss"] = [_epoch_mean(store.history(n), b) for n, b in zip(rows["run_name"], back, strict=True)]
    rows["epochs_back"] = back
    return rows[["model", "seed", "epochs", "train_acc", "final_train_loss", "earlier_train_loss", "epochs_back"]]


def lr_epoch_search(table: pd.DataFrame, store: RunStore, grid: tuple[int, ...]) -> pd.DataFrame:
    """q7: validation accuracy after each epoch budget of `grid`, per model and learning rate
    (read from the per-epoch history: with a constant learning rate, epoch e of a longer run is
    the same as a run of e epochs)."""
    rows = []
    q7 = select(table, experiment="q7")
    for (model, lr), group in q7.groupby(["model", "lr"], sort=False):
        for epochs in grid:
            values = []
            for name in group["run_name"]:
                fit = store.history(name)
                if fit is not None and len(fit.test_acc) >= epochs:
                    values.append(fit.test_acc[epochs - 1])
            s = Stat(tuple(values))
            rows.append({"model": model, "lr": lr, "epochs": epochs, "valid_mean": s.mean, "valid_std": s.std, "n": s.n})
    return pd.DataFrame(rows, columns=["model", "lr", "epochs", "valid_mean", "valid_std", "n"])


def best_setting(search: pd.DataFrame, model: str) -> pd.Series | None:
    """The search row with the highest mean validation accuracy for `model`."""
    rows = search[(search["model"] == model) & search["valid_mean"].notna()]
    return None if rows.empty else rows.loc[rows["valid_mean"].idxmax()]


def neighbour_correlation(weights: torch.Tensor) -> float:
    """Correlation of horizontally and vertically adjacent kernel weights (about 0 for unstructured
    kernels, close to 1 for smooth ones such as edge detectors)."""
    w = weights.detach().float()
    a = torch.cat([w[..., :, :-1].flatten(), w[..., :-1, :].flatten()])
    b = torch.cat([w[..., :, 1:].flatten(), w[..., 1:, :].flatten()])
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def first_conv(model: nn.Module) -> torch.Tensor:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight.detach().cpu()


def kernel_analysis(table: pd.DataFrame, store: RunStore, analysis: Analysis) -> None:
    """Kernels before/after training (q2) and with/without pixel permutation (q5)."""
    q2 = select(table, experiment="q2", model="cnn", kernel_size=7, images_per_class=100)
    panels: dict[str, torch.Tensor] = {}
    if not q2.empty and (trained := store.model(q2["run_name"].iloc[0])) is not None:
        panels[f"untrained (seed {q2['seed'].iloc[0]})"] = first_conv(store.initial_model(q2["run_name"].iloc[0]))
        panels["learned, 100 per class"] = first_conv(trained)
        analysis.figures["q2_kernels"] = figs.kernels(panels)
    q5_panels: dict[str, torch.Tensor] = {}
    for condition in ("iid", "permuted"):
        values = []
        for name in select(table, experiment="q5", model="cnn", kernel_size=7, condition=condition)["run_name"]:
            model = store.model(name)
            if model is not None:
                values.append(neighbour_correlation(first_conv(model)))
                q5_panels.setdefault(f"learned, {condition}", first_conv(model))
        analysis.kernel_structure[condition] = Stat(tuple(values))
    inits = [neighbour_correlation(first_conv(store.initial_model(n)))
             for n in select(table, experiment="q5", model="cnn", kernel_size=7, condition="iid")["run_name"]]
    analysis.kernel_structure["untrained"] = Stat(tuple(inits))
    if q5_panels:
        analysis.figures["q5_kernels"] = figs.kernels(q5_panels)


def domain_shift_confusions(table: pd.DataFrame, store: RunStore) -> dict[str, ConfusionMatrix]:
    """q4: validation confusion matrices (counts summed over seeds) of the shifted runs."""
    matrices = {}
    for model, kernel in (("cnn", 7), ("cnn", 3), ("mlp", None)):
        counts = None
        for name in select(table, experiment="q4", model=model, kernel_size=kernel, condition="domain_shift")["run_name"]:
            trained = store.model(name)
            if trained is None:
                continue
            x, y = store.valid_data(name)
            with torch.no_grad():
                cm = confusion_matrix(y, trained(x).argmax(1), num_classes=3).counts
            counts = cm if counts is None else counts + cm
        if counts is not None:
            matrices[model if kernel is None else f"{model} k={kernel}"] = ConfusionMatrix(counts)
    return matrices


def analyse(runs: list[PlannedRun], table: pd.DataFrame, budget: Budget) -> Analysis:
    """Everything the report quotes or shows besides the table."""
    store = RunStore(runs)
    q7_valid = select(table, experiment="q7", model="deeper_cnn")
    x, y = (store.valid_data(q7_valid["run_name"].iloc[0]) if not q7_valid.empty
            else (torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long)))
    x, y = x[:DIAGNOSIS_IMAGES], y[:DIAGNOSIS_IMAGES]
    analysis = Analysis(
        params=parameter_counts(), convergence=convergence(table, store, budget), overfit=overfit(table, store),
        search=lr_epoch_search(table, store, budget.q7_epoch_grid),
        init=init_diagnosis(x, y, budget.init_draws) if len(y) else pd.DataFrame(),
        trained=trained_diagnosis(table, store.history, store.weights),
    )
    kernel_analysis(table, store, analysis)
    analysis.verdicts = conclusions(table, analysis.kernel_structure)
    f = analysis.figures
    f["q2_sample_efficiency"] = figs.sample_efficiency(table)
    f["q2_edge_init"] = figs.bars(
        [(f"{m} k={k}", stat(table, experiment="q2", model=m, kernel_size=k, images_per_class=10))
         for k in (2, 3, 7) for m in ("cnn", "cnn_edge_init")], "q2: random vs edge-detector first layer, 10 per class", 100 / 3)
    histories = {m: store.history(n) for m, n in _seed0(table, "q3").items()}
    f["q3_curves"] = figs.curves({k: v for k, v in histories.items() if v is not None})
    f["q4_q5_accuracy"] = figs.bars(_q45_items(table), "q4/q5: 100 per class", 100 / 3)
    if matrices := domain_shift_confusions(table, store):
        f["q4_confusion"] = figs.confusions(matrices, ["horizontal", "vertical", "none"])
    f["q6_five_classes"] = figs.bars(
        [(m, stat(table, experiment="q6", model=m)) for m in ("cnn", "cnn_avgpool", "mlp")], "q6: five classes, 100 per class", 20.0)
    f["q7_search"] = figs.search(table)
    deeper = {f"lr={r.lr:g} seed {r.seed}": store.history(r.run_name)
              for r in select(table, experiment="q7", model="deeper_cnn").itertuples()}
    if not analysis.init.empty:
        f["q7_diagnosis"] = figs.diagnosis(analysis.init, {k: v for k, v in deeper.items() if v is not None}, 20.0)
    return analysis


def _seed0(table: pd.DataFrame, experiment: str) -> dict[str, str]:
    rows = select(table, experiment=experiment)
    first = rows[rows["seed"] == rows["seed"].min()]
    return dict(zip(first["model"], first["run_name"], strict=True))


def _q45_items(table: pd.DataFrame) -> list[tuple[str, Stat]]:
    items = []
    for exp, condition in (("q4", "iid"), ("q4", "domain_shift"), ("q5", "permuted")):
        for model, kernel in (("cnn", 7), ("cnn", 3), ("mlp", None)):
            s = stat(table, experiment=exp, model=model, kernel_size=kernel, condition=condition)
            if s.n:
                items.append((f"{model}{'' if kernel is None else f' k={kernel}'} {condition}", s))
    return items
