"""The report of the inductive-bias study: one section per question whose numbers are read from
the table (and the analysis), then the conclusion table."""

from __future__ import annotations

import pandas as pd

from scratchlab.studies.base import fmt_pm
from scratchlab.studies.inductive_bias_analysis import Analysis, best_setting
from scratchlab.studies.inductive_bias_diagnosis import HE_VARIANT, spread_drop
from scratchlab.studies.inductive_bias_plan import DATA_SEED_OFFSET, SIZES, Budget
from scratchlab.studies.inductive_bias_table import GROUP, Stat, select, stat, summarize
from scratchlab.studies.inductive_bias_verdicts import MARGIN, best_lr, conclusions
from scratchlab.viz import HtmlReport

QUESTIONS = {
    "q1": "q1 Overfit 10 images per class",
    "q2": "q2 Sample efficiency and edge-detector initialisation",
    "q3": "q3 Training until converged",
    "q4": "q4 Domain shift: edges in the other half of the image",
    "q5": "q5 Pixel permutation",
    "q6": "q6 Five classes; max vs average pooling",
    "q7": "q7 WiderCNN and DeeperCNN",
}


def _s(table: pd.DataFrame, **where: object) -> Stat:
    return stat(table, **where)


def q1_text(table: pd.DataFrame, analysis: Analysis) -> str:
    params = analysis.params
    cnn, mlp = (_s(table, experiment="q1", model=m, metric="train_acc") for m in ("cnn", "mlp"))
    text = (f"q1: with 10 images per class the CNN ({params['cnn']:,} parameters) reaches {cnn} train accuracy "
            f"and the MLP ({params['mlp']:,} parameters) {mlp}.")
    short = analysis.overfit[analysis.overfit["train_acc"] < 100.0]
    if short.empty:
        return text
    runs = [f"{r.model.upper()} seed {r.seed} at {r.train_acc:.1f}% (train loss {r.earlier_train_loss:.3g} "
            f"{r.epochs_back} epochs before the end, {r.final_train_loss:.3g} at the end)" for r in short.itertuples()]
    falling = int((short["final_train_loss"] < 0.99 * short["earlier_train_loss"]).sum())
    why = []
    if falling:
        why.append(f"in {falling} of them the loss was still falling, so the {int(short['epochs'].max())}-epoch "
                   "budget ended before they fit the last images")
    if stalled := len(short) - falling:
        why.append(f"{stalled} had stopped improving (less than 1% lower over that stretch)")
    return text + f" Short of 100%: {'; '.join(runs)}; {'; '.join(why)}."


def q2_text(table: pd.DataFrame) -> list[str]:
    parts = [f"{n}/class CNN {_s(table, experiment='q2', model='cnn', kernel_size=7, images_per_class=n)} "
             f"vs MLP {_s(table, experiment='q2', model='mlp', images_per_class=n)}" for n in SIZES]
    edge = [f"k={k}: edge {_s(table, experiment='q2', model='cnn_edge_init', kernel_size=k, images_per_class=10)} "
            f"vs random {_s(table, experiment='q2', model='cnn', kernel_size=k, images_per_class=10)}" for k in (2, 3, 7)]
    curve = [f"{n}/class edge {_s(table, experiment='q2', model='cnn_edge_init', kernel_size=7, images_per_class=n)}"
             for n in SIZES[1:]]
    return ["q2: validation accuracy " + "; ".join(parts) + ".",
            "q2: frozen edge-detector first layer vs learned one at 10 per class: " + "; ".join(edge)
            + "; with more data (k=7): " + "; ".join(curve) + "."]


def q3_text(table: pd.DataFrame, analysis: Analysis, budget: Budget) -> str:
    conv = analysis.convergence
    parts = []
    for model in ("cnn", "mlp"):
        rows = conv[conv["model"] == model]
        epochs = _s(table, experiment="q3", model=model, metric="epochs")
        parts.append(f"{model.upper()} {_s(table, experiment='q3', model=model)} validation "
                     f"({_s(table, experiment='q3', model=model, metric='train_acc')} train) after "
                     f"{fmt_pm(epochs.mean, epochs.std, 0)} epochs, early stopping ended {int(rows['stopped_early'].sum())} "
                     f"of {len(rows)} runs")
    return (f"q3: trained until the mean train loss stopped improving by more than {budget.q3_min_delta:g} for "
            f"{budget.q3_patience} epochs (at most {budget.q3}), 30 images per class: " + "; ".join(parts) + ".")


