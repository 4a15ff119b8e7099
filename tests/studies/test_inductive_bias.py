"""The inductive-bias study: its plan, a tiny end-to-end run, numbers and verdicts that follow the
table, the q7 diagnosis helpers and the example notebook."""

from __future__ import annotations

import html
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from scratchlab.cli import main
from scratchlab.errors import ConfigError
from scratchlab.experiments import load_records
from scratchlab.models import build_model, edge_detector_kernels, neighbour_correlation, summary
from scratchlab.studies import get_study, inductive_bias
from scratchlab.studies.inductive_bias.analysis import Analysis, parameter_counts
from scratchlab.studies.inductive_bias.diagnosis import (
    HE_VARIANT,
    INIT_MODELS,
    escape_epoch,
    fresh_model,
    init_diagnosis,
    initial_draws,
    spread_drop,
)
from scratchlab.studies.inductive_bias.plan import (
    DATA_SEED_OFFSET,
    FULL,
    QUICK,
    VALID_PER_CLASS,
    experiment_configs,
    study_runs,
)
from scratchlab.studies.inductive_bias.report import findings
from scratchlab.studies.inductive_bias.table import COLUMNS, Stat, stat
from scratchlab.studies.inductive_bias.verdicts import conclusions, difference, verdict_from
from scratchlab.util.stats import fmt_pm
from scratchlab.util.threads import MAX_WORKERS

REPO = Path(__file__).resolve().parents[2]
SCALE = 0.04  # every epoch count x 0.04: 2-6 epochs per run
REQUIRED = [
    "study",
    "experiment",
    "model",
    "condition",
    "kernel_size",
    "images_per_class",
    "seed",
    "epochs",
    "train_acc",
    "valid_acc",
    "run_name",
]
QUESTIONS = [f"q{i}" for i in range(1, 8)]
MODELS = {"cnn", "mlp", "cnn_avgpool", "cnn_edge_init", "wider_cnn", "deeper_cnn"}


@pytest.fixture(scope="module")
def study():
    """One tiny quick-mode run of the whole study (every question, one seed), saved."""
    with tempfile.TemporaryDirectory(prefix="scratchlab-ib-") as folder:
        out = Path(folder)
        # one process on a CPU: runs of one architecture train batched
        result = inductive_bias.run(
            quick=True, seeds=1, device="cpu", out_dir=out, scale=SCALE, verbose=False, jobs=1
        )
        yield result, out


# ------------------------------------------------------------------------------------ the plan


def test_plan_covers_every_question_with_the_contracted_setup(tmp_path):
    runs = study_runs(False, [0, 1], tmp_path)
    assert sorted({r.experiment for r in runs}) == QUESTIONS
    configs = experiment_configs(False, [0, 1], tmp_path)
    assert len({c.run_name for c in configs}) == len(configs)
    epochs = {
        "q1": FULL.q12,
        "q2": FULL.q12,
        "q3": FULL.q3,
        "q4": FULL.q45,
        "q5": FULL.q45,
        "q6": FULL.q6,
        "q7": FULL.q7,
    }
    for run in runs:
        c = run.config.flat()
        classes = len(c["dataset_options"]["class_type"])
        assert c["test_limit"] == VALID_PER_CLASS * classes
        assert c["train_limit"] == run.images_per_class * classes
        assert c["dataset_options"]["seed"] == DATA_SEED_OFFSET + run.seed
        assert run.seed == c["seed"]
        assert [c[k] for k in ("optimizer", "momentum", "reg", "dataset", "test_split")] == [
            "momentum",
            0.9,
            0.0,
            "edges",
            "valid",
        ]
        assert c["bs_train"] == (32 if run.experiment in ("q1", "q2") else 10)
        assert c["epochs"] == epochs[run.experiment]
        assert (c["early_stopping"] is not None) == (run.experiment == "q3")
        kernel = {} if run.model == "mlp" else {"kernel_size": run.kernel_size}
        assert c["model_options"] == kernel  # explicit kwargs of the registered model
        if run.experiment != "q7":
            assert c["lr"] == 1e-2
    q3 = [r.config.budget for r in runs if r.experiment == "q3"]
    assert all(
        b.early_stopping_monitor == "train_loss" and b.early_stopping_min_delta > 0 for b in q3
    )
    shift = [r.config.data for r in runs if r.condition == "domain_shift"]
    assert shift and all(d.dataset_options["possible_edge_location_ratio"] == 0.5 for d in shift)
    permuted = [r.config.data for r in runs if r.condition == "permuted"]
    assert permuted and all(d.dataset_options["permutation"] for d in permuted)
    quick_two, quick_one = (experiment_configs(True, s, tmp_path) for s in ([0, 1], [0]))
    assert len(quick_two) == 2 * len(quick_one)
    analysed = [r for r in runs if r.experiment in ("q4", "q5") or r.model == "deeper_cnn"]
    assert all(r.config.budget.checkpoints for r in analysed)  # their weights are analysed


