"""The figures of the inductive-bias study, each drawn from the table or the runs' records."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scratchlab.training import FitResult
from scratchlab.viz import figure_and_axes, seed_bars

from .plan import SHIFT_MODELS, SIZES
from .table import per_lr, stat

COLOURS = {"cnn": "tab:blue", "mlp": "tab:orange", "cnn_edge_init": "tab:green"}


def sample_efficiency(table: pd.DataFrame) -> Figure:
    """q2: validation accuracy against training images per class (mean, 95% CI over seeds)."""
    fig, ax = figure_and_axes(figsize=(6, 4))
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


def diagnosis(init: pd.DataFrame, histories: dict[str, FitResult], chance: float) -> Figure:
    """q7: ReLU output spread per layer at initialisation; DeeperCNN runs' validation curves."""
    fig, axes = figure_and_axes(1, 2, figsize=(10, 3.6), squeeze=False)
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
