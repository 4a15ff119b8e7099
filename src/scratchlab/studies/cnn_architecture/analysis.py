"""The CNN architecture study's analysis: its table, summary and findings, from the run records."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from scratchlab.experiments import RunRecord
from scratchlab.training import FitResult
from scratchlab.util.stats import fmt_pm, mean_std

FAIL_ACC = 15.0  # best test accuracy (percent) under which a run "did not train"; chance is 10%
GOAL_ACC = 85.0  # what YourCNN aims for within the epoch budget
SUMMARY_KEYS = ["best_test_acc", "epochs_to_best", "epochs", "final_test_acc", "final_train_acc",
                "params", "flops"]
NUMBERS = [*SUMMARY_KEYS, "train_seconds"]
COLUMNS = ["experiment", "run_name", "model_type", "K", "L", "P", "depth", "seed", "status",
           *NUMBERS, "error"]
GROUP = ["experiment", "model_type", "K", "L", "P", "depth"]
MODEL_NAMES = {"cnn": "CNN", "resnet": "ResNet", "yourcnn": "YourCNN"}


def row(record: RunRecord) -> dict[str, Any]:
    """One table row: the run's architecture, seed, status and summary numbers."""
    c, m = record.config, record.config.model
    experiment = c.run_name.split(f"_L{m.layers_per_block}_K")[0]  # exp1_3_L2_K64-128_s1: exp1_3
    return {
        "experiment": experiment, "run_name": c.run_name, "model_type": m.model_type,
        "K": "-".join(map(str, m.filters_per_layer)), "L": m.layers_per_block,
        "P": m.pool_every, "depth": m.layers_per_block * len(m.filters_per_layer),
        "seed": c.seed, "status": record.status,
        **{key: record.summary.get(key, math.nan) for key in SUMMARY_KEYS},
        "train_seconds": record.timings.train_seconds, "error": record.error,
    }


