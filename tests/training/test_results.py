import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchlab.training import BatchResult, EpochResult, FitResult

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


def same_floats(a, b):
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b, strict=True)
    )


@given(loss=floats, correct=st.integers(0, 10**9))
def test_batch_result_round_trips_json(loss, correct):
    back = BatchResult.from_json(BatchResult(loss, correct).to_json())
    assert same_floats([back.loss], [loss]) and back.num_correct == correct


@given(losses=st.lists(floats, max_size=20), acc=st.floats(0, 100))
def test_epoch_result_round_trips_json(losses, acc):
    back = EpochResult.from_json(EpochResult(losses, acc).to_json())
    assert same_floats(back.losses, losses) and back.accuracy == acc


@given(
    epochs=st.integers(0, 5),
    losses=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), max_size=10),
    accs=st.lists(st.floats(0, 100), max_size=5),
)
def test_fit_result_round_trips_json(epochs, losses, accs):
    fit = FitResult(epochs, losses, accs, losses[::-1], accs[::-1])
    assert FitResult.from_json(fit.to_json()) == fit


def test_fit_result_append_and_summaries():
    first = FitResult(0).with_epoch(EpochResult([3.0, 1.0], 50.0), EpochResult([2.0], 60.0))
    fit = first.with_epoch(EpochResult([1.0, 1.0], 70.0), EpochResult([1.0], 55.0))
    assert first.num_epochs == 1 and first.train_loss == [3.0, 1.0]  # results are immutable
    assert fit.num_epochs == 2
    assert fit.train_loss == [3.0, 1.0, 1.0, 1.0] and fit.test_acc == [60.0, 55.0]
    assert fit.best_test_acc == 60.0 and fit.epochs_to_best == 1
    assert fit.epoch_mean("train_loss") == [2.0, 1.0]


def test_from_dict_names_missing_fields():
    with pytest.raises(KeyError, match="test_acc"):
        FitResult.from_dict({"num_epochs": 1, "train_loss": [], "train_acc": [], "test_loss": []})


def test_results_are_the_course_named_tuples():
    loss, num_correct = BatchResult(0.5, 3)
    assert (loss, num_correct) == (0.5, 3)
    assert EpochResult([1.0], 50.0)._asdict() == {"losses": [1.0], "accuracy": 50.0}
    fit = FitResult(1, [1.0], [50.0], [2.0], [40.0])
    assert list(fit._asdict()) == ["num_epochs", "train_loss", "train_acc", "test_loss", "test_acc"]
    num_epochs, train_loss, *_ = fit
    assert (num_epochs, train_loss) == (1, [1.0])
