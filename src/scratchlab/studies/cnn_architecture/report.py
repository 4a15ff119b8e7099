"""The CNN architecture study's figures and HTML report section."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from scratchlab.studies.common import new_figure
from scratchlab.training import FitResult
from scratchlab.viz import HtmlReport, figure_and_axes, plot_exp_results

from .analysis import MODEL_NAMES, model_name, summarize

EXPERIMENT_TEXT = {
    "exp1_1": "Depth: plain CNNs with one width K and L = 2 ... 16 convolutions.",
    "exp1_2": "Width: plain CNNs with K = 32, 64, 128 at depths L = 2, 4, 8.",
    "exp1_3": "Growing widths: K = 64-128-256 (L convolutions of each) for L = 1 ... 4.",
    "exp1_4": "Residual networks (with batch norm) at the depths where plain CNNs struggle.",
    "exp2": "YourCNN: K = 32-64-128 with L = 3, 6, 9, 12 and deeper.",
}
RUN_COLUMNS = ["run_name", "seed", "status", "best_test_acc", "epochs_to_best", "epochs",
               "params", "flops", "train_seconds"]


def figures(table: pd.DataFrame, fits: dict[str, FitResult]) -> dict[str, Figure]:
    """Overlaid curves per experiment (first seed), accuracy against depth and against size."""
    figs: dict[str, Figure] = {}
    ok = table[table["status"] == "ok"]
    first = ok.sort_values("seed").drop_duplicates(["experiment", "K", "L"])
    for experiment, rows in first.groupby("experiment", sort=False):
        curves = {f"L{r['L']}_K{r['K']}": fits[r["run_name"]] for _, r in rows.iterrows()
                  if r["run_name"] in fits}
        if curves:
            grid = figure_and_axes(2, 2, figsize=(11, 7), sharex="col")[0]  # closed in pyplot
            fig, _ = plot_exp_results(curves, fig=grid)
            fig.suptitle(f"{experiment}: {EXPERIMENT_TEXT.get(experiment, '')}")
            figs[f"curves_{experiment}"] = fig
    summary = summarize(table)
    if not summary.empty:
        figs["accuracy_vs_depth"] = _accuracy_vs_depth(summary)
        figs["accuracy_vs_params"] = _accuracy_vs_params(summary)
    return figs


def _accuracy_vs_depth(summary: pd.DataFrame) -> Figure:
    experiments = list(dict.fromkeys(summary["experiment"]))
    fig, axes = new_figure(1, len(experiments), size=(3.4, 3.0))
    for ax, experiment in zip(axes[0], experiments, strict=True):
        rows = summary[summary["experiment"] == experiment]
        for (model, K), line in rows.groupby(["model_type", "K"], sort=False):
            line = line.sort_values("L")
            ax.errorbar(line["L"], line["best_test_acc_mean"], yerr=line["best_test_acc_std"],
                        marker="o", capsize=3, label=f"{model_name(model)} K={K}")
        ax.axhline(10, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set(title=experiment, xlabel="L (convolutions per K entry)", ylim=(0, 100))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("best test accuracy (%)")
    fig.tight_layout()
    return fig


def _accuracy_vs_params(summary: pd.DataFrame) -> Figure:
    fig, axes = new_figure(1, 2, size=(4.2, 3.2))
    for ax, column, name in zip(axes[0], ["params", "flops"],
                                ["trainable parameters", "multiply-adds per image"], strict=True):
        for model, rows in summary.groupby("model_type", sort=False):
            ax.scatter(rows[column], rows["best_test_acc_mean"], label=model_name(model))
        ax.set(xscale="log", xlabel=name, ylabel="best test accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as the report shows it: accuracy as mean +- std, sizes as integers."""
    s = summary
    if s.empty:
        return s
    return pd.DataFrame({
        "experiment": s["experiment"], "model": s["model_type"].replace(MODEL_NAMES),
        "K": s["K"], "L": s["L"], "P": s["P"], "conv layers": s["depth"],
        "best test acc (%)": [f"{m:.1f} +- {d:.1f}" for m, d in
                              zip(s["best_test_acc_mean"], s["best_test_acc_std"], strict=True)],
        "epochs to best": [f"{m:.1f}" for m in s["epochs_to_best_mean"]],
        "seeds": s["n"],
        "params": [f"{int(p):,}" if pd.notna(p) else "" for p in s["params"]],
        "MACs": [f"{int(f):,}" if pd.notna(f) else "" for f in s["flops"]],
        "train s": [f"{t:.1f}" for t in s["train_seconds_mean"]],
    })


def build_report(table: pd.DataFrame, findings: list[str], figs: dict[str, Figure],
                 setup: dict[str, Any]) -> HtmlReport:
    """The study's report: setup, findings, summary table, curves and comparison figures."""
    report = HtmlReport("CNN architectures on CIFAR-10", "scratchlab study cnn-architecture")
    report.heading("Setup")
    if setup.get("device_name") or setup.get("command"):
        report.paragraph(f"Trained on {setup.get('device_name') or setup['device']} "
                         f"(torch {setup.get('torch') or '?'}) with: {setup.get('command', '')}")
    epochs = setup["epochs"]
    report.paragraph(
        f"{setup['train_images']:,} training images and {setup['eval_images']:,} evaluation "
        f"images ({setup['eval_note']}); at most {epochs} epoch{'s' if epochs != 1 else ''} with "
        f"early stopping (patience {setup['patience']}) on the evaluation loss; "
        f"{setup['seeds']} seed(s) per architecture; device {setup['device']}, {setup['jobs']} "
        f"run(s) at a time; wall time {setup['wall_seconds']:.0f} s.")
    report.paragraph(f"Hyper-parameters ({setup['hyper_source']}), the same for every run:")
    report.mapping(setup["hyperparameters"])
    report.paragraph("Pooling (P = pool after every P convolutions, chosen per experiment so "
                     "that no feature map collapses; 'L' = after each stage of one K entry):")
    report.mapping(setup["pooling"])
    if setup.get("search") is not None:
        report.heading("Hyper-parameter search", level=3).table(setup["search"])
    report.heading("Findings").bullets(findings)
    report.heading("Summary (mean +- std over seeds)").table(summary_display(summarize(table)))
    for name in ("accuracy_vs_depth", "accuracy_vs_params"):
        if name in figs:
            report.figure(figs[name], alt=name, close=False)
    for experiment in dict.fromkeys(table["experiment"]):
        report.heading(experiment).paragraph(EXPERIMENT_TEXT.get(experiment, ""))
        if f"curves_{experiment}" in figs:
            report.figure(figs[f"curves_{experiment}"], alt=f"curves of {experiment}",
                          close=False)
        report.table(table[table["experiment"] == experiment][RUN_COLUMNS])
    return report


def pooling_text(groups: dict[str, list[Any]]) -> dict[str, str]:
    """`{experiment: "CNN K=32 / 64: P=4"}` (groups with different P are listed)."""
    return {experiment: "; ".join(
        f"{model_name(g.model_type)} K={' / '.join('-'.join(map(str, k)) for k in g.K)}: P={g.P}"
        for g in specs)
        for experiment, specs in groups.items()}

