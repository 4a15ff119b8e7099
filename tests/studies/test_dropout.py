"""The dropout study: its configs, a tiny run, findings on over- and underfitting that follow the
table."""

from __future__ import annotations

import html

import pandas as pd
import pytest
import torch

from scratchlab.studies import dropout, get_study
from scratchlab.studies.common import split_tensors

from .conftest import run_notebook

TINY = dropout.Settings(dataset="digits", epochs=2, hidden=(32,), train_size=100)


def test_configs(tmp_path):
    configs = dropout.configs(
        dropout.Settings(dataset="cifar10").resolved(), [0, 1, 2], "cpu", tmp_path
    )
    assert len(configs) == 9 and sorted({c.model.dropout for c in configs}) == [0.0, 0.4, 0.8]
    for c in configs:
        assert (
            c.model.engine,
            c.optim.optimizer_impl,
            c.model.hidden_dims,
            c.data.train_limit,
        ) == ("scratch", "scratch", [400], 400)
        assert c.data.dataset_options == {"limit": 10000, "stratified": True}  # whole test split


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return get_study("dropout").run(
        seeds=1, device="cpu", out_dir=tmp_path_factory.mktemp("do"), settings=TINY
    )


def test_tiny_run(result):
    table = result.table
    assert list(table.dropout) == [0.0, 0.4, 0.8]
    assert (table.gap == table.train_acc - table.test_acc).all()
    assert {"study", "experiment", "run_name", "dropout", "seed", "train_acc", "test_acc"} <= set(
        table
    )


def test_train_accuracy_is_measured_without_dropout(result, tmp_path):
    config = dropout.configs(TINY.resolved(), [0], "cpu", tmp_path)[2]  # dropout 0.8
    from scratchlab.experiments import load_model, run_experiment

    run = run_experiment(config.replace(checkpoints=True), verbose=False)
    model = load_model(run)
    x, y = split_tensors(config, "train")
    assert len(y) == TINY.train_size
    model.train(True)
    torch.manual_seed(0)
    noisy = float((model(x.reshape(len(x), -1)).argmax(1) == y).float().mean()) * 100
    model.train(False)
    exact = float((model(x.reshape(len(x), -1)).argmax(1) == y).float().mean()) * 100
    assert dropout.row(run)["train_acc"] == pytest.approx(exact, abs=1e-5) and exact != noisy


def test_outputs_and_report(result):
    out = result.save()
    assert {"learning_curves.png", "accuracy_vs_dropout.png"} <= {
        p.name for p in (out / "figures").iterdir()
    }
    assert html.escape(result.findings[0]) in result.report_html()


def _table(train: list[float], test: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dropout": [0.0, 0.4, 0.8],
            "seed": 0,
            "train_acc": train,
            "test_acc": test,
            "gap": [a - b for a, b in zip(train, test, strict=True)],
        }
    )


def test_findings_follow_the_numbers():
    text = dropout.findings(_table([100.0, 95.0, 40.0], [28.0, 31.0, 22.0]), 400)
    assert "to 100.0% and reaches 28.0%" in text[0] and "gap of 72.0 points" in text[0]
    assert "shrinks (72.0 -> 18.0 points)" in text[1]
    assert text[2] == (  # one seed: no interval, so no comparison is conclusive
        "Best test accuracy: dropout 0.4 (31.0%); dropout 0 28.0% (-3.0 points, inconclusive), "
        "dropout 0.8 22.0% (-9.0 points, inconclusive)."
    )
    seeds = pd.concat([_table([100.0, 95.0, 40.0], [28.0 + d, 31.0 + d, 22.0 + d]).assign(seed=i)
                       for i, d in enumerate([-0.2, 0.0, 0.2])])
    text3 = dropout.findings(seeds, 400)
    assert "dropout 0 28.0% (-3.0 points, lower)" in text3[2]
    noisy = pd.concat([_table([100.0, 95.0, 40.0], [28.0 + d, 31.0, 22.0]).assign(seed=i)
                       for i, d in enumerate([-5.0, 0.0, 5.0])])
    assert "dropout 0 28.0% (-3.0 points, inconclusive)" in dropout.findings(noisy, 400)[2]
    assert "dropout 0\n" not in text[3] and text[3].endswith("dropout 0.")
    assert text[4].startswith("Dropout 0.8 underfits")
    assert "9.0 points below the best (inconclusive)" in text[4]
    text = dropout.findings(_table([100.0, 99.0, 98.0], [20.0, 25.0, 30.0]), 400)
    assert text[2].startswith("Best test accuracy: dropout 0.8")
    assert text[4].startswith("No rate underfits")


def test_notebook_runs_in_quick_mode(tmp_path):
    outputs = run_notebook("dropout", tmp_path)
    assert "Best test accuracy" in outputs