def test_parameter_counts_come_from_the_models():
    counts = parameter_counts()
    cnn = build_model({"model_type": "simplecnn"})
    assert counts["cnn"] == sum(p.numel() for p in cnn.parameters())
    mlp = build_model({"model_type": "three_layer_mlp"})
    assert counts["mlp"] == sum(p.numel() for p in mlp.parameters())
    assert counts["mlp"] == summary(mlp, (1, 28, 28)).params


def test_the_study_is_registered(capsys):
    assert get_study("inductive-bias") is inductive_bias.STUDY is inductive_bias.InductiveBias
    with pytest.raises(SystemExit) as exit_:
        main(["study", "inductive-bias", "--seeds", "0"])
    assert exit_.value.code == 2 and "--seeds must be between 1" in capsys.readouterr().err


# --------------------------------------------------------------------------- tiny end-to-end run


def test_quick_run_writes_table_figures_and_report(study):
    result, out = study
    table = pd.read_csv(out / "table.csv")
    assert set(REQUIRED) <= set(table.columns) and list(result.table.columns) == COLUMNS
    assert sorted(table["experiment"].unique()) == QUESTIONS
    assert (table["status"] == "ok").all()
    assert len(table) == len(study_runs(True, [0], out / "runs"))
    assert table["valid_acc"].between(0, 100).all() and table["train_acc"].between(0, 100).all()
    assert set(table["condition"]) == {"iid", "domain_shift", "permuted", "five_classes"}
    assert set(table["model"]) == MODELS
    for name in (
        "q2_sample_efficiency",
        "q2_kernels",
        "q3_curves",
        "q4_confusion",
        "q5_kernels",
        "q6_five_classes",
        "q7_search",
        "q7_diagnosis",
    ):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
    assert (out / "summary.csv").exists()
    assert list(result.headline.columns) == ["experiment", "hypothesis", "verdict"]
    assert result.headline.equals(result.analysis.verdicts[list(result.headline.columns)])
    page = html.unescape((out / "report.html").read_text())
    assert len(result.headline) >= 13 and all(h in page for h in result.headline["hypothesis"])
    assert "Conclusions" in page and page.count("<h2>") >= 9


def test_batched_and_one_at_a_time_give_the_same_findings(study, tmp_path):
    result, out = study
    runs = [r.summary for r in load_records(out / "runs")]
    # with one seed, most runs have no partner
    assert sum(bool(r.get("batched")) for r in runs) >= len(runs) / 3
    alone = inductive_bias.run(
        quick=True,
        seeds=1,
        device="cpu",
        out_dir=tmp_path,
        scale=SCALE,
        verbose=False,
        batched="off",
    )
    merged = result.table.merge(
        alone.table, on=["experiment", "run_name"], suffixes=("_batched", "_alone")
    )
    assert len(merged) == len(result.table) == len(alone.table)
    for metric in ("train_acc", "valid_acc"):  # at most one image's worth apart (float32 ties)
        assert (merged[f"{metric}_batched"] - merged[f"{metric}_alone"]).abs().max() <= 100 / 150
    assert result.headline.equals(alone.headline)


