"""Analysis of the finished runs: convergence, q7 search and diagnosis, kernels, figures."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from scratchlab.classifiers import ConfusionMatrix, confusion_matrix
from scratchlab.errors import ScratchlabError
from scratchlab.experiments import RunRecord, build_run_model, load_model, load_run_data
from scratchlab.models import dead_channels, first_conv_weights, neighbour_correlation, summary
from scratchlab.studies.common import new_figure, split_tensors
from scratchlab.training import FitResult
from scratchlab.util import seed_everything
from scratchlab.viz import epoch_curves, kernel_row, panel_row, plot_confusion_matrix, seed_bars

from .diagnosis import escape_epoch, fresh_model, init_diagnosis
from .plan import CLASSES3, MODEL_TYPES, SHIFT_MODELS, SIZES, Budget
from .table import Stat, per_lr, select, stat
from .verdicts import conclusions

DIAGNOSIS_IMAGES = 100  # validation images the q7 diagnosis is measured on
COLOURS = {"cnn": "tab:blue", "mlp": "tab:orange", "cnn_edge_init": "tab:green"}


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
        return split_tensors(self.records[name].config.replace(device="cpu"), "valid")

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
        data = load_run_data(config, torch.device("cpu"))
        return build_run_model(config, data.input_shape, data.num_classes)


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
            rows.append([model, lr, epochs, s.mean, s.std, s.n])
    return pd.DataFrame(rows, columns=["model", "lr", "epochs", "valid_mean", "valid_std", "n"])


def kernel_analysis(table: pd.DataFrame, runs: Runs,
                    figures: dict[str, Figure]) -> dict[str, Stat]:
    """q2 and q5 kernel figures; the first layer's neighbour correlation per q5 condition."""
    q2 = select(table, "q2", "cnn", kernel_size=7, images_per_class=100)
    if not q2.empty and (trained := runs.model(q2["run_name"].iloc[0])) is not None:
        untrained = first_conv_weights(runs.initial_model(q2["run_name"].iloc[0]))
        figures["q2_kernels"] = kernel_row({
            f"untrained (seed {q2['seed'].iloc[0]})": untrained,
            "learned, 100 per class": first_conv_weights(trained)})
    structure, panels = {}, {}
    for condition in ("iid", "permuted"):
        names = select(table, "q5", "cnn", kernel_size=7, condition=condition)["run_name"]
        kernels = [first_conv_weights(m) for m in map(runs.model, names) if m is not None]
        structure[condition] = Stat(tuple(map(neighbour_correlation, kernels)))
        if kernels:
            panels[f"learned, {condition}"] = kernels[0]
        if condition == "iid":
            structure["untrained"] = Stat(tuple(
                neighbour_correlation(first_conv_weights(runs.initial_model(n))) for n in names))
    if panels:
        figures["q5_kernels"] = kernel_row(panels)
    return structure


@torch.no_grad()
def domain_shift_confusions(table: pd.DataFrame, runs: Runs) -> dict[str, ConfusionMatrix]:
    """q4: validation confusion matrices (counts summed over seeds) of the shifted runs."""
    matrices = {}
    for label, (model, kernel) in SHIFT_MODELS.items():
        names = select(table, "q4", model, kernel_size=kernel, condition="domain_shift")["run_name"]
        counts = []
        for name in names:
            if (trained := runs.model(name)) is not None:
                x, y = runs.valid_data(name)
                counts.append(confusion_matrix(y, trained(x).argmax(1), num_classes=3).counts)
        if counts:
            matrices[label] = ConfusionMatrix(sum(counts))
    return matrices


def trained_diagnosis(table: pd.DataFrame, runs: Runs) -> pd.DataFrame:
    """Per q7 run: accuracy, at chance or not, escape epoch, dead channels (if weights kept)."""
    q7 = select(table, "q7").reset_index(drop=True)
    chance = 100.0 / q7["classes"]
    escape = [None if (fit := runs.fits.get(name)) is None else escape_epoch(fit.train_acc, c)
              for name, c in zip(q7["run_name"], chance, strict=True)]
    dead = ["" if (trained := runs.model(name)) is None
            else dead_channels(trained, runs.valid_data(name)[0]) for name in q7["run_name"]]
    return q7[["model", "lr", "seed", "valid_acc"]].assign(
        at_chance=q7["valid_acc"] < chance + 10, escape_epoch=pd.array(escape, dtype="Int64"),
        dead_channels=dead)


def sample_efficiency(table: pd.DataFrame) -> Figure:
    """q2: validation accuracy against training images per class (mean, 95% CI over seeds)."""
    fig, axes = new_figure(1, 1, (6, 4))
    ax = axes[0, 0]
    for model in ("cnn", "mlp", "cnn_edge_init"):
        stats = [stat(table, "q2", model, kernel_size=None if model == "mlp" else 7,
                      images_per_class=n) for n in SIZES]
        mean, ci = np.array([s.mean for s in stats]), np.array([s.ci for s in stats])
        ax.plot(SIZES, mean, "o-", color=COLOURS[model], label=model)
        ax.fill_between(SIZES, mean - ci, mean + ci, color=COLOURS[model], alpha=0.2)
    ax.axhline(100 / 3, color="grey", ls=":", label="chance")
    ax.set(xlabel="training images per class", ylabel="validation accuracy (%)", xscale="log",
           title="q2: sample efficiency (mean and 95% CI over seeds)")
    ax.set_xticks(SIZES, [str(n) for n in SIZES])
    ax.legend()
    return fig


