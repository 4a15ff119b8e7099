"""The study's findings and HTML report: a section per question, then the conclusion table."""

from __future__ import annotations

import pandas as pd

from scratchlab.util.stats import fmt_pm
from scratchlab.viz import HtmlReport

from .analysis import Analysis
from .diagnosis import HE_VARIANT, spread_drop
from .plan import DATA_SEED_OFFSET, SIZES, Budget
from .table import GROUP, Stat, per_lr, stat, summarize
from .verdicts import MARGIN

# question -> section title and its figures
QUESTIONS = {
    "q1": ("Overfit 10 images per class", []),
    "q2": ("Sample efficiency and edge-detector initialisation",
           ["q2_sample_efficiency", "q2_kernels", "q2_edge_init"]),
    "q3": ("Training until converged", ["q3_curves"]),
    "q4": ("Domain shift: edges in the other half of the image",
           ["q4_q5_accuracy", "q4_confusion"]),
    "q5": ("Pixel permutation", ["q5_kernels"]),
    "q6": ("Five classes; max vs average pooling", ["q6_five_classes"]),
    "q7": ("WiderCNN and DeeperCNN", ["q7_search", "q7_diagnosis"]),
}
Q7_QUESTION = (
    "The question: a published run of DeeperCNN (four 3-filter 7x7 convolutions) stopped at about "
    "22%, chance level for five classes. The suspected mechanism: PyTorch's default "
    "initialisation draws weights with variance 1/(3 fan_in), a sixth of the 2/fan_in (He) that "
    "keeps a ReLU signal's size, so each layer shrinks the part of the activations that depends "
    "on the image while the biases do not shrink; with only 3 channels a layer is easily all "
    "dead. The classifier then sees nearly constant features, the first layers get tiny "
    "gradients, and training sits on a plateau at chance. The diagnosis below measures this at "
    "initialisation (including a He-initialised DeeperCNN as control) and after training, and "
    "the search shows which learning rates and budgets leave the plateau.")


def q1_text(table: pd.DataFrame, analysis: Analysis) -> str:
    params = analysis.params
    cnn, mlp = (stat(table, "q1", m, metric="train_acc") for m in ("cnn", "mlp"))
    text = (f"q1: with 10 images per class the CNN ({params['cnn']:,} parameters) reaches {cnn} "
            f"train accuracy and the MLP ({params['mlp']:,} parameters) {mlp}.")
    short = analysis.overfit[analysis.overfit["train_acc"] < 100.0]
    if short.empty:
        return text
    runs = [f"{r.model.upper()} seed {r.seed} at {r.train_acc:.1f}% (train loss "
            f"{r.earlier_train_loss:.3g} {r.epochs_back} epochs before the end, "
            f"{r.final_train_loss:.3g} at the end)" for r in short.itertuples()]
    falling = int((short["final_train_loss"] < 0.99 * short["earlier_train_loss"]).sum())
    why = []
    if falling:
        why.append(f"in {falling} of them the loss was still falling, so the "
                   f"{int(short['epochs'].max())}-epoch budget ended before they fit the last "
                   "images")
    if stalled := len(short) - falling:
        why.append(f"{stalled} had stopped improving (less than 1% lower over that stretch)")
    return text + f" Short of 100%: {'; '.join(runs)}; {'; '.join(why)}."


def q2_text(table: pd.DataFrame) -> list[str]:
    def s(model: str, k: int | None, n: int) -> Stat:
        return stat(table, "q2", model, kernel_size=k, images_per_class=n)

    parts = [f"{n}/class CNN {s('cnn', 7, n)} vs MLP {s('mlp', None, n)}" for n in SIZES]
    edge = [f"k={k}: edge {s('cnn_edge_init', k, 10)} vs random {s('cnn', k, 10)}"
            for k in (2, 3, 7)]
    curve = [f"{n}/class edge {s('cnn_edge_init', 7, n)}" for n in SIZES[1:]]
    return ["q2: validation accuracy " + "; ".join(parts) + ".",
            "q2: frozen edge-detector first layer vs learned one at 10 per class: "
            + "; ".join(edge) + "; with more data (k=7): " + "; ".join(curve) + "."]


