"""TensorPool keeps one tensor per content; unflatten gives views of a flat buffer."""

from __future__ import annotations

import torch

from scratchlab.util.tensors import TensorPool, unflatten


def test_pool_returns_the_first_equal_tensor():
    pool = TensorPool()
    a = torch.arange(12.0).reshape(3, 4)
    assert pool.intern(a) is a
    assert pool.intern(a.clone()) is a
    other = a + 1
    assert pool.intern(other) is other
    assert pool.intern(a.double()) is not a  # another dtype is other data


def test_unflatten_gives_views_in_order():
    flat = torch.arange(2 * 10.0).reshape(2, 10)
    first, second = unflatten(flat, [(2, 3), (4,)])
    assert first.shape == (2, 2, 3) and second.shape == (2, 4)
    assert torch.equal(second[1], torch.tensor([16.0, 17, 18, 19]))
    first.zero_()
    assert flat[:, :6].eq(0).all() and flat[:, 6:].ne(0).all()
    row = unflatten(flat[1], [(2, 3), (4,)])
    assert row[1].shape == (4,) and row[1].data_ptr() == flat[1, 6:].data_ptr()
