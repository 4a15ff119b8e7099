"""The optimizers study: its configs, a tiny run on digits and on CIFAR-10, findings that follow
the table."""

from __future__ import annotations

import html
import json
from dataclasses import replace

import pandas as pd
import pytest

from scratchlab.experiments import load_experiment
from scratchlab.studies import get_study
from scratchlab.studies import optimizers as opt

from .conftest import run_notebook

TINY = opt.Settings(dataset="digits", epochs=2, batches=4, hidden=(16, 16), overfit_epochs=40)


def test_configs_follow_the_classic_setup(tmp_path):
    configs = opt.configs(opt.Settings(dataset="cifar10").resolved(), [0, 1], "cpu", tmp_path)
    main = [c for c in configs if c.run_name.startswith("opt_")]
    assert sorted({c.optim.optimizer for c in main}) == ["adam", "momentum", "rmsprop", "sgd"]
    assert len(main) == 8
    for c in main:
        m, b = c.model, c.budget
        assert (m.engine, c.optim.optimizer_impl, m.model_type, m.hidden_dims) == (
            "scratch",
            "scratch",
            "mlp",
            [128] * 5,
        )
        assert (b.bs_train, b.batches, b.epochs, b.early_stopping) == (50, 100, 10, None)
        assert b.bs_test * b.batches == 10000  # the whole CIFAR-10 test set each epoch
    overfit = [c for c in configs if c.run_name.startswith("overfit")]
    assert [(c.data.train_limit, c.optim.optimizer) for c in overfit] == [(20, "sgd")] * 2


def test_a_zero_weight_std_is_kept_and_none_picks_the_datasets():
    assert opt.Settings(dataset="digits", wstd=0.0).resolved().wstd == 0.0  # symmetric start
    assert opt.Settings(dataset="digits").resolved().wstd == opt.WSTD["digits"]


def test_the_overfit_figure_names_its_sample_count(tmp_path):
    settings = replace(TINY, overfit_samples=7, overfit_epochs=2)
    result = get_study("optimizers").run(seeds=1, device="cpu", out_dir=tmp_path,
                                         settings=settings)
    titles = [ax.get_title() for ax in result.figures["test_accuracy_and_overfit"].axes]
    assert "overfit check: VanillaSGD on 7 samples" in titles


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return get_study("optimizers").run(
        seeds=1, device="cpu", out_dir=tmp_path_factory.mktemp("opt"), settings=TINY
    )


def test_tiny_run_on_digits(result):
    table = result.table
    assert list(table.experiment) == ["optimizers"] * 4 + ["overfit"]
    assert set(table.dataset) == {"digits"}
    assert table.loc[table.experiment == "overfit", "train_acc"].iloc[0] == 100.0
    # each row's test accuracy is the last epoch of the run's stored results
    stored = load_experiment(result.out_dir / "runs" / "opt_adam_s0.json")[1]
    assert table.set_index("run_name").loc["opt_adam_s0", "test_acc"] == stored.test_acc[-1]
    data = json.loads((result.out_dir / "runs" / "opt_adam_s0.json").read_text())
    config = data["config"]
    assert (config["model"]["engine"], config["optim"]["optimizer_impl"]) == ("scratch", "scratch")


def test_outputs_and_report(result):
    out = result.save()
    assert {"learning_curves.png", "test_accuracy_and_overfit.png"} <= {
        p.name for p in (out / "figures").iterdir()
    }
    assert html.escape(result.findings[0]) in result.report_html()


def _table(accs: dict[str, list[float]], dataset: str = "cifar10") -> pd.DataFrame:
    rows = [
        {"experiment": "optimizers", "optimizer": k, "dataset": dataset, "seed": i, "test_acc": a}
        for k, values in accs.items()
        for i, a in enumerate(values)
    ]
    rows += [
        {
            "experiment": "overfit",
            "optimizer": "VanillaSGD",
            "seed": i,
            "train_acc": 100.0,
            "epochs_to_100": 30 + i,
        }
        for i in range(2)
    ]
    return pd.DataFrame(rows)


def test_findings_follow_the_numbers():
    accs = {
        "VanillaSGD": [33.5, 34.0, 34.5],  # 95% CI half-width 1.2
        "MomentumSGD": [38.0, 39.0, 40.0],  # 2.5: +5.0 points, the intervals apart
        "RMSProp": [30.5, 31.5, 32.5],  # 2.5: -2.5 points, the intervals overlap
        "Adam": [41.0, 42.0, 43.0],
    }
    text = opt.findings(_table(accs))
    assert "VanillaSGD 34.0 +- 0.5%" in text[0]
    assert text[1] == (
        "MomentumSGD vs VanillaSGD: 39.0 +- 2.5 vs 34.0 +- 1.2 (95% CI), difference +5.0 points: "
        "above."
    )
    assert text[2] == (
        "RMSProp vs VanillaSGD: 31.5 +- 2.5 vs 34.0 +- 1.2 (95% CI), difference -2.5 points: "
        "inconclusive."
    )
    assert "Best: Adam (42.0%)" in text[3]
    assert "inside MomentumSGD" in text[4] and "above Adam" in text[4]
    assert "below VanillaSGD, RMSProp" in text[4]
    assert "in 2 of 2 seed(s), first at epoch 30" in text[5]
    accs["MomentumSGD"] = [20.0, 21.0, 22.0]
    assert opt.findings(_table(accs))[1].endswith("difference -13.0 points: below.")
    one_seed = {k: v[:1] for k, v in accs.items()}  # no interval: nothing is conclusive
    assert opt.findings(_table(one_seed))[1].endswith("points: inconclusive.")
    assert not any("Classic" in t for t in opt.findings(_table(accs, "digits")))


def test_cifar10_when_available(cifar_npz, tmp_path):
    settings = replace(
        TINY,
        dataset="auto",
        data_root=str(cifar_npz),
        limit=200,
        batches=2,
        epochs=1,
        overfit_epochs=2,
    )
    result = opt.run(seeds=1, device="cpu", out_dir=tmp_path, settings=settings)
    assert set(result.table.dataset) == {"cifar10"}
    assert "on cifar10" in result.findings[0]


def test_notebook_runs_in_quick_mode(tmp_path):
    outputs = run_notebook("optimizers", tmp_path)
    assert "Final test accuracy on" in outputs and "Overfit check" in outputs


