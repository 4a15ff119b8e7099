"""The conclusion table: hypothesis, prediction, measurement and a verdict computed from them."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from scratchlab.util.stats import compare

from .table import Stat, per_lr, stat

MARGIN = 2.0  # accuracy points below which a difference is not called a difference
COLUMNS = ["hypothesis", "experiment", "expected if the hypothesis holds", "measured", "verdict"]
NONE = Stat(())


def difference(a: Stat, b: Stat | float, margin: float = MARGIN) -> str:
    """What the numbers allow of a against b: `higher` or `lower` (a gap beyond `margin`, the
    95% intervals over seeds apart), else the readings the gap's range (the gap plus or minus
    both intervals) leaves open, among `lower`, `same` (within `margin`) and `higher`, joined by
    " or " (one seed: no interval, every reading open); `no data` without numbers. `b` may be a
    known number (chance), with no interval of its own."""
    known = not isinstance(b, Stat)
    if not a.n or (not known and not b.n):
        return "no data"
    b_values = [b] * 2 if known else list(b.values)  # two equal values: an interval of width 0
    comparison = compare(list(a.values), b_values)
    gap = comparison.difference
    if not math.isfinite(gap):
        return "no data"
    if abs(gap) > margin and not comparison.overlap:
        return "higher" if gap > 0 else "lower"
    spread = comparison.ci_a + comparison.ci_b
    spread = math.inf if math.isnan(spread) else spread
    open_readings = (("lower", gap - spread < -margin), ("same", True),
                     ("higher", gap + spread > margin))
    return " or ".join(reading for reading, possible in open_readings if possible)


def verdict_from(outcome: str, supported: tuple[str, ...], contradicted: tuple[str, ...]) -> str:
    """`supported` when every reading `outcome` leaves open ("same or higher": both) is one the
    hypothesis predicts, `contradicted` when every one contradicts it, else `inconclusive`."""
    if outcome == "no data":
        return "no data"
    readings = outcome.split(" or ")
    if all(r in supported for r in readings):
        return "supported"
    return "contradicted" if all(r in contradicted for r in readings) else "inconclusive"


def reached(s: Stat, threshold: float) -> str:
    """The verdict of a sanity check: `supported` when the mean reaches `threshold`."""
    return "no data" if not s.n else ("supported" if s.mean >= threshold else "not reached")


def conclusions(table: pd.DataFrame,
                kernel_structure: Mapping[str, Stat] | None = None) -> pd.DataFrame:
    """One row per hypothesis, computed from `table` (and the kernel structure of q5 if given)."""
    rows: list[list[str]] = []

    def add(hypothesis: str, exp: str, expected: str, a: tuple[str, Stat], b: tuple[str, Stat],
            supported: tuple[str, ...], contradicted: tuple[str, ...],
            margin: float = MARGIN) -> None:
        measured = f"{a[0]} {a[1]} vs {b[0]} {b[1]}"
        verdict = verdict_from(difference(a[1], b[1], margin), supported, contradicted)
        rows.append([hypothesis, exp, expected, measured, verdict])

    cnn1, mlp1 = (stat(table, "q1", m, metric="train_acc") for m in ("cnn", "mlp"))
    fits = reached(Stat((min(cnn1.mean, mlp1.mean),)) if cnn1.n and mlp1.n else NONE, 99.0)
    rows.append(["Both models can fit 10 images per class", "q1", "train accuracy 100% for both",
                 f"train: CNN {cnn1} vs MLP {mlp1}", fits])
    small = [(n, stat(table, "q2", "cnn", kernel_size=7, images_per_class=n),
              stat(table, "q2", "mlp", images_per_class=n)) for n in (10, 30)]
    outcomes = {difference(c, m) for _, c, m in small}
    rows.append(["Locality and weight sharing make the CNN more sample-efficient", "q2",
                 "CNN above MLP at 10 and 30 images per class",
                 "; ".join(f"{n}/class: CNN {c} vs MLP {m}" for n, c, m in small),
                 verdict_from(outcomes.pop() if len(outcomes) == 1 else "mixed", ("higher",),
                              ("lower",))])
    edge, rand = (stat(table, "q2", m, kernel_size=7, images_per_class=10)
                  for m in ("cnn_edge_init", "cnn"))
    add("Edge detectors are the right first layer for this task", "q2",
        "frozen edge-detector first layer at least as good as a learned one (10 per class)",
        ("edge init", edge), ("random init", rand), ("higher", "same"), ("lower",))
    cnn3 = stat(table, "q3", "cnn")
    rows.append(["Trained to convergence, the CNN reaches 95% with 30 images per class", "q3",
                 "CNN validation accuracy >= 95%", f"CNN {cnn3}", reached(cnn3, 95.0)])

    cnn4, mlp4 = (stat(table, "q4", m, kernel_size=k, condition="domain_shift")
                  for m, k in (("cnn", 7), ("mlp", None)))
    add("Translation equivariance: the CNN recognises edges in positions it never saw", "q4",
        "CNN well above the MLP when validation edges lie in the other half",
        ("CNN", cnn4), ("MLP", mlp4), ("higher",), ("lower", "same"))
    rows.append(["An MLP has no such equivariance", "q4", "MLP at chance (33%) under domain shift",
                 f"MLP {mlp4}", verdict_from(difference(mlp4, 100 / 3, margin=10.0),
                                             ("same", "lower"), ("higher",))])
    cnn5, mlp5 = (stat(table, "q5", m, kernel_size=k, condition="permuted")
                  for m, k in (("cnn", 7), ("mlp", None)))
    add("The CNN's advantage needs spatial structure (locality)", "q5",
        "with permuted pixels the MLP at least matches the CNN (100 per class)",
        ("MLP", mlp5), ("CNN", cnn5), ("higher", "same"), ("lower",))
    add("Permuting pixels hurts the CNN", "q5", "CNN lower on permuted than on original images",
        ("permuted", cnn5), ("original", stat(table, "q5", "cnn", kernel_size=7,
                                              condition="iid")), ("lower",), ("higher", "same"))
    add("Permuting pixels does not matter to the MLP", "q5",
        "MLP the same on permuted and original images", ("permuted", mlp5),
        ("original", stat(table, "q5", "mlp", condition="iid")), ("same",), ("lower", "higher"))
    if kernel_structure:
        add("Learned kernels are structured only when the image is", "q5",
            "neighbouring kernel weights correlate on original images, less on permuted ones",
            ("neighbour correlation original", kernel_structure.get("iid", NONE)),
            ("permuted", kernel_structure.get("permuted", NONE)), ("higher",), ("lower", "same"),
            margin=0.1)
        if rows[-1][-1] == "no data":  # runs in the table, but their weights were not kept
            rows[-1][3] = ("the q5 runs' weights are not in runs/checkpoints (a packed results "
                           "folder keeps none), so their kernels cannot be read")

    cnn6, mlp6, avg6 = (stat(table, "q6", m) for m in ("cnn", "mlp", "cnn_avgpool"))
    add("The CNN's advantage holds with five classes", "q6",
        "CNN above MLP (five classes, 100 per class)", ("CNN", cnn6), ("MLP", mlp6),
        ("higher",), ("lower", "same"))
    add("Max pooling suits edge detection better than average pooling", "q6",
        "max pooling above average pooling", ("max", cnn6), ("avg", avg6), ("higher",),
        ("lower",))
    for model, what in (("wider_cnn", "More filters"), ("deeper_cnn", "More layers")):
        best = max(per_lr(table, model).values(), key=lambda s: s.mean, default=Stat((), "%"))
        add(f"{what} help on five classes with 30 images per class", "q7",
            f"{model} (best learning rate) above SimpleCNN", (model, best),
            ("SimpleCNN", stat(table, "q7", "cnn")), ("higher",), ("lower",))
    return pd.DataFrame(rows, columns=COLUMNS)
