import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from scratchlab.errors import ScratchlabError
from scratchlab.training import TensorLoader


def data(n=23):
    x = torch.arange(n * 3, dtype=torch.float32).reshape(n, 3)
    return x, torch.arange(n)


@pytest.mark.parametrize("drop_last", [False, True])
def test_unshuffled_batches_equal_dataloader(drop_last):
    x, y = data()
    ours = list(TensorLoader(x, y, batch_size=5, drop_last=drop_last))
    theirs = list(DataLoader(TensorDataset(x, y), batch_size=5, drop_last=drop_last))
    assert len(ours) == len(theirs) == len(TensorLoader(x, y, batch_size=5, drop_last=drop_last))
    for (a, b), (c, d) in zip(ours, theirs, strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)


def test_shuffled_epoch_visits_every_item_once_and_keeps_pairs():
    x, y = data()
    loader = TensorLoader(x, y, batch_size=4, shuffle=True, seed=0)
    epochs = [torch.cat([b[1] for b in loader]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(23))
    assert not torch.equal(epochs[0], epochs[1])
    for bx, by in loader:
        assert torch.equal(bx, x[by])


def test_state_dict_resumes_the_same_permutations():
    x, y = data()
    a = TensorLoader(x, y, batch_size=4, shuffle=True, seed=3)
    next(iter(a))
    state = a.state_dict()
    expected = [b[1] for b in a]
    b = TensorLoader(x, y, batch_size=4, shuffle=True, seed=99)
    b.load_state_dict(state)
    for e, got in zip(expected, (batch[1] for batch in b), strict=True):
        assert torch.equal(e, got)


def test_transform_applies_to_inputs_only():
    x, y = data()
    (bx, by), *_ = TensorLoader(x, y, batch_size=5, transform=lambda t: -t)
    assert torch.equal(bx, -x[:5]) and torch.equal(by, y[:5])


def test_bad_inputs_are_user_errors():
    x, y = data()
    with pytest.raises(ScratchlabError, match="differ in length"):
        TensorLoader(x, y[:-1])
    with pytest.raises(ScratchlabError, match="batch_size"):
        TensorLoader(x, y, batch_size=0)