def q3_text(table: pd.DataFrame, analysis: Analysis, budget: Budget) -> str:
    parts = []
    for model in ("cnn", "mlp"):
        stopped = analysis.convergence[analysis.convergence["model"] == model]["stopped_early"]
        epochs = stat(table, "q3", model, metric="epochs")
        parts.append(f"{model.upper()} {stat(table, 'q3', model)} validation "
                     f"({stat(table, 'q3', model, metric='train_acc')} train) after "
                     f"{fmt_pm(epochs.mean, epochs.std, 0)} epochs, early stopping ended "
                     f"{int(stopped.sum())} of {len(stopped)} runs")
    return (f"q3: trained until the mean train loss stopped improving by more than "
            f"{budget.q3_min_delta:g} for {budget.q3_patience} epochs (at most {budget.q3}), 30 "
            "images per class: " + "; ".join(parts) + ".")


def q45_text(table: pd.DataFrame, analysis: Analysis) -> list[str]:
    def s(exp: str, model: str, k: int | None, cond: str) -> Stat:
        return stat(table, exp, model, kernel_size=k, condition=cond)

    q4 = (f"q4: trained on edges in the first half, validated on edges in the second half: CNN "
          f"k=7 {s('q4', 'cnn', 7, 'domain_shift')} (unshifted {s('q4', 'cnn', 7, 'iid')}), CNN "
          f"k=3 {s('q4', 'cnn', 3, 'domain_shift')}, MLP {s('q4', 'mlp', None, 'domain_shift')} "
          f"(unshifted {s('q4', 'mlp', None, 'iid')}); chance is 33.3%.")
    ks = analysis.kernel_structure
    structure = "" if not ks.get("iid", Stat(())).n else (
        " Correlation of neighbouring first-layer weights: "
        + ", ".join(f"{fmt_pm(ks[k].mean, ks[k].std, 2)} {what}" for k, what in (
            ("iid", "learned on original images"), ("permuted", "on permuted ones"),
            ("untrained", "untrained"))) + ".")
    q5 = (f"q5: with one fixed pixel permutation (100 per class): CNN k=7 "
          f"{s('q5', 'cnn', 7, 'permuted')} (original {s('q5', 'cnn', 7, 'iid')}), CNN k=3 "
          f"{s('q5', 'cnn', 3, 'permuted')}, MLP {s('q5', 'mlp', None, 'permuted')} (original "
          f"{s('q5', 'mlp', None, 'iid')}).{structure}")
    return [q4, q5]


def q6_text(table: pd.DataFrame) -> str:
    cnn, avg, mlp = (stat(table, "q6", m) for m in ("cnn", "cnn_avgpool", "mlp"))
    return (f"q6: five classes, 100 per class: CNN (max pooling) {cnn}, CNN with average pooling "
            f"{avg}, MLP {mlp}; chance is 20%.")


def q7_text(table: pd.DataFrame, analysis: Analysis) -> list[str]:
    parts = [f"SimpleCNN {stat(table, 'q7', 'cnn')}"]
    for model in ("wider_cnn", "deeper_cnn"):
        text = f"{model} " + ", ".join(f"lr={lr:g} {s}" for lr, s in per_lr(table, model).items())
        search = analysis.search[analysis.search["model"] == model].dropna(subset="valid_mean")
        if not search.empty:  # the setting with the best mean validation accuracy
            best = search.loc[search["valid_mean"].idxmax()]
            text += (f"; best of the search lr={best['lr']:g} after {best['epochs']} epochs "
                     f"{fmt_pm(best['valid_mean'], best['valid_std'])}%")
        parts.append(text)
    texts = [f"q7: five classes, 30 per class, final validation accuracy: {'; '.join(parts)}."]
    trained = analysis.trained[analysis.trained["model"] == "deeper_cnn"]
    if not trained.empty:
        stuck = trained[trained["at_chance"]]
        dead = ", ".join(d for d in stuck["dead_channels"] if d) or "none kept"
        texts.append(f"q7: {len(stuck)} of {len(trained)} DeeperCNN runs ended at chance (within "
                     "10 points of 20%)" + (f"; their dead channels per ReLU layer: {dead}"
                                            if len(stuck) else "") + ".")
    if not analysis.init.empty:
        texts.append(q7_diagnosis_text(analysis.init))
    return texts


def q7_diagnosis_text(init: pd.DataFrame) -> str:
    first, last = init[init["layer"] == 1].set_index("model"), init.groupby("model").last()
    deeper = last.loc["deeper_cnn"]
    return (
        "q7 diagnosis at initialisation (median over draws): the spread of the last ReLU layer's "
        f"output across images is {deeper['spread']:.2g} in DeeperCNN against "
        f"{last.loc['cnn', 'spread']:.2g} in SimpleCNN and {last.loc[HE_VARIANT, 'spread']:.2g} "
        f"in a He-initialised DeeperCNN (it falls {spread_drop(init, 'deeper_cnn'):.0f}x from the "
        f"first to the last layer, SimpleCNN {spread_drop(init, 'cnn'):.0f}x, He "
        f"{spread_drop(init, HE_VARIANT):.0f}x); DeeperCNN's last layer has {deeper['dead']:.0%} "
        f"dead channels on average and every channel dead in {deeper['all_dead']:.0%} of draws "
        f"(constant scores in {deeper['constant_output']:.0%}); its first-layer gradient norm is "
        f"{first.loc['deeper_cnn', 'grad']:.2g} against {first.loc['cnn', 'grad']:.2g} in "
        "SimpleCNN.")