def results_table(records: list[RunRecord]) -> tuple[pd.DataFrame, dict[str, FitResult]]:
    """One row per (run, seed), and each finished run's history by run name."""
    table = pd.DataFrame([row(r) for r in records], columns=COLUMNS)
    table[NUMBERS] = table[NUMBERS].apply(pd.to_numeric, errors="coerce")
    return table, {r.config.run_name: r.fit for r in records if r.fit is not None}


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of best accuracy, epochs to best and time, with params and FLOPs."""
    ok = table[table["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame(columns=[*GROUP, "best_test_acc_mean", "best_test_acc_std", "n"])
    stats = mean_std(ok, GROUP, ["best_test_acc", "epochs_to_best", "train_seconds"])
    sizes = ok.groupby(GROUP, sort=False)[["params", "flops"]].first().reset_index()
    return stats.merge(sizes, on=GROUP, how="left")


def label(row: Any) -> str:
    """`exp1_1 L16 K32` (the run group of a table or summary row)."""
    return f"{row['experiment']} L{row['L']} K{row['K']}"


def model_name(model_type: str) -> str:
    """`CNN`, `ResNet` or `YourCNN` (another family by its model_type)."""
    return MODEL_NAMES.get(model_type, model_type)


def _pm(row: Any) -> str:
    return f"{fmt_pm(row['acc'], row['std'])}%"


def _family(groups: pd.DataFrame, model_type: str) -> pd.DataFrame:
    return groups[groups["model_type"] == model_type]


def _best(groups: pd.DataFrame, model_type: str) -> Any:
    rows = _family(groups, model_type)
    return None if rows.empty else rows.loc[rows["acc"].idxmax()]


def findings(table: pd.DataFrame) -> list[str]:
    """Findings in words, every number and name computed from `table`."""
    table = table.assign(K=table["K"].astype(str))  # e.g. read back from table.csv: 32 is an int
    groups = summarize(table).rename(columns={"best_test_acc_mean": "acc",
                                              "best_test_acc_std": "std"})
    if groups.empty:
        return ["No run finished, so there is nothing to compare yet."]
    out = [_failures(groups), *_resnet_effect(groups), *_best_configs(groups),
           *_yourcnn(groups, table), _epochs(table)]
    failed_runs = table[table["status"] != "ok"]
    if not failed_runs.empty:
        out.append(f"{len(failed_runs)} run(s) stopped with an error: "
                   + ", ".join(failed_runs["run_name"]) + ".")
    return out


def _failures(groups: pd.DataFrame) -> str:
    failed = groups[groups["acc"] < FAIL_ACC]
    if failed.empty:
        worst = groups.loc[groups["acc"].idxmin()]
        return (f"Every configuration trained: the lowest best accuracy is {_pm(worst)} "
                f"({model_name(worst['model_type'])} {label(worst)}).")
    names = ", ".join(f"{model_name(r['model_type'])} {label(r)} ({r['acc']:.1f}%)"
                      for _, r in failed.iterrows())
    text = f"Did not train (best accuracy under {FAIL_ACC:.0f}%, chance is 10%): {names}."
    limits = []
    for (experiment, K), rows in _family(groups, "cnn").groupby(["experiment", "K"], sort=False):
        bad = rows[rows["acc"] < FAIL_ACC]["L"]
        if not bad.empty:
            good = rows[(rows["acc"] >= FAIL_ACC) & (rows["L"] < bad.min())]
            still = "" if good.empty else (f"; L={good['L'].max()} still reaches "
                                           f"{good.loc[good['L'].idxmax(), 'acc']:.1f}%")
            limits.append(f"{experiment} K={K} fails from L={bad.min()}{still}")
    return text + (" Plain CNNs: " + "; ".join(limits) + "." if limits else "")


def _resnet_effect(groups: pd.DataFrame) -> list[str]:
    cnn, res = _family(groups, "cnn"), _family(groups, "resnet")
    if res.empty or cnn.empty:
        return []
    deep_res, deep_cnn = (rows.loc[rows["depth"].idxmax()] for rows in (res, cnn))
    compare = (f"The deepest ResNet ({label(deep_res)}, {deep_res['depth']} conv layers) reaches "
               f"{_pm(deep_res)}; the deepest CNN ({label(deep_cnn)}, {deep_cnn['depth']} "
               f"layers) reaches {_pm(deep_cnn)}.")
    failed = cnn[cnn["acc"] < FAIL_ACC]
    if failed.empty:
        return [f"No plain CNN failed, so depth alone does not separate ResNet from CNN here. "
                f"{compare}"]
    limit = int(failed["depth"].min())
    deep = res[res["depth"] >= limit]
    if deep.empty:
        return [f"Plain CNNs fail from {limit} conv layers, but no ResNet run is that deep. "
                f"{compare}"]
    trained = deep[deep["acc"] >= FAIL_ACC]
    verdict = "fix this" if len(trained) == len(deep) else (
        "help only partly" if len(trained) else "do not fix this")
    return [f"Residual connections {verdict}: plain CNNs fail from {limit} conv layers, while "
            f"ResNet trains in {len(trained)} of {len(deep)} runs with {limit} or more layers. "
            f"{compare}"]


def _best_configs(groups: pd.DataFrame) -> list[str]:
    out = []
    best = _best(groups, "cnn")
    if best is not None:
        cnn = _family(groups, "cnn")
        per_exp = [label(rows.loc[rows["acc"].idxmax()]) + f" ({rows['acc'].max():.1f}%)"
                   for _, rows in cnn.groupby("experiment", sort=False)]
        out.append(f"Best CNN: {label(best)} with {_pm(best)} (K={best['K']}, L={best['L']}, "
                   f"{best['depth']} conv layers); best per experiment: {', '.join(per_exp)}.")
        out += _width_effect(cnn)
    best = _best(groups, "resnet")
    if best is not None:
        out.append(f"Best ResNet: {label(best)} with {_pm(best)} (K={best['K']}, L={best['L']}).")
    return out


def _width_effect(cnn: pd.DataFrame) -> list[str]:
    """Whether the widest single-K net wins at each depth (the experiment varying K)."""
    for experiment, rows in cnn.groupby("experiment", sort=False):
        if rows["K"].nunique() < 3 or rows["K"].str.contains("-").any():
            continue
        widths = rows.assign(width=rows["K"].astype(int))
        wins = [int(r.loc[r["acc"].idxmax(), "width"]) for _, r in widths.groupby("L", sort=True)]
        widest = int(widths["width"].max())
        n = sum(w == widest for w in wins)
        return [f"Width ({experiment}): the widest K={widest} is best at {n} of {len(wins)} "
                f"depths (winners by L: {', '.join(f'K={w}' for w in wins)})."]
    return []


def _yourcnn(groups: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    best = _best(groups, "yourcnn")
    if best is None:
        return []
    parts = [f"Best YourCNN: {label(best)} with {_pm(best)}"]
    for other in ("cnn", "resnet"):
        rival = _best(groups, other)
        if rival is not None:
            parts.append(f"{best['acc'] - rival['acc']:+.1f} points over the best "
                         f"{model_name(other)} ({label(rival)})")
    out = ["; ".join(parts) + "."]
    ok = table[table["status"] == "ok"]
    rivals = ok[ok["model_type"].isin(["cnn", "resnet"])]
    top = ok[ok["model_type"] == "yourcnn"]["best_test_acc"].max()
    if not rivals.empty:
        strongest = rivals.loc[rivals["best_test_acc"].idxmax()]
        verb = "beats" if top > strongest["best_test_acc"] else "does not beat"
        out.append(f"YourCNN's best run ({top:.1f}%) {verb} every CNN and ResNet run (the best "
                   f"of them: {strongest['run_name']}, {strongest['best_test_acc']:.1f}%); "
                   f"goal {GOAL_ACC:.0f}% {'reached' if top >= GOAL_ACC else 'not reached'}.")
    mine = _family(groups, "yourcnn")
    failed = mine[mine["acc"] < FAIL_ACC]
    deepest = mine.loc[mine["L"].idxmax()]
    if failed.empty:
        out.append(f"YourCNN trains at every depth tried, up to L={deepest['L']} "
                   f"({deepest['depth']} conv layers, {_pm(deepest)}).")
    else:
        out.append(f"YourCNN stops training from L={failed['L'].min()} "
                   f"({failed['depth'].min()} conv layers).")
    return out


def _epochs(table: pd.DataFrame) -> str:
    ok = table[(table["status"] == "ok") & table["epochs_to_best"].notna()]
    if ok.empty:
        return "No epochs to compare."
    means = ", ".join(f"{model_name(m)} {rows['epochs_to_best'].mean():.1f}"
                      for m, rows in ok.groupby("model_type", sort=False))
    at_end = int((ok["epochs_to_best"] == ok["epochs"]).sum())
    return (f"Mean epoch of the best accuracy: {means}; {at_end} of {len(ok)} runs were best at "
            f"their last epoch (still improving when the budget ended).")