def test_report_only_rebuilds_the_study_from_its_runs_and_refuses_another_mode(study, tmp_path):
    result, out = study
    shutil.copytree(out / "runs", tmp_path / "runs")
    again = inductive_bias.run(quick=True, seeds=1, device="cpu", out_dir=tmp_path, scale=SCALE,
                               verbose=False, report_only=True)
    pd.testing.assert_frame_equal(again.table, result.table)
    assert again.headline.equals(result.headline)
    assert (tmp_path / "report.html").exists()
    assert not any("did not finish" in line for line in again.findings)
    two = inductive_bias.run(quick=True, seeds=2, device="cpu", out_dir=tmp_path, scale=SCALE,
                             verbose=False, report_only=True)  # seed 1 never ran
    assert two.findings[0].startswith(f"{len(result.table)} of {2 * len(result.table)} runs did "
                                      "not finish")
    with pytest.raises(ConfigError, match="no finished run of this study"):  # full mode: none fit
        inductive_bias.run(seeds=1, device="cpu", out_dir=tmp_path, verbose=False,
                           report_only=True)


def test_report_quotes_the_numbers_of_its_table(study):
    result, out = study
    page = html.unescape((out / "report.html").read_text())
    for where in (
        {"experiment": "q4", "model": "cnn", "kernel_size": 7, "condition": "domain_shift"},
        {"experiment": "q6", "model": "cnn_avgpool"},
        {"experiment": "q2", "model": "mlp", "images_per_class": 50},
    ):
        query = " and ".join(f"{k} == {v!r}" for k, v in where.items())
        values = result.table.query(query)["valid_acc"]
        assert f"{fmt_pm(values.mean(), 0.0)}%" in page
    assert all(f in page for f in result.findings[:3])


# ------------------------------------------------------------ numbers and verdicts follow the data


def world(holds: bool):
    """Valid/train accuracy of every planned run in a world where the hypotheses hold (or fail)."""

    def acc(experiment: str, model: str, condition: str, kernel: int | None) -> float:
        good = {
            "q2": {"cnn": 90, "mlp": 60, "cnn_edge_init": 95},
            "q3": {"cnn": 97, "mlp": 70},
            "q6": {"cnn": 90, "mlp": 60, "cnn_avgpool": 80},
            "q7": {"cnn": 80, "wider_cnn": 90, "deeper_cnn": 85},
        }
        bad = {
            "q2": {"cnn": 60, "mlp": 90, "cnn_edge_init": 40},
            "q3": {"cnn": 80, "mlp": 70},
            "q6": {"cnn": 60, "mlp": 90, "cnn_avgpool": 90},
            "q7": {"cnn": 90, "wider_cnn": 70, "deeper_cnn": 20},
        }
        shifted = {
            ("cnn", "domain_shift"): 90 if holds else 33,
            ("mlp", "domain_shift"): 33 if holds else 80,
            ("cnn", "permuted"): 60 if holds else 95,
            ("mlp", "permuted"): 80 if holds else 60,
            ("cnn", "iid"): 95 if holds else 90,
            ("mlp", "iid"): 80 if holds else 90,
        }
        if experiment in ("q4", "q5"):
            return shifted[(model, condition)] - (5 if kernel == 3 else 0)
        return (good if holds else bad).get(experiment, {"cnn": 90, "mlp": 90}).get(model, 90)

    return acc