def q4_text(table: pd.DataFrame) -> str:
    def s(model: str, k: int | None, cond: str) -> Stat:
        return _s(table, experiment="q4", model=model, kernel_size=k, condition=cond)

    return (f"q4: trained on edges in the first half, validated on edges in the second half: CNN k=7 "
            f"{s('cnn', 7, 'domain_shift')} (unshifted {s('cnn', 7, 'iid')}), CNN k=3 {s('cnn', 3, 'domain_shift')}, "
            f"MLP {s('mlp', None, 'domain_shift')} (unshifted {s('mlp', None, 'iid')}); chance is 33.3%.")


def q5_text(table: pd.DataFrame, analysis: Analysis) -> str:
    def s(model: str, k: int | None, cond: str) -> Stat:
        return _s(table, experiment="q5", model=model, kernel_size=k, condition=cond)

    ks = analysis.kernel_structure
    structure = ""
    if ks.get("iid", Stat(())).n:
        structure = (f" Correlation of neighbouring first-layer weights: {fmt_pm(ks['iid'].mean, ks['iid'].std, 2)} "
                     f"learned on original images, {fmt_pm(ks['permuted'].mean, ks['permuted'].std, 2)} on permuted ones, "
                     f"{fmt_pm(ks['untrained'].mean, ks['untrained'].std, 2)} untrained.")
    return (f"q5: with one fixed pixel permutation (100 per class): CNN k=7 {s('cnn', 7, 'permuted')} "
            f"(original {s('cnn', 7, 'iid')}), CNN k=3 {s('cnn', 3, 'permuted')}, MLP {s('mlp', None, 'permuted')} "
            f"(original {s('mlp', None, 'iid')}).{structure}")


def q6_text(table: pd.DataFrame) -> str:
    cnn, avg, mlp = (_s(table, experiment="q6", model=m) for m in ("cnn", "cnn_avgpool", "mlp"))
    return f"q6: five classes, 100 per class: CNN (max pooling) {cnn}, CNN with average pooling {avg}, MLP {mlp}; chance is 20%."


def q7_text(table: pd.DataFrame, analysis: Analysis) -> list[str]:
    parts = [f"SimpleCNN {_s(table, experiment='q7', model='cnn')}"]
    for model in ("wider_cnn", "deeper_cnn"):
        lrs = sorted(select(table, experiment="q7", model=model)["lr"].unique())
        per_lr = ", ".join(f"lr={lr:g} {_s(table, experiment='q7', model=model, lr=lr)}" for lr in lrs)
        best = best_setting(analysis.search, model)
        choice = "" if best is None else (f"; best of the search lr={best['lr']:g} after {best['epochs']} epochs "
                                          f"{fmt_pm(best['valid_mean'], best['valid_std'])}%")
        parts.append(f"{model} {per_lr}{choice}")
    texts = ["q7: five classes, 30 per class, final validation accuracy: " + "; ".join(parts) + "."]
    trained = analysis.trained[analysis.trained["model"] == "deeper_cnn"]
    if not trained.empty:
        stuck = trained[trained["at_chance"]]
        texts.append(f"q7: {len(stuck)} of {len(trained)} DeeperCNN runs ended at chance (within 10 points of 20%)"
                     + (f"; their dead channels per ReLU layer: {', '.join(d for d in stuck['dead_channels'] if d) or 'none kept'}"
                        if len(stuck) else "") + ".")
    init = analysis.init
    if not init.empty:
        first = init[init["layer"] == 1].set_index("model")
        last = init.groupby("model").last()
        texts.append(
            "q7 diagnosis at initialisation (median over draws): the spread of the last ReLU layer's output across "
            f"images is {last.loc['deeper_cnn', 'spread']:.2g} in DeeperCNN against {last.loc['cnn', 'spread']:.2g} in "
            f"SimpleCNN and {last.loc[HE_VARIANT, 'spread']:.2g} in a He-initialised DeeperCNN (it falls "
            f"{spread_drop(init, 'deeper_cnn'):.0f}x from the first to the last layer, SimpleCNN "
            f"{spread_drop(init, 'cnn'):.0f}x, He {spread_drop(init, HE_VARIANT):.0f}x); DeeperCNN's last layer has "
            f"{last.loc['deeper_cnn', 'dead']:.0%} dead channels on average and every channel dead in "
            f"{last.loc['deeper_cnn', 'all_dead']:.0%} of draws (constant scores in "
            f"{last.loc['deeper_cnn', 'constant_output']:.0%}); its first-layer gradient norm is "
            f"{first.loc['deeper_cnn', 'grad']:.2g} against {first.loc['cnn', 'grad']:.2g} in SimpleCNN.")
    return texts


