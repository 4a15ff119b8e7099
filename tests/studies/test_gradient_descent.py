"""The gradient-descent study: analytic gradient, global minimum, descent rule, findings,
outputs."""

from __future__ import annotations

import html

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.studies import get_study
from scratchlab.studies import gradient_descent as gd

from .conftest import run_notebook

TINY = gd.Settings(
    step_sizes=(0.03, 0.15, 0.7),
    steps=(10, 60),
    decay_lr0=(0.15, 0.3),
    decays=(0.9, 0.99),
    decay_steps=60,
)


@pytest.fixture(scope="module")
def grid():
    return gd.run_grid(TINY)


@settings(max_examples=30, deadline=None)
@given(st.floats(-4, 4), st.floats(-4, 4))
def test_gradient_matches_autograd(x, y):
    p = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
    (ref,) = torch.autograd.grad(gd.f(p), p)
    assert torch.allclose(gd.grad_f(p.detach()), ref, atol=1e-12)
    assert np.allclose(gd.grad_f(np.array([x, y])), ref.numpy(), atol=1e-12)


def test_global_minimum_beats_a_dense_grid_and_is_stationary():
    x_star, f_star = gd.global_minimum()
    xs, ys = np.meshgrid(np.linspace(-5, 5, 801), np.linspace(-5, 5, 801))
    assert f_star <= gd.f(np.stack([xs, ys], -1)).min() + 1e-9
    assert np.abs(gd.grad_f(x_star)).max() < 1e-6


def test_descent_follows_the_decayed_update_rule():
    lr0, decay = 0.1, 0.9
    p, expected = np.array(gd.START), [np.array(gd.START)]
    for t in range(25):
        p = p - lr0 * decay**t * gd.grad_f(p)
        expected.append(p)
    assert np.allclose(gd.descend(lr0, 25, decay), np.array(expected), atol=1e-12)


def test_divergence_is_cut_short():
    path = gd.descend(0.7, 300)
    assert np.isnan(path[-1]).all() and np.isfinite(path[0]).all()


def test_findings_quote_the_table(grid):
    table, _, x_star, f_star = grid
    text = "\n".join(gd.findings(table, x_star, f_star))
    assert f"f* = {f_star:.4f}" in text
    reached = table[(table.experiment == "constant") & table.reached]
    constant = (table.experiment == "constant").sum()
    assert f"{len(reached)} of {constant} settings with constant" in text
    assert "eta0 = 0.7" in text  # the diverging step size


def test_findings_follow_changed_numbers(grid):
    table, _, x_star, f_star = grid
    changed = table.copy()
    changed.loc[changed.experiment == "constant", "reached"] = False
    assert "0 of" in gd.findings(changed, x_star, f_star)[1]
    changed.loc[0, ["f_final", "gap", "diverged"]] = [f_star - 1.0, -1.0, False]
    assert f"f = {f_star - 1.0:.4f}" in "\n".join(gd.findings(changed, x_star, f_star))


def test_run_writes_table_figures_and_report(tmp_path):
    result = get_study("gradient-descent").run(out_dir=tmp_path, settings=TINY)
    out = result.save()
    assert {"table.csv", "summary.csv", "report.html"} <= {p.name for p in out.iterdir()}
    assert {p.stem for p in (out / "figures").iterdir()} == set(result.figures)
    assert {
        "study",
        "experiment",
        "run_name",
        "lr0",
        "decay",
        "steps",
        "seed",
        "f_final",
        "gap",
    } <= set(result.table)
    assert html.escape(result.findings[1]) in result.report_html()


def test_notebook_runs_in_quick_mode(tmp_path):
    outputs = run_notebook("gradient_descent", tmp_path)
    assert "global minimum" in outputs


