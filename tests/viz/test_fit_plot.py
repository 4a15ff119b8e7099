import numpy as np

from scratchlab.training import FitResult
from scratchlab.viz import plot_fit


def fit(offset):
    return FitResult(
        2, [1.0 + offset, 0.5, 0.4, 0.3], [50.0, 60.0 + offset], [0.9, 0.8], [55.0, 58.0]
    )


def test_grid_has_four_panels_with_the_runs_data(tmp_path):
    fig, axes = plot_fit(fit(0), legend="a")
    assert len(axes) == 4
    train_loss = axes[0].lines[0]
    assert np.array_equal(train_loss.get_ydata(), fit(0).train_loss)
    assert np.array_equal(axes[3].lines[0].get_ydata(), fit(0).test_acc)
    fig.savefig(tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 0


def test_passing_fig_adds_runs_and_replaces_same_legend():
    fig, _ = plot_fit(fit(0), legend="a")
    fig, axes = plot_fit(fit(1), fig=fig, legend="b")
    fig, axes = plot_fit(fit(2), fig=fig, legend="a")
    labels = [line.get_label() for line in axes[1].lines]
    assert sorted(labels) == ["a", "b"]
    a_line = next(line for line in axes[1].lines if line.get_label() == "a")
    assert list(a_line.get_ydata()) == fit(2).train_acc


def test_overlay_is_one_row_train_and_test():
    _, axes = plot_fit(fit(0), train_test_overlay=True, log_loss=True)
    assert len(axes) == 2
    assert [line.get_label() for line in axes[0].lines] == ["train", "test"]
    assert axes[0].get_yscale() == "log"
