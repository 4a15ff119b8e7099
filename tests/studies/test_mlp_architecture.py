"""The mlp-architecture study: Bayes reference, thresholds from valid, findings that follow the
table."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_moons
from sklearn.neighbors import KNeighborsClassifier

from scratchlab.classifiers import BinaryClassifier, select_roc_thresh
from scratchlab.data.populations import populations_arrays, rotate_2d
from scratchlab.experiments import run_configs
from scratchlab.studies import get_study
from scratchlab.studies import mlp_architecture as mlp
from scratchlab.studies.common import split_tensors

from .conftest import run_notebook

TINY = mlp.Settings(depths=(1, 2), widths=(2, 8), epochs=2, batch_size=512)


def test_bayes_rule_beats_a_well_fed_classifier():
    x_fit, y_fit = make_moons(20000, noise=0.3, random_state=1)
    x, y = make_moons(4000, noise=0.3, random_state=2)
    knn = KNeighborsClassifier(50).fit(rotate_2d(x_fit, 40), y_fit)
    knn_acc = 100 * (knn.predict(rotate_2d(x, 40)) == y).mean()
    bayes = mlp.moons_bayes_accuracy(rotate_2d(x, 40), y, noise=0.3, degrees=40)
    assert bayes >= knn_acc - 0.5
    assert (
        mlp.moons_bayes_accuracy(
            *make_moons(2000, noise=0.02, random_state=0), noise=0.02, degrees=0
        )
        == 100.0
    )
    assert 85 < mlp.bayes_test_accuracy() < 95


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return get_study("mlp-architecture").run(
        seeds=2, device="cpu", out_dir=tmp_path_factory.mktemp("mlp"), settings=TINY
    )


def test_grid_rows_and_thresholds_from_valid(study):
    table = study.table
    assert len(table) == 2 * 2 * 2
    assert sorted(set(zip(table.depth, table.width, strict=True))) == [
        (1, 2),
        (1, 8),
        (2, 2),
        (2, 8),
    ]
    row = table.iloc[-1]
    config = mlp.configs(TINY, [1], "cpu", study.out_dir / "runs")[-1]
    assert config.run_name == row.run_name and config.data.test_split == "valid"
    [record] = run_configs([config])  # finished: read back
    assert record.cached
    run = mlp.select_best([record])[0]  # the stored run's best-validation epoch
    assert record.fit.epochs_to_best == row.best_epoch
    assert record.fit.test_acc[row.best_epoch - 1] == pytest.approx(row.valid_acc)
    assert mlp.evaluate(run)["thresh"] == row.thresh
    assert row.thresh == select_roc_thresh(
        BinaryClassifier(run.model), *split_tensors(config, "valid")
    )
    assert row.params == sum(p.numel() for p in run.model.parameters())


def test_a_changed_config_trains_afresh(tmp_path):
    config = mlp.configs(TINY, [0], "cpu", tmp_path / "a")[0]
    run_configs([config.replace(lr=0.05)])  # leaves checkpoints under the same name
    again = run_configs([config], restart_changed=True)[0].fit
    fresh = run_configs([config.replace(out_dir=tmp_path / "b")])[0].fit
    assert again.train_loss == fresh.train_loss


def test_outputs_and_report(study):
    out = study.save()
    names = {p.stem for p in (out / "figures").iterdir()}
    assert names == {
        "decision_boundaries",
        "test_accuracy",
        "first_classifier",
        "accuracy_vs_parameters",
    }
    assert html.escape(study.findings[0]) in study.report_html()


def _table(
    acc: dict[tuple[int, int], float], offsets: tuple[float, ...] = (0.0, 1.0)
) -> pd.DataFrame:
    rows = []
    for (d, w), a in acc.items():
        params = 2 * w + w + (d - 1) * (w * w + w) + 2 * w + 2
        for seed, offset in enumerate(offsets):
            rows.append(
                {
                    "depth": d,
                    "width": w,
                    "seed": seed,
                    "params": params,
                    "test_acc": a - 1 + offset,
                    "test_acc_thresh": a + offset,
                    "thresh": 0.3,
                    "fpr": 0.1,
                    "fnr": 0.2,
                }
            )
    return pd.DataFrame(rows)


def test_findings_follow_the_numbers():
    cells = {(d, w): 92.0 for d in (1, 2, 4) for w in (2, 8, 32, 128)}
    cells[(1, 2)] = 81.0
    text = mlp.findings(_table(cells), bayes=91.0)
    assert "Valid-selected thresholds: min test accuracy 81.5%" in text[1]
    assert "min met, p75 met" in text[1]
    assert "91.0%" in text[2]
    assert "worst: depth 1, width 2 (81.5%)" in text[3]
    assert "better in 12 of 12 cells" in text[4]
    # three seeds 0.5 apart: 95% CI half-width 1.2 per cell
    cells[(1, 2)], cells[(4, 8)], cells[(4, 32)] = 70.0, 95.0, 93.0
    text = mlp.findings(_table(cells, (-0.5, 0.0, 0.5)), bayes=91.0)
    assert "min missed" in text[1]
    pair = next(t for t in text if t.startswith("Same 32 hidden units"))
    assert pair == (
        "Same 32 hidden units: depth 1 x width 32 (162 parameters) vs depth 4 x width 8 "
        "(258 parameters): 92.0 +- 1.2 vs 95.0 +- 1.2 (95% CI), deeper minus wider +3.0 points: "
        "the deeper net is ahead."
    )
    pair = next(t for t in text if t.startswith("Same 128 hidden units"))
    assert pair.endswith(
        "92.0 +- 1.2 vs 93.0 +- 1.2 (95% CI), deeper minus wider +1.0 points: inconclusive."
    )
    cells[(4, 8)] = 85.0
    pair = next(
        t
        for t in mlp.findings(_table(cells, (-0.5, 0.0, 0.5)), bayes=91.0)
        if t.startswith("Same 32 hidden units")
    )
    assert pair.endswith("deeper minus wider -7.0 points: the wider net is ahead.")


def test_notebook_runs_in_quick_mode(tmp_path):
    outputs = run_notebook("mlp_architecture", tmp_path)
    assert "Bayes accuracy of the test population" in outputs and "75th percentile" in outputs


def test_bayes_accuracy_uses_the_test_population():
    x, y = populations_arrays()["test"]
    assert np.isclose(
        mlp.bayes_test_accuracy(), mlp.moons_bayes_accuracy(x, y, noise=0.3, degrees=40.0)
    )
