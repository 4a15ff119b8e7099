"""The digits-networks study: functional nets, both backward passes, findings that follow the
table."""

from __future__ import annotations

import html

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from scratchlab import scratch
from scratchlab.studies import digits_networks as dn
from scratchlab.studies import get_study

from .conftest import run_notebook

TINY = dn.Settings(epochs=2, grid_lrs=(0.1,), grid_batch_sizes=(64,), grid_epochs=(1, 2))


@pytest.fixture(scope="module")
def data():
    return dn.load_digits(torch.device("cpu"))


@pytest.mark.parametrize("arch", list(dn.ARCHITECTURES))
def test_hand_written_gradients_match_autograd(arch, data):
    net = dn.FunctionalNet(dn.ARCHITECTURES[arch], torch.Generator().manual_seed(1))
    x, y = data["train"][0][:50].double(), data["train"][1][:50]
    net.params = [(w.double(), b.double(), act) for w, b, act in net.params]
    net.grads = [(dw.double(), db.double()) for dw, db in net.grads]
    tensors = [t.clone().requires_grad_(True) for t in net.tensors()]
    probs = scratch.network(
        x, [(tensors[2 * i], tensors[2 * i + 1], a) for i, (_, _, a) in enumerate(net.params)]
    )
    refs = torch.autograd.grad(F.binary_cross_entropy(probs, y.double()), tensors)
    net.loss_and_grads(x, y)
    ours = [g for pair in net.grads for g in pair]
    assert max(float((a - b).abs().max()) for a, b in zip(ours, refs, strict=True)) < 1e-12
    assert net.gradient_difference(x, y) < 1e-12


def test_training_lowers_the_loss_and_records_exact_metrics(data):
    net = dn.FunctionalNet(dn.ARCHITECTURES[dn.TWO_LAYER], torch.Generator().manual_seed(0))
    before = net.evaluate(*data["train"])
    records = dn.train(net, data, lr=0.1, batch_size=64, epochs=2, seed=0, record=(2,))
    assert records[2]["train_loss"] < before[0]
    assert records[2]["valid_acc"] == pytest.approx(net.evaluate(*data["valid"])[1])


def _table(two_layer: float, linear: float, one_layer: float) -> pd.DataFrame:
    rows = []
    for arch, acc in (
        (dn.ONE_LAYER, one_layer),
        (dn.TWO_LAYER, two_layer),
        (dn.LINEAR, linear),
        (dn.DEEP, 96.0),
    ):
        for seed in range(3):
            for backward in ("scratch", "autograd"):
                rows.append(
                    {
                        "experiment": "architectures",
                        "architecture": arch,
                        "backward": backward,
                        "seed": seed,
                        "valid_acc": acc + 0.3 * seed,
                        "grad_diff": 1e-8,
                        "param_diff": 1e-6,
                    }
                )
    return pd.DataFrame(rows)


def test_findings_follow_the_numbers():
    met = dn.findings(_table(96.0, 89.0, 89.2))
    assert "96.3 +- 0.3%" in met[0] and "meets" in met[0]
    assert "inconclusive" in met[1] and "-0.2 points" in met[1] and "95% CI" in met[1]
    missed = dn.findings(_table(93.0, 80.0, 89.2))
    assert "misses" in missed[0]
    assert missed[1].endswith("points: below.") and "-9.2 points" in missed[1]


def test_run_writes_both_backward_passes_and_the_grid(tmp_path):
    result = get_study("digits-networks").run(seeds=1, out_dir=tmp_path, settings=TINY)
    table = result.table
    arch = table[table.experiment == "architectures"]
    assert sorted(arch.backward.unique()) == ["autograd", "scratch"]
    assert set(arch.architecture) == set(dn.ARCHITECTURES)
    assert (arch.grad_diff < 1e-4).all()
    assert len(table[table.experiment == "grid"]) == 2
    out = result.save()
    assert (out / "table.csv").exists() and (out / "figures" / "grid.png").exists()
    assert html.escape(result.findings[1]) in result.report_html()


def test_notebook_runs_in_quick_mode(tmp_path):
    outputs = run_notebook("digits_networks", tmp_path)
    assert "validation accuracy" in outputs and "largest gradient difference" in outputs