def findings(table: pd.DataFrame, analysis: Analysis, budget: Budget) -> list[str]:
    """The study's findings: sentences per question, then a count of the verdicts."""
    texts = [q1_text(table, analysis), *q2_text(table), q3_text(table, analysis, budget),
             *q45_text(table, analysis), q6_text(table), *q7_text(table, analysis)]
    counts = analysis.verdicts["verdict"].value_counts()
    unfinished = table[table["status"] != "ok"]
    if len(unfinished):  # left out of every mean above
        texts.insert(0, f"{len(unfinished)} of {len(table)} runs did not finish and are left out "
                        f"of every mean and figure (e.g. {unfinished['run_name'].iloc[0]}: "
                        f"{unfinished['status'].iloc[0]}).")
    return [*texts, "conclusions: " + ", ".join(f"{n} {v}" for v, n in counts.items())
            + f" of {len(analysis.verdicts)} hypotheses."]


def question_table(table: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """The question's conditions with mean +- std over seeds of train/valid accuracy and epochs."""
    summary = summarize(table[table["experiment"] == experiment])
    out = summary[GROUP[1:]].copy()
    out["kernel_size"] = [("" if pd.isna(k) else int(k)) for k in out["kernel_size"]]
    for metric, digits in (("train_acc", 1), ("valid_acc", 1), ("epochs", 0)):
        out[metric] = [fmt_pm(m, s, digits) for m, s in zip(
            summary[f"{metric}_mean"], summary[f"{metric}_std"], strict=True)]
    out["seeds"] = summary["n"]
    return out


def build_report(table: pd.DataFrame, analysis: Analysis, texts: list[str], quick: bool,
                 budget: Budget, seeds: list[int]) -> HtmlReport:
    """The study's HTML report: setup, one section per question, then the conclusion table."""
    report = HtmlReport("Inductive bias of CNNs: CNN vs MLP on edge images",
                        subtitle=f"{'quick' if quick else 'full'} mode, seeds {seeds};")
    report.heading("Setup").paragraph(
        f"SimpleCNN ({analysis.params['cnn']:,} parameters: two convolutions of 3 filters 7x7, "
        "max pooling, global average pooling, linear layer) against an MLP 784-50-10-3 "
        f"({analysis.params['mlp']:,} parameters), on 28x28 images of straight edges, SGD with "
        "learning rate 1e-2 and momentum 0.9, batch 32 in q1-q2 and 10 afterwards, 50 validation "
        f"images per class. Every number is mean +- std over {len(seeds)} seeds; a run with seed "
        f"s draws its images with data seed {DATA_SEED_OFFSET}+s. Epochs: {budget.q12} (q1-q2), "
        f"at most {budget.q3} (q3), {budget.q45} (q4-q5), {budget.q6} (q6), {budget.q7} (q7).")
    for key, (title, figures) in QUESTIONS.items():
        report.heading(f"{key} {title}")
        for text in (t for t in texts if t.startswith((f"{key}:", f"{key} "))):
            report.paragraph(text)
        if key == "q7":
            report.paragraph(Q7_QUESTION)
        report.table(question_table(table, key))
        if key == "q7":
            report.table(analysis.search, float_format="{:.3g}").table(analysis.trained)
            if not analysis.init.empty:
                report.table(analysis.init, float_format="{:.3g}")
        for name in (n for n in figures if n in analysis.figures):
            report.figure(analysis.figures[name], alt=name, close=False)
    report.heading("Conclusions").table(analysis.verdicts)
    return report.paragraph(
        f"A difference counts when it exceeds {MARGIN:g} points (10 points for 'at chance') and "
        "the two 95% confidence intervals over seeds do not overlap. Otherwise the verdict "
        "weighs every reading the gap's range (the gap plus or minus both intervals) leaves "
        "open: lower, the same (within those points) or higher. A hypothesis is supported when "
        "every open reading is one it predicts, contradicted when every one rules it out, and "
        "inconclusive otherwise.")
