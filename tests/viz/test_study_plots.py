"""Side-by-side figures: one titled panel per item, bars of numbers over seeds, epoch curves."""

import matplotlib.pyplot as plt
import pytest
import torch

from scratchlab.training import FitResult
from scratchlab.util import Stat
from scratchlab.viz import epoch_curves, kernel_row, panel_row, seed_bars

FIT = FitResult(
    3, [2.0, 1.8, 1.5, 1.3, 1.1, 1.0], [40.0, 55.0, 61.0], [1.9, 1.4, 1.2], [45.0, 52.0, 58.0]
)


def test_panel_row_draws_and_titles_one_panel_per_item():
    drawn = []
    fig = panel_row({"a": 1, "b": 2}, lambda item, ax: drawn.append(item), size=(2, 3))
    assert drawn == [1, 2] and [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert tuple(fig.get_size_inches()) == (4, 3)
    kernels = kernel_row({"w": torch.randn(3, 1, 5, 5)})
    assert len(kernels.axes) == 1 and kernels.axes[0].get_title() == "w"
    plt.close("all")


def test_seed_bars_show_mean_std_and_every_seed():
    fig = seed_bars([("x", Stat((10.0, 20.0))), ("y", Stat((50.0,)))], "t", chance=20.0)
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx([15.0, 50.0])
    dots = [line for line in ax.lines if line.get_marker() == "."]
    assert [len(line.get_ydata()) for line in dots] == [2, 1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    plt.close(fig)


def test_epoch_curves_draw_train_and_validation_per_run():
    fig = epoch_curves({"a": FIT, "b": FIT}, title="q: ", target=95)
    loss, acc = fig.axes
    assert len(loss.lines) == 4 and len(acc.lines) == 5  # 2 runs x train/valid, + the target
    assert loss.get_yscale() == "log" and acc.get_title() == "q: accuracy"
    assert list(loss.lines[1].get_ydata()) == [1.9, 1.4, 1.2]
    plt.close(fig)
