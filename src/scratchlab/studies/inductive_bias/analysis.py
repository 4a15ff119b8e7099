"""Analysis of the finished runs: convergence, q7 search and diagnosis, kernels, figures."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from scratchlab.classifiers import ConfusionMatrix, confusion_matrix
from scratchlab.errors import ScratchlabError
from scratchlab.experiments import RunRecord, build_run_model, load_model, load_run_data
from scratchlab.models import summary
from scratchlab.training import FitResult
from scratchlab.util import seed_everything

from . import figures as figs
from .diagnosis import fresh_model, init_diagnosis, trained_diagnosis
from .plan import MODEL_TYPES, Budget
from .table import Stat, select
from .verdicts import conclusions

DIAGNOSIS_IMAGES = 100  # validation images the q7 diagnosis is measured on
CPU = torch.device("cpu")


@dataclass
class Analysis:
    """What the report needs besides the table; `verdicts` is the conclusion table."""

    params: dict[str, int]
    convergence: pd.DataFrame
    overfit: pd.DataFrame
    search: pd.DataFrame
    init: pd.DataFrame
    trained: pd.DataFrame
    verdicts: pd.DataFrame
    kernel_structure: dict[str, Stat] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)


class Runs:
    """The study's records by run name, and the data and models the analysis reads from them."""

    def __init__(self, records: Iterable[RunRecord]) -> None:
        self.records = {r.config.run_name: r for r in records}
        self.fits = {n: fit for n, r in self.records.items() if (fit := r.fit) is not None}

    def valid_data(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        data = load_run_data(self.records[name].config.replace(device="cpu"), CPU)
        return data.test.tensors[0], data.test.tensors[1]

    def model(self, name: str) -> nn.Module | None:
        """The trained model of a run that kept its weights (else None)."""
        record = self.records.get(name)
        if record is None or not record.ok or not record.config.budget.checkpoints:
            return None
        try:
            return load_model(record)
        except ScratchlabError:  # its checkpoint was deleted (or is unreadable)
            return None

    def initial_model(self, name: str) -> nn.Module:
        """The run's model as initialised before training (same seed and pipeline as the run)."""
        config = self.records[name].config.replace(device="cpu")
        seed_everything(config.seed)
        data = load_run_data(config, CPU)
        return build_run_model(config, data.input_shape, data.num_classes)

    def weights(self, name: str) -> tuple[nn.Module, torch.Tensor] | None:
        model = self.model(name)
        return None if model is None else (model, self.valid_data(name)[0])


def parameter_counts() -> dict[str, int]:
    """Trainable parameters of every model of the study on 28x28 images with 3 classes."""
    return {name: summary(fresh_model(name, 3), (1, 28, 28)).params for name in MODEL_TYPES}


def epoch_loss(fit: FitResult | None, epochs_back: int = 0) -> float:
    """Mean train loss of the last epoch (or of the epoch `epochs_back` before it)."""
    means = fit.epoch_mean("train_loss") if fit is not None else []
    return means[-1 - epochs_back] if epochs_back < len(means) else float("nan")


def losses(table: pd.DataFrame, runs: Runs, experiment: str, max_epochs: int) -> pd.DataFrame:
    """Per q1 or q3 run: epochs, accuracies, train loss at the end and a tenth of them before."""
    rows = select(table, experiment).copy()
    rows["stopped_early"] = rows["epochs"] < max_epochs
    rows["epochs_back"] = [max(1, int(e) // 10) for e in rows["epochs"]]
    fits = [runs.fits.get(n) for n in rows["run_name"]]
    rows["final_train_loss"] = [epoch_loss(f) for f in fits]
    rows["earlier_train_loss"] = list(map(epoch_loss, fits, rows["epochs_back"]))
    return rows[["model", "seed", "epochs", "stopped_early", "train_acc", "valid_acc",
                 "final_train_loss", "earlier_train_loss", "epochs_back"]]


def lr_epoch_search(table: pd.DataFrame, runs: Runs, grid: tuple[int, ...]) -> pd.DataFrame:
    """q7: validation accuracy per model, lr and epoch budget of `grid`, from the history (at a
    constant lr, epoch e of a longer run is an e-epoch run)."""
    rows = []
    for (model, lr), group in select(table, "q7").groupby(["model", "lr"], sort=False):
        fits = [runs.fits[n] for n in group["run_name"] if n in runs.fits]
        for epochs in grid:
            s = Stat(tuple(f.test_acc[epochs - 1] for f in fits if len(f.test_acc) >= epochs))
            rows.append({"model": model, "lr": lr, "epochs": epochs, "valid_mean": s.mean,
                         "valid_std": s.std, "n": s.n})
    return pd.DataFrame(rows, columns=["model", "lr", "epochs", "valid_mean", "valid_std", "n"])


def best_setting(search: pd.DataFrame, model: str) -> pd.Series | None:
    """The search row with the highest mean validation accuracy for `model`."""
    rows = search[(search["model"] == model) & search["valid_mean"].notna()]
    return None if rows.empty else rows.loc[rows["valid_mean"].idxmax()]


def neighbour_correlation(weights: torch.Tensor) -> float:
    """Correlation of adjacent kernel weights (about 0 if unstructured, near 1 if smooth)."""
    w = weights.detach().float()
    a = torch.cat([w[..., :, :-1].flatten(), w[..., :-1, :].flatten()])
    b = torch.cat([w[..., :, 1:].flatten(), w[..., 1:, :].flatten()])
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def first_conv(model: nn.Module) -> torch.Tensor:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight.detach().cpu()


def kernel_analysis(table: pd.DataFrame, runs: Runs,
                    figures: dict[str, Figure]) -> dict[str, Stat]:
    """q2 and q5 kernel figures; the first layer's neighbour correlation per q5 condition."""
    q2 = select(table, "q2", "cnn", kernel_size=7, images_per_class=100)
    if not q2.empty and (trained := runs.model(q2["run_name"].iloc[0])) is not None:
        untrained = first_conv(runs.initial_model(q2["run_name"].iloc[0]))
        figures["q2_kernels"] = figs.kernels({f"untrained (seed {q2['seed'].iloc[0]})": untrained,
                                              "learned, 100 per class": first_conv(trained)})
    structure, panels = {}, {}
    for condition in ("iid", "permuted"):
        names = select(table, "q5", "cnn", kernel_size=7, condition=condition)["run_name"]
        kernels = [first_conv(m) for m in map(runs.model, names) if m is not None]
        structure[condition] = Stat(tuple(map(neighbour_correlation, kernels)))
        if kernels:
            panels[f"learned, {condition}"] = kernels[0]
        if condition == "iid":
            structure["untrained"] = Stat(tuple(
                neighbour_correlation(first_conv(runs.initial_model(n))) for n in names))
    if panels:
        figures["q5_kernels"] = figs.kernels(panels)
    return structure


def domain_shift_confusions(table: pd.DataFrame, runs: Runs) -> dict[str, ConfusionMatrix]:
    """q4: validation confusion matrices (counts summed over seeds) of the shifted runs."""
    matrices = {}
    for model, kernel in (("cnn", 7), ("cnn", 3), ("mlp", None)):
        counts = None
        names = select(table, "q4", model, kernel_size=kernel, condition="domain_shift")
        for name in names["run_name"]:
            if (trained := runs.model(name)) is None:
                continue
            x, y = runs.valid_data(name)
            with torch.no_grad():
                cm = confusion_matrix(y, trained(x).argmax(1), num_classes=3).counts
            counts = cm if counts is None else counts + cm
        if counts is not None:
            matrices[model if kernel is None else f"{model} k={kernel}"] = ConfusionMatrix(counts)
    return matrices


def analyse(table: pd.DataFrame, records: Iterable[RunRecord], budget: Budget) -> Analysis:
    """Everything the report quotes or shows besides the table."""
    runs = Runs(records)
    figures: dict[str, Figure] = {}
    structure = kernel_analysis(table, runs, figures)
    q7 = select(table, "q7", "deeper_cnn")
    x, y = (runs.valid_data(q7["run_name"].iloc[0]) if not q7.empty
            else (torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long)))
    x, y = x[:DIAGNOSIS_IMAGES], y[:DIAGNOSIS_IMAGES]
    analysis = Analysis(
        params=parameter_counts(), convergence=losses(table, runs, "q3", budget.q3),
        overfit=losses(table, runs, "q1", budget.q12),
        search=lr_epoch_search(table, runs, budget.q7_epoch_grid),
        init=init_diagnosis(x, y, budget.init_draws) if len(y) else pd.DataFrame(),
        trained=trained_diagnosis(table, runs.fits.get, runs.weights),
        verdicts=conclusions(table, structure), kernel_structure=structure, figures=figures)
    draw(table, runs, analysis)
    return analysis


def draw(table: pd.DataFrame, runs: Runs, analysis: Analysis) -> None:
    """Add the figures of the table, the histories and the kept weights to `analysis.figures`."""
    f = analysis.figures
    f.update(figs.table_figures(table))
    q3 = select(table, "q3")
    first = q3[(q3["seed"] == q3["seed"].min()) & q3["run_name"].isin(runs.fits)]
    f["q3_curves"] = figs.curves({m: runs.fits[n] for m, n in zip(first["model"],
                                                                 first["run_name"], strict=True)})
    if matrices := domain_shift_confusions(table, runs):
        f["q4_confusion"] = figs.confusions(matrices, ["horizontal", "vertical", "none"])
    deeper = select(table, "q7", "deeper_cnn")
    if not analysis.init.empty:
        f["q7_diagnosis"] = figs.diagnosis(analysis.init, {
            f"lr={r.lr:g} seed {r.seed}": runs.fits[r.run_name] for r in deeper.itertuples()
            if r.run_name in runs.fits}, 20.0)