def diagnosis_figure(init: pd.DataFrame, histories: dict[str, FitResult], chance: float) -> Figure:
    """q7: ReLU output spread per layer at initialisation; DeeperCNN runs' validation curves."""
    fig, axes = new_figure(1, 2, (5, 3.6))
    for i, (model, rows) in enumerate(init.groupby("model", sort=False)):
        axes[0, 0].plot(rows["layer"], rows["spread"], "o-", color=f"C{i}", label=model)
    axes[0, 0].set(xlabel="ReLU layer", ylabel="std of activations across images", yscale="log",
                   title="at initialisation (median over draws)")
    axes[0, 0].legend(fontsize=7)
    for label, fit in histories.items():
        axes[0, 1].plot(np.arange(1, fit.num_epochs + 1), fit.test_acc, label=label, lw=1)
    axes[0, 1].axhline(chance, color="grey", ls=":")
    axes[0, 1].set(xlabel="epoch", ylabel="validation accuracy (%)", title="deeper_cnn runs")
    if histories:
        axes[0, 1].legend(fontsize=6)
    return fig


def table_figures(table: pd.DataFrame) -> dict[str, Figure]:
    """The figures drawn from the table alone: q2 curves and bars, q4/q5, q6 and q7 bars."""
    edge_init = [(f"{m} k={k}", stat(table, "q2", m, kernel_size=k, images_per_class=10))
                 for k in (2, 3, 7) for m in ("cnn", "cnn_edge_init")]
    shifted = [(f"{label} {cond}", stat(table, exp, m, kernel_size=k, condition=cond))
               for exp, cond in (("q4", "iid"), ("q4", "domain_shift"), ("q5", "permuted"))
               for label, (m, k) in SHIFT_MODELS.items()]
    search = [("cnn lr=0.01", stat(table, "q7", "cnn"))] + [
        (f"{m} lr={lr:g}", s) for m in ("wider_cnn", "deeper_cnn")
        for lr, s in per_lr(table, m).items()]
    q6 = [(m, stat(table, "q6", m)) for m in ("cnn", "cnn_avgpool", "mlp")]
    return {
        "q2_sample_efficiency": sample_efficiency(table),
        "q2_edge_init": seed_bars(
            edge_init, "q2: random vs edge-detector first layer, 10 per class", 100 / 3),
        "q4_q5_accuracy": seed_bars([(label, s) for label, s in shifted if s.n],
                                    "q4/q5: 100 per class", 100 / 3),
        "q6_five_classes": seed_bars(q6, "q6: five classes, 100 per class", 20.0),
        "q7_search": seed_bars(search, "q7: five classes, 30 images per class", chance=20.0),
    }


def analyse(table: pd.DataFrame, records: Iterable[RunRecord], budget: Budget,
            device: torch.device | None = None) -> Analysis:
    """Everything the report quotes or shows besides the table."""
    runs = Runs(records)
    figures = table_figures(table)
    structure = kernel_analysis(table, runs, figures)
    q3 = select(table, "q3")
    first = q3[(q3["seed"] == q3["seed"].min()) & q3["run_name"].isin(runs.fits)]
    figures["q3_curves"] = epoch_curves({m: runs.fits[n] for m, n in zip(
        first["model"], first["run_name"], strict=True)}, title="q3: ", target=95)
    if matrices := domain_shift_confusions(table, runs):
        figures["q4_confusion"] = panel_row(matrices, lambda cm, ax: plot_confusion_matrix(
            cm, list(CLASSES3), ax=ax), size=(3.6, 3.2), tight=True)
    deeper, init = select(table, "q7", "deeper_cnn"), pd.DataFrame()
    if not deeper.empty:
        x, y = (t[:DIAGNOSIS_IMAGES].to(device) for t in runs.valid_data(deeper.run_name.iloc[0]))
        init = init_diagnosis(x, y, budget.init_draws)
        figures["q7_diagnosis"] = diagnosis_figure(init, {
            f"lr={r.lr:g} seed {r.seed}": runs.fits[r.run_name] for r in deeper.itertuples()
            if r.run_name in runs.fits}, 20.0)
    return Analysis(
        params=parameter_counts(), convergence=losses(table, runs, "q3", budget.q3),
        overfit=losses(table, runs, "q1", budget.q12),
        search=lr_epoch_search(table, runs, budget.q7_epoch_grid), init=init,
        trained=trained_diagnosis(table, runs), verdicts=conclusions(table, structure),
        kernel_structure=structure, figures=figures)
