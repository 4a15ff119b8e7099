"""confusion_matrix against counting by hand, and its rates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.classifiers import confusion_matrix
from scratchlab.errors import ConfigError, ShapeError


def manual_counts(y_true, y_pred, n):
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


labels = st.integers(1, 60).flatmap(
    lambda size: st.tuples(
        st.lists(st.integers(0, 4), min_size=size, max_size=size),
        st.lists(st.integers(0, 4), min_size=size, max_size=size),
    )
)


@settings(max_examples=40, deadline=None)
@given(labels)
def test_counts_and_rates(pair):
    y_true, y_pred = (np.array(v) for v in pair)
    cm = confusion_matrix(y_true, y_pred, num_classes=5)
    np.testing.assert_array_equal(cm.counts, manual_counts(y_true, y_pred, 5))
    sums = cm.rates.sum(axis=1)
    present = np.isin(np.arange(5), y_true)
    np.testing.assert_allclose(sums[present], 1.0)
    np.testing.assert_array_equal(sums[~present], 0.0)
    assert cm.accuracy == pytest.approx(np.mean(y_true == y_pred))


def test_binary_rates_from_tensors():
    y_true = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    y_pred = torch.tensor([0, 1, 1, 0, 1, 0, 1])
    cm = confusion_matrix(y_true, y_pred)
    fp = ((y_pred == 1) & (y_true == 0)).sum().item()
    fn = ((y_pred == 0) & (y_true == 1)).sum().item()
    assert cm.fpr == pytest.approx(fp / (y_true == 0).sum().item())
    assert cm.fnr == pytest.approx(fn / (y_true == 1).sum().item())


def test_errors():
    with pytest.raises(ConfigError, match="2 classes"):
        _ = confusion_matrix([0, 1, 2], [0, 1, 2]).fpr
    with pytest.raises(ConfigError, match="num_classes"):
        confusion_matrix([0, 3], [0, 1], num_classes=2)
    with pytest.raises(ShapeError):
        confusion_matrix([0, 1], [0])
