"""The backprop study: a broken backward is caught and named, timings and findings follow the
table."""

from __future__ import annotations

import html

import pandas as pd
import pytest
import torch

from scratchlab import scratch
from scratchlab.studies import backprop, get_study

from .conftest import run_notebook


class HalfGradLinear(scratch.Linear):
    """A Linear layer whose weight gradient is half what it should be."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["w"] *= 0.5
        return dx


CASES = {
    "Linear": backprop.CASES["Linear"],
    "CrossEntropyLoss": backprop.CASES["CrossEntropyLoss"],
    "Sequential: conv net + CE": backprop.CASES["Sequential: conv net + CE"],
    "Broken Linear": lambda n: (HalfGradLinear(6, 3), torch.randn(n, 6), None),
}
TINY = backprop.Settings(check_batch=3, time_batch=8, fd_samples=5, repeats=2, cases=CASES)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return get_study("backprop").run(
        seeds=2, device="cpu", out_dir=tmp_path_factory.mktemp("bp"), settings=TINY
    )


def test_every_case_and_seed_has_a_row(result):
    table = result.table
    assert len(table) == 2 * len(CASES)
    assert {
        "layer",
        "seed",
        "autograd_diff_f32",
        "autograd_diff_f64",
        "fd_rel_error",
        "scratch_ms",
        "autograd_ms",
    } <= set(table)
    assert (table.speed_ratio == table.autograd_ms / table.scratch_ms).all()


def test_correct_layers_pass_and_the_broken_one_fails(result):
    passed = result.table.groupby("layer").passed.all()
    assert not passed["Broken Linear"]
    assert passed.drop("Broken Linear").all()
    assert "1 of 4 cases FAIL" in result.findings[0] and "Broken Linear" in result.findings[0]


def test_checks_match_the_engine_checkers():
    torch.manual_seed(3)
    layer, x, y = backprop.CASES["CrossEntropyLoss"](4)
    row = scratch.check_layer(layer, x, y, fd_samples=10)
    assert row["autograd_diff_f32"] == max(scratch.compare_to_autograd(layer, x, y))
    assert row["fd_rel_error"] == scratch.finite_difference_check(layer, x, y, samples=10)


def test_findings_follow_the_numbers(result):
    table = result.table[result.table.layer != "Broken Linear"].copy()
    assert "All 3 cases pass over 2 seed(s)" in backprop.findings(table)[0]
    table["speed_ratio"] = [0.5, 0.5, 2.0] * 2
    text = backprop.findings(table)
    assert "for 1 of 3 cases" in text[1]
    assert "Largest ratio: Sequential: conv net + CE (2.00x)" in text[2]


def test_report_and_outputs(result):
    out = result.save()
    assert pd.read_csv(out / "table.csv").shape[0] == len(result.table)
    assert (out / "figures" / "checks_and_timings.png").exists()
    assert html.escape(result.findings[0]) in result.report_html()


def test_notebook_runs_in_quick_mode(tmp_path):
    outputs = run_notebook("backprop", tmp_path)
    assert "cases pass" in outputs and "finite-difference relative error" in outputs