def findings(table: pd.DataFrame, analysis: Analysis, budget: Budget | None = None) -> list[str]:
    """The study's findings, one or more sentences per question, with numbers read from `table`."""
    from scratchlab.studies.inductive_bias_plan import QUICK

    texts = [q1_text(table, analysis), *q2_text(table), q3_text(table, analysis, budget or QUICK),
             q4_text(table), q5_text(table, analysis), q6_text(table), *q7_text(table, analysis)]
    verdicts = verdict_table(table, analysis)
    counts = verdicts["verdict"].value_counts()
    texts.append("conclusions: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" of {len(verdicts)} hypotheses.")
    return texts


def verdict_table(table: pd.DataFrame, analysis: Analysis) -> pd.DataFrame:
    """The conclusion table: the one `analyse` computed, else computed from `table` now."""
    return analysis.verdicts if analysis.verdicts is not None else conclusions(table, analysis.kernel_structure)


def question_table(table: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """The question's conditions with mean +- std over seeds of train/valid accuracy and epochs."""
    summary = summarize(table[table["experiment"] == experiment])
    out = summary[[c for c in GROUP if c != "experiment"]].copy()
    out["kernel_size"] = [("" if pd.isna(k) else int(k)) for k in out["kernel_size"]]
    for metric, digits in (("train_acc", 1), ("valid_acc", 1), ("epochs", 0)):
        out[metric] = [fmt_pm(m, s, digits) for m, s in zip(summary[f"{metric}_mean"], summary[f"{metric}_std"], strict=True)]
    out["seeds"] = summary["n"]
    return out


EXPLAIN = {
    "q7": ("The question: a published run of DeeperCNN (four 3-filter 7x7 convolutions) stopped at about 22%, "
           "chance level for five classes. The suspected mechanism: PyTorch's default initialisation draws "
           "weights with variance 1/(3 fan_in), a sixth of the 2/fan_in (He) that keeps a ReLU signal's size, so "
           "each layer shrinks the part of the activations that depends on the image while the biases do not "
           "shrink; with only 3 channels a layer is easily all dead. The classifier then sees nearly constant "
           "features, the first layers get tiny gradients, and training sits on a plateau at chance. The "
           "diagnosis below measures this at initialisation (including a He-initialised DeeperCNN as control) "
           "and after training, and the search shows which learning rates and budgets leave the plateau."),
}


def build_report(table: pd.DataFrame, analysis: Analysis, quick: bool, budget: Budget, seeds: list[int]) -> HtmlReport:
    """The study's HTML report: setup, one section per question, then the conclusion table."""
    report = HtmlReport("Inductive bias of CNNs: CNN vs MLP on edge images",
                        subtitle=f"{'quick' if quick else 'full'} mode, seeds {seeds};")
    report.heading("Setup")
    report.paragraph(
        f"SimpleCNN ({analysis.params['cnn']:,} parameters: two convolutions of 3 filters 7x7, max pooling, global "
        f"average pooling, linear layer) against an MLP 784-50-10-3 ({analysis.params['mlp']:,} parameters), on 28x28 "
        f"images of straight edges, SGD with learning rate 1e-2 and momentum 0.9, batch 32 in q1-q2 and 10 afterwards, "
        f"50 validation images per class. Every number is mean +- std over {len(seeds)} seeds; a run with seed s draws "
        f"its images with data seed {DATA_SEED_OFFSET}+s. Epochs: {budget.q12} (q1-q2), at most {budget.q3} (q3), "
        f"{budget.q45} (q4-q5), {budget.q6} (q6), {budget.q7} (q7).")
    texts = findings(table, analysis, budget)
    figures = {
        "q2": ["q2_sample_efficiency", "q2_kernels", "q2_edge_init"], "q3": ["q3_curves"],
        "q4": ["q4_q5_accuracy", "q4_confusion"], "q5": ["q5_kernels"], "q6": ["q6_five_classes"],
        "q7": ["q7_search", "q7_diagnosis"],
    }
    for key, title in QUESTIONS.items():
        report.heading(title)
        for text in texts:
            if text.startswith(f"{key}:") or text.startswith(f"{key} "):
                report.paragraph(text)
        if key in EXPLAIN:
            report.paragraph(EXPLAIN[key])
        report.table(question_table(table, key))
        if key == "q7":
            report.table(analysis.search, float_format="{:.3g}")
            report.table(analysis.trained)
            if not analysis.init.empty:
                report.table(analysis.init, float_format="{:.3g}")
        for name in figures.get(key, []):
            if name in analysis.figures:
                report.figure(analysis.figures[name], alt=name, close=False)
    report.heading("Conclusions")
    report.table(verdict_table(table, analysis))
    report.paragraph(f"A difference counts when it exceeds {MARGIN:g} points and twice its standard error over seeds "
                     "(10 points for 'at chance'); a smaller one is 'no difference', which supports a hypothesis that "
                     "predicts none and is otherwise inconclusive.")
    return report


__all__ = ["QUESTIONS", "best_lr", "build_report", "findings", "question_table", "verdict_table"]
