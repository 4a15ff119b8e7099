"""The conclusion table: each hypothesis, what it predicts, what was measured and a verdict that
is computed from the numbers (never typed)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from scratchlab.studies.inductive_bias_table import Stat, select, stat

MARGIN = 2.0  # accuracy points below which a difference is not called a difference
COLUMNS = ["hypothesis", "experiment", "expected if the hypothesis holds", "measured", "verdict"]


def difference(a: Stat, b: Stat, margin: float = MARGIN) -> str:
    """`higher`, `lower` or `same` for a's mean against b's: a difference counts when it exceeds
    both `margin` and twice its standard error over seeds; `no data` without values."""
    if not a.n or not b.n:
        return "no data"
    se = math.sqrt(a.std**2 / a.n + b.std**2 / b.n)
    diff = a.mean - b.mean
    if abs(diff) <= max(margin, 2 * se):
        return "same"
    return "higher" if diff > 0 else "lower"


def verdict_from(outcome: str, supported: tuple[str, ...], contradicted: tuple[str, ...]) -> str:
    if outcome == "no data":
        return "no data"
    if outcome in supported:
        return "supported"
    return "contradicted" if outcome in contradicted else "inconclusive"


def best_lr(table: pd.DataFrame, model: str, experiment: str = "q7") -> Stat:
    """The seeds of the learning rate with the best mean validation accuracy."""
    rows = select(table, experiment=experiment, model=model)
    if rows.empty:
        return Stat(())
    lr = rows.groupby("lr")["valid_acc"].mean().idxmax()
    return stat(table, experiment=experiment, model=model, lr=lr)


def _versus(a_name: str, a: Stat, b_name: str, b: Stat) -> str:
    return f"{a_name} {a} vs {b_name} {b}"


def conclusions(table: pd.DataFrame, kernel_structure: Mapping[str, Stat] | None = None) -> pd.DataFrame:
    """One row per hypothesis, computed from `table` (and the kernel structure of q5 if given)."""
    rows: list[list[str]] = []

    def add(hypothesis: str, experiment: str, expected: str, measured: str, verdict: str) -> None:
        rows.append([hypothesis, experiment, expected, measured, verdict])

    def s(**where: object) -> Stat:
        return stat(table, **where)

    cnn1, mlp1 = s(experiment="q1", model="cnn", metric="train_acc"), s(experiment="q1", model="mlp", metric="train_acc")
    fits = "no data" if not cnn1.n or not mlp1.n else ("supported" if min(cnn1.mean, mlp1.mean) >= 99.0 else "not reached")
    add("Both models can fit 10 images per class", "q1", "train accuracy 100% for both",
        "train: " + _versus("CNN", cnn1, "MLP", mlp1), fits)

    small = [(n, s(experiment="q2", model="cnn", kernel_size=7, images_per_class=n),
              s(experiment="q2", model="mlp", images_per_class=n)) for n in (10, 30)]
    outcomes = {difference(c, m) for _, c, m in small}
    verdict = verdict_from(outcomes.pop() if len(outcomes) == 1 else "mixed", ("higher",), ("lower",))
    add("Locality and weight sharing make the CNN more sample-efficient", "q2",
        "CNN above MLP at 10 and 30 images per class",
        "; ".join(f"{n}/class: " + _versus("CNN", c, "MLP", m) for n, c, m in small), verdict)

    edge, rand = (s(experiment="q2", model=m, kernel_size=7, images_per_class=10) for m in ("cnn_edge_init", "cnn"))
    add("Edge detectors are the right first layer for this task", "q2",
        "frozen edge-detector first layer at least as good as a learned one (10 per class)",
        _versus("edge init", edge, "random init", rand), verdict_from(difference(edge, rand), ("higher", "same"), ("lower",)))

    cnn3 = s(experiment="q3", model="cnn")
    add("Trained to convergence, the CNN reaches 95% with 30 images per class", "q3",
        "CNN validation accuracy >= 95%", f"CNN {cnn3}",
        "no data" if not cnn3.n else ("supported" if cnn3.mean >= 95.0 else "not reached"))

    cnn4, mlp4 = (s(experiment="q4", model=m, kernel_size=k, condition="domain_shift") for m, k in (("cnn", 7), ("mlp", None)))
    add("Translation equivariance: the CNN recognises edges in positions it never saw", "q4",
        "CNN well above the MLP when validation edges lie in the other half",
        _versus("CNN", cnn4, "MLP", mlp4), verdict_from(difference(cnn4, mlp4), ("higher",), ("lower", "same")))
    chance = Stat((100 / 3,))
    add("An MLP has no such equivariance", "q4", "MLP at chance (33%) under domain shift", f"MLP {mlp4}",
        verdict_from(difference(mlp4, chance, margin=10.0), ("same", "lower"), ("higher",)))

    cnn5, mlp5 = (s(experiment="q5", model=m, kernel_size=k, condition="permuted") for m, k in (("cnn", 7), ("mlp", None)))
    add("The CNN's advantage needs spatial structure (locality)", "q5",
        "with permuted pixels the MLP at least matches the CNN (100 per class)",
        _versus("MLP", mlp5, "CNN", cnn5), verdict_from(difference(mlp5, cnn5), ("higher", "same"), ("lower",)))
    cnn_iid = s(experiment="q5", model="cnn", kernel_size=7, condition="iid")
    add("Permuting pixels hurts the CNN", "q5", "CNN lower on permuted than on original images",
        _versus("permuted", cnn5, "original", cnn_iid), verdict_from(difference(cnn5, cnn_iid), ("lower",), ("higher", "same")))
    mlp_iid = s(experiment="q5", model="mlp", condition="iid")
    add("Permuting pixels does not matter to the MLP", "q5", "MLP the same on permuted and original images",
        _versus("permuted", mlp5, "original", mlp_iid), verdict_from(difference(mlp5, mlp_iid), ("same",), ("lower", "higher")))
    if kernel_structure:
        structured, permuted = kernel_structure.get("iid", Stat(())), kernel_structure.get("permuted", Stat(()))
        add("Learned kernels are structured only when the image is", "q5",
            "neighbouring kernel weights correlate on original images, less on permuted ones",
            "neighbour correlation " + _versus("original", structured, "permuted", permuted).replace("%", ""),
            verdict_from(difference(structured, permuted, margin=0.1), ("higher",), ("lower", "same")))

    cnn6, mlp6, avg6 = (s(experiment="q6", model=m) for m in ("cnn", "mlp", "cnn_avgpool"))
    add("The CNN's advantage holds with five classes", "q6", "CNN above MLP (five classes, 100 per class)",
        _versus("CNN", cnn6, "MLP", mlp6), verdict_from(difference(cnn6, mlp6), ("higher",), ("lower", "same")))
    add("Max pooling suits edge detection better than average pooling", "q6", "max pooling above average pooling",
        _versus("max", cnn6, "avg", avg6), verdict_from(difference(cnn6, avg6), ("higher",), ("lower",)))

    base = s(experiment="q7", model="cnn")
    for model, what in (("wider_cnn", "More filters"), ("deeper_cnn", "More layers")):
        best = best_lr(table, model)
        add(f"{what} help on five classes with 30 images per class", "q7",
            f"{model} (best learning rate) above SimpleCNN", _versus(model, best, "SimpleCNN", base),
            verdict_from(difference(best, base), ("higher",), ("lower",)))
    return pd.DataFrame(rows, columns=COLUMNS)