def synthetic_table(holds: bool, seeds=(0, 1, 2)) -> pd.DataFrame:
    acc = world(holds)
    rows = []
    for run in study_runs(False, list(seeds), "unused"):
        jitter = 0.25 * (run.seed - 1)  # seeds precise enough to show "the same"
        valid = acc(run.experiment, run.model, run.condition, run.kernel_size) + jitter
        train = (100.0 if holds else 80.0) if run.experiment == "q1" else min(100.0, valid + 5)
        rows.append(
            {
                "study": "inductive-bias",
                **run.meta(),
                "epochs": run.config.budget.epochs,
                "train_acc": train,
                "valid_acc": valid,
                "best_valid_acc": valid,
                "params": 1,
                "train_seconds": 1.0,
                "status": "ok",
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS).astype({"kernel_size": "Int64"})


def test_verdicts_follow_the_data():
    structured = {"iid": Stat((0.6, 0.62, 0.58)), "permuted": Stat((0.05, 0.0, 0.02))}
    holds = conclusions(synthetic_table(True), structured)
    assert (holds["verdict"] == "supported").all(), holds[holds["verdict"] != "supported"]
    flipped = {"iid": structured["permuted"], "permuted": structured["iid"]}
    fails = conclusions(synthetic_table(False), flipped)
    assert len(fails) == len(holds)
    assert not (fails["verdict"] == "supported").any(), fails[fails["verdict"] == "supported"]
    assert set(fails["verdict"]) <= {"contradicted", "not reached", "inconclusive"}


def test_kernels_without_kept_weights_say_why_there_is_no_verdict():
    unread = {"iid": Stat(()), "permuted": Stat(()), "untrained": Stat(())}
    row = conclusions(synthetic_table(True), unread).set_index("hypothesis").loc[
        "Learned kernels are structured only when the image is"]
    assert row["verdict"] == "no data"
    assert "runs/checkpoints" in row["measured"]


def test_a_difference_needs_the_margin_and_intervals_apart():
    high, low = Stat((90.0, 91.0, 90.0, 91.0, 90.0)), Stat((80.0, 81.0, 80.0, 81.0, 80.0))
    assert difference(high, low) == "higher" and difference(low, high) == "lower"
    twin = Stat((90.5, 90.0, 90.5, 90.0, 90.5))
    assert difference(high, twin) == "same"  # the whole range of the gap within the margin
    # within the margin, but the intervals leave room for a larger gap either way
    assert difference(Stat((90.0, 91.0)), Stat((89.0, 90.0))) == "lower or same or higher"
    # beyond the margin, overlapping intervals: no lower reading once the range stays above it
    steady, spread = Stat((90.0, 90.4, 89.6, 90.2, 89.8)), Stat((83.0, 85.0, 84.0, 85.5, 82.5))
    assert difference(steady, spread) == "higher"
    wide = Stat((84.0, 88.0, 87.0, 91.0, 88.0))
    assert difference(Stat((90.0, 91.0, 90.5, 90.5, 91.0)), wide) == "same or higher"
    assert difference(Stat((60.0, 100.0)), Stat((70.0, 71.0))) == "lower or same or higher"
    assert difference(Stat((70.0,)), Stat((90.0,))) == "lower or same or higher"  # one seed
    assert difference(Stat(()), Stat((1.0,))) == "no data"
    assert difference(Stat((math.nan, math.nan)), Stat((1.0, 2.0))) == "no data"


def test_against_a_known_number_only_the_measured_interval_counts():
    near_chance = Stat((33.0, 34.0, 33.5, 33.0, 34.0))
    assert difference(near_chance, 100 / 3, margin=10.0) == "same"
    assert difference(Stat((60.0, 62.0, 61.0, 59.0, 60.0)), 100 / 3, margin=10.0) == "higher"
    assert difference(Stat((20.0, 90.0)), 100 / 3, margin=10.0) == "lower or same or higher"


def test_an_outcome_of_several_readings_supports_only_what_all_support():
    assert verdict_from("same or higher", ("higher", "same"), ("lower",)) == "supported"
    assert verdict_from("same or higher", ("higher",), ("lower", "same")) == "inconclusive"
    assert verdict_from("lower or same", ("higher",), ("lower", "same")) == "contradicted"
    assert verdict_from("lower or same or higher", ("higher", "same"), ("lower",)) \
        == "inconclusive"
    assert verdict_from("higher", ("higher",), ("lower",)) == "supported"


def empty_analysis(table: pd.DataFrame) -> Analysis:
    """An analysis with no runs to read (the conclusion table from `table`)."""

    def frame(*columns: str) -> pd.DataFrame:
        return pd.DataFrame(columns=list(columns))

    return Analysis(
        params=parameter_counts(),
        verdicts=conclusions(table),
        convergence=frame("model", "stopped_early"),
        overfit=frame(
            "model",
            "seed",
            "epochs",
            "train_acc",
            "final_train_loss",
            "earlier_train_loss",
            "epochs_back",
        ),
        search=frame("model", "lr", "epochs", "valid_mean", "valid_std", "n"),
        init=pd.DataFrame(),
        trained=frame("model", "at_chance", "dead_channels"),
    )


def q_text(table: pd.DataFrame, question: str) -> str:
    return next(
        t for t in findings(table, empty_analysis(table), QUICK) if t.startswith(f"{question}:")
    )


def test_findings_text_follows_the_table():
    table = synthetic_table(True)
    where = {"experiment": "q4", "model": "cnn", "kernel_size": 7, "condition": "domain_shift"}
    assert f"CNN k=7 {stat(table, **where)}" in q_text(table, "q4")
    rows = (
        (table["experiment"] == "q4")
        & (table["model"] == "cnn")
        & (table["kernel_size"] == 7)
        & (table["condition"] == "domain_shift")
    )
    new_values = np.array([41.0, 47.0, 50.0])
    table.loc[rows, "valid_acc"] = new_values
    changed = f"CNN k=7 {fmt_pm(new_values.mean(), new_values.std(ddof=1))}%"
    assert changed in q_text(table, "q4")
    one_seed = table[table["seed"] == 2]
    q6_rows = (one_seed["experiment"] == "q6") & (one_seed["model"] == "mlp")
    mlp = one_seed[q6_rows]["valid_acc"].iloc[0]
    assert f"MLP {fmt_pm(mlp, 0.0)}%" in q_text(one_seed, "q6")
    assert f"({parameter_counts()['cnn']:,} parameters)" in q_text(table, "q1")


def test_q1_text_explains_runs_short_of_100_percent():
    table = synthetic_table(True)
    analysis = empty_analysis(table)
    assert "Short of" not in findings(table, analysis, QUICK)[0]
    analysis.overfit = pd.DataFrame(
        [
            {
                "model": "cnn",
                "seed": 3,
                "epochs": 500,
                "train_acc": 93.3,
                "final_train_loss": 0.138,
                "earlier_train_loss": 0.152,
                "epochs_back": 50,
            },
            {
                "model": "cnn",
                "seed": 4,
                "epochs": 500,
                "train_acc": 96.7,
                "final_train_loss": 0.11,
                "earlier_train_loss": 0.11,
                "epochs_back": 50,
            },
            {
                "model": "mlp",
                "seed": 0,
                "epochs": 500,
                "train_acc": 100.0,
                "final_train_loss": 0.01,
                "earlier_train_loss": 0.02,
                "epochs_back": 50,
            },
        ]
    )
    q1 = findings(table, analysis, QUICK)[0]
    assert "CNN seed 3 at 93.3%" in q1 and "CNN seed 4 at 96.7%" in q1 and "MLP seed 0" not in q1
    assert "in 1 of them the loss was still falling, so the 500-epoch budget" in q1
    assert "1 had stopped improving" in q1


# -------------------------------------------------------------------------- q7 diagnosis helpers


def test_kernel_structure_measure_separates_edge_detectors_from_noise():
    edges = edge_detector_kernels(7, 3)
    noise = torch.randn(3, 1, 7, 7, generator=torch.Generator().manual_seed(0))
    assert neighbour_correlation(edges) > 0.5
    assert abs(neighbour_correlation(noise)) < 0.3


def test_diagnosis_measures_each_relu_layer():
    x = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(20) % 5
    state = torch.get_rng_state()
    diag = init_diagnosis(x, y, draws=2, models=("cnn", "deeper_cnn", HE_VARIANT))
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left alone
    assert diag.groupby("model").size().to_dict() == {"cnn": 2, "deeper_cnn": 4, HE_VARIANT: 4}
    assert diag["dead"].between(0, 1).all()
    assert (diag["spread"] >= 0).all() and (diag["grad"] >= 0).all()
    deeper = diag[diag["model"] == "deeper_cnn"]["spread"].to_numpy()
    assert spread_drop(diag, "deeper_cnn") == pytest.approx(deeper[0] / deeper[-1])
    assert escape_epoch([20, 25, 41, 60], chance=20) == 3
    assert escape_epoch([20, 21], chance=20) is None


@pytest.mark.parametrize("name", INIT_MODELS)
def test_the_diagnosis_draws_are_the_models_built_once_per_seed(name):
    model, params = initial_draws(name, 5, draws=3)
    for draw in range(3):
        torch.manual_seed(draw)
        built = dict(fresh_model(name, 5).named_parameters())
        assert params.keys() == built.keys()
        for key, value in built.items():
            assert torch.equal(params[key][draw], value), (draw, key)
    assert not torch.equal(params[next(iter(params))][0], params[next(iter(params))][1])
    assert isinstance(model, type(fresh_model(name, 5)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="compares a GPU with the CPU")
def test_diagnosis_on_a_gpu_draws_the_same_models_as_on_the_cpu():
    x = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(20) % 5
    cpu = init_diagnosis(x, y, draws=3, models=("cnn", "deeper_cnn"))
    gpu = init_diagnosis(x.cuda(), y.cuda(), draws=3, models=("cnn", "deeper_cnn"))
    # the same draws; cuDNN's float32 convolutions may round through TF32 (about 1e-3)
    pd.testing.assert_frame_equal(cpu, gpu, rtol=1e-2, atol=1e-6)


# -------------------------------------------------------------------------- the example notebook


def test_notebook_runs_the_study(study, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel shows figures inline
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    _, out = study
    notebook = nbformat.read(REPO / "examples" / "inductive_bias.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = f"scale = {SCALE}\nseeds = 1\nout_dir = {str(out)!r}"  # reuses the finished runs
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(out)}}
    ).execute()
    outputs = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    assert "q4:" in outputs and "measured" in outputs
    assert "image/png" in str(notebook.cells[-1].outputs)


def test_on_a_cpu_the_study_runs_one_process_per_core_up_to_a_cap(monkeypatch, tmp_path):
    study = inductive_bias.InductiveBias(device="cpu", out_dir=tmp_path)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(2)), raising=False)
    assert study.jobs() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert study.jobs() == MAX_WORKERS < 64
    assert inductive_bias.InductiveBias(device="cpu", out_dir=tmp_path, jobs=3).jobs() == 3


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf"), "x", True, None])
def test_a_scale_that_is_not_a_finite_positive_number_is_refused_before_training(scale, tmp_path):
    study = get_study("inductive-bias")(device="cpu", out_dir=tmp_path, scale=scale)
    with pytest.raises(ConfigError, match="scale must be a finite number > 0"):
        study.configs(True, [0])
    assert not any(tmp_path.iterdir())  # nothing written


def test_scale_multiplies_every_epoch_count() -> None:
    full, half = inductive_bias.plan.budget_for(False), inductive_bias.plan.budget_for(False, 0.5)
    assert half.q12 == math.ceil(full.q12 / 2) and half.q45 == math.ceil(full.q45 / 2)
    assert half.q3_patience == math.ceil(full.q3_patience / 2)
