import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.errors import ScratchlabError
from scratchlab.training import BatchResult, EarlyStopping, Trainer


class ScriptedTrainer(Trainer):
    """Test loss of epoch e is script[e]; the model's weight records the epoch that trained it."""

    def __init__(self, script):
        super().__init__(torch.nn.Linear(1, 1, bias=False))
        self.script, self.trained = script, 0

    def train_batch(self, batch):
        self.trained += 1
        with torch.no_grad():
            self.model.weight.fill_(self.trained)
        return BatchResult(1.0, 1)

    def test_batch(self, batch):
        loss = self.script[self.trained - 1]
        return BatchResult(loss, int(100 - 100 * loss))


def reference_stop(losses, patience, min_delta=0.0):
    """Epochs run and best epoch under the rule, by a direct loop."""
    best, best_epoch, bad = None, 0, 0
    for epoch, loss in enumerate(losses, start=1):
        if best is None or loss < best - min_delta:
            best, best_epoch, bad = loss, epoch, 0
        else:
            bad += 1
            if bad >= patience:
                return epoch, best_epoch
    return len(losses), best_epoch


one_batch = [[torch.zeros(100), torch.zeros(100)]]  # 100 samples: num_correct is the accuracy


@settings(max_examples=40, deadline=None)
@given(
    losses=st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.4, 0.5]), min_size=1, max_size=12),
    patience=st.integers(1, 4),
)
def test_stops_at_the_epoch_the_rule_gives_and_restores_best(losses, patience):
    trainer = ScriptedTrainer(losses)
    stopper = EarlyStopping(patience=patience, restore_best=True)
    fit = trainer.fit(
        one_batch, one_batch, num_epochs=len(losses), early_stopping=stopper, print_every=0
    )
    expected_epochs, best_epoch = reference_stop(losses, patience)
    assert fit.num_epochs == expected_epochs
    assert trainer.model.weight.item() == best_epoch


def test_monitor_test_acc_and_min_delta():
    losses = [0.50, 0.45, 0.44, 0.43, 0.30]
    stopper = EarlyStopping(patience=2, monitor="test_acc", min_delta=2.0)
    fit = ScriptedTrainer(losses).fit(
        one_batch, one_batch, num_epochs=5, early_stopping=stopper, print_every=0
    )
    accs = [int(100 - 100 * x) for x in losses]
    expected, _ = reference_stop([-a for a in accs], patience=2, min_delta=2.0)
    assert fit.num_epochs == expected


def test_integer_patience_is_accepted():
    fit = ScriptedTrainer([0.5, 0.6, 0.7, 0.8]).fit(
        one_batch, one_batch, num_epochs=4, early_stopping=2, print_every=0
    )
    assert fit.num_epochs == 3


@pytest.mark.parametrize(
    "kwargs", [{"patience": 0}, {"patience": 2, "monitor": "val"}, {"patience": 1, "min_delta": -1}]
)
def test_bad_settings_are_user_errors(kwargs):
    with pytest.raises(ScratchlabError):
        EarlyStopping(**kwargs)
