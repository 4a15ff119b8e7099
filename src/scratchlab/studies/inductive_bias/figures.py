"""The figures of the inductive-bias study, each drawn from the table or the runs' records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from scratchlab.classifiers import ConfusionMatrix
from scratchlab.studies.common import new_figure
from scratchlab.training import FitResult
from scratchlab.viz import plot_confusion_matrix, plot_kernels

from .plan import SIZES
from .table import Stat, select, stat

COLOURS = {"cnn": "tab:blue", "mlp": "tab:orange", "cnn_edge_init": "tab:green"}


def sample_efficiency(table: pd.DataFrame) -> Figure:
    """q2: validation accuracy against training images per class (mean +- std over seeds)."""
    fig, axes = new_figure(size=(6, 4))
    ax = axes[0, 0]
    for model in ("cnn", "mlp", "cnn_edge_init"):
        kernel = None if model == "mlp" else 7
        stats = [stat(table, "q2", model, kernel_size=kernel, images_per_class=n)
                 for n in SIZES]
        mean, std = np.array([s.mean for s in stats]), np.array([s.std for s in stats])
        ax.plot(SIZES, mean, "o-", color=COLOURS[model], label=model)
        ax.fill_between(SIZES, mean - std, mean + std, color=COLOURS[model], alpha=0.2)
    ax.axhline(100 / 3, color="grey", ls=":", label="chance")
    ax.set(xlabel="training images per class", ylabel="validation accuracy (%)", xscale="log",
           title="q2: sample efficiency (mean +- std over seeds)")
    ax.set_xticks(SIZES, [str(n) for n in SIZES])
    ax.legend()
    return fig


def bars(items: list[tuple[str, Stat]], title: str, chance: float | None = None) -> Figure:
    """Bars of mean accuracy with std error bars and each seed's value as a dot."""
    fig, axes = new_figure(size=(max(4.0, 1.1 * len(items)), 4))
    ax = axes[0, 0]
    for i, (_, s) in enumerate(items):
        ax.bar(i, s.mean, yerr=s.std, capsize=4, color=f"C{i % 10}", alpha=0.8)
        ax.plot([i] * s.n, s.values, "k.", ms=4)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", label="chance")
        ax.legend(loc="lower right")
    ax.set_xticks(range(len(items)), [label for label, _ in items], rotation=30, ha="right")
    ax.set(ylabel="validation accuracy (%)", ylim=(0, 105), title=title)
    return fig


def kernels(panels: dict[str, torch.Tensor]) -> Figure:
    """First-layer kernels, one panel per (title, weights (out, in, k, k))."""
    fig, axes = new_figure(1, len(panels), size=(3, 3))
    for ax, (title, weights) in zip(axes[0], panels.items(), strict=True):
        plot_kernels(weights, nrow=len(weights), ax=ax)
        ax.set_title(title, fontsize=9)
    return fig


def curves(histories: dict[str, FitResult]) -> Figure:
    """q3: train and validation loss and accuracy per epoch."""
    fig, axes = new_figure(1, 2, size=(5, 3.6))
    for i, (label, fit) in enumerate(histories.items()):
        epochs = np.arange(1, fit.num_epochs + 1)
        for ax, train, valid in ((axes[0, 0], fit.epoch_mean("train_loss"),
                                  fit.epoch_mean("test_loss")),
                                 (axes[0, 1], fit.train_acc, fit.test_acc)):
            ax.plot(epochs, train, color=f"C{i}", label=f"{label} train")
            ax.plot(epochs, valid, color=f"C{i}", ls="--", label=f"{label} valid")
    axes[0, 0].set(xlabel="epoch", ylabel="loss", yscale="log", title="q3: loss")
    axes[0, 1].set(xlabel="epoch", ylabel="accuracy (%)", title="q3: accuracy")
    axes[0, 1].axhline(95, color="grey", ls=":")
    axes[0, 0].legend(fontsize=7)
    return fig


def confusions(matrices: dict[str, ConfusionMatrix], classes: list[str]) -> Figure:
    """q4: confusion matrices on the validation images (counts summed over seeds)."""
    fig, axes = new_figure(1, len(matrices), size=(3.6, 3.2))
    for ax, (title, cm) in zip(axes[0], matrices.items(), strict=True):
        plot_confusion_matrix(cm, classes, ax=ax)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def diagnosis(init: pd.DataFrame, histories: dict[str, FitResult], chance: float) -> Figure:
    """q7: ReLU output spread per layer at initialisation; DeeperCNN runs' validation curves."""
    fig, axes = new_figure(1, 2, size=(5, 3.6))
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
    shifted = [(f"{m}{'' if k is None else f' k={k}'} {cond}",
                stat(table, exp, m, kernel_size=k, condition=cond))
               for exp, cond in (("q4", "iid"), ("q4", "domain_shift"), ("q5", "permuted"))
               for m, k in (("cnn", 7), ("cnn", 3), ("mlp", None))]
    search = [("cnn lr=0.01", stat(table, "q7", "cnn"))] + [
        (f"{m} lr={lr:g}", stat(table, "q7", m, lr=lr)) for m in ("wider_cnn", "deeper_cnn")
        for lr in sorted(select(table, "q7", m)["lr"].unique())]
    return {
        "q2_sample_efficiency": sample_efficiency(table),
        "q2_edge_init": bars(edge_init, "q2: random vs edge-detector first layer, 10 per class",
                             100 / 3),
        "q4_q5_accuracy": bars([(label, s) for label, s in shifted if s.n],
                               "q4/q5: 100 per class", 100 / 3),
        "q6_five_classes": bars([(m, stat(table, "q6", m)) for m in ("cnn", "cnn_avgpool", "mlp")],
                                "q6: five classes, 100 per class", 20.0),
        "q7_search": bars(search, "q7: five classes, 30 images per class", chance=20.0),
    }
