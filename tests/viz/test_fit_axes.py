"""Loss panels of train and test keep their own batch axes; accuracy panels tick whole epochs."""

from scratchlab.training import FitResult
from scratchlab.viz import plot_exp_results, plot_fit

FIT = FitResult(3, [2.0, 1.8, 1.5, 1.3, 1.1, 1.0, 0.9, 0.8, 0.7], [40.0, 55.0, 61.0],
                [1.9, 1.4, 1.2], [45.0, 52.0, 58.0])


def test_train_and_test_loss_do_not_share_a_batch_axis():
    _, axes = plot_fit(FIT)
    train_loss, _, test_loss, _ = axes
    assert test_loss not in train_loss.get_shared_x_axes().get_siblings(train_loss)
    assert train_loss.get_xlim()[1] < 10 and test_loss.get_xlim()[1] < 4


def test_accuracy_panels_share_whole_epoch_ticks():
    _, axes = plot_exp_results({"a": FIT, "b": FIT._replace(test_acc=[40.0, 50.0, 60.0])})
    train_acc, test_acc = axes[1], axes[3]
    assert test_acc in train_acc.get_shared_x_axes().get_siblings(train_acc)
    for ax in (train_acc, test_acc):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
