import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from scratchlab.training import BatchResult, ClassifierTrainer, LayerTrainer, TensorLoader
from scratchlab.util import seed_everything


def digits(n):
    data = load_digits()
    x = torch.tensor(data.images[:n] / 16.0, dtype=torch.float32).unsqueeze(1)
    return x, torch.tensor(data.target[:n])


def test_scratch_mlp_overfits_20_samples_within_20_epochs():
    from scratchlab import optim, scratch

    seed_everything(0)
    x, y = digits(20)
    model = scratch.MLP(64, 10, [128, 128, 128], activation="relu", wstd=0.1)
    trainer = LayerTrainer(
        model, scratch.CrossEntropyLoss(), optim.VanillaSGD(model.params(), learn_rate=0.05)
    )
    loader = TensorLoader(x, y, batch_size=10, shuffle=True, seed=0)
    fit = trainer.fit(loader, loader, num_epochs=20, print_every=0)
    assert max(fit.train_acc) == 100.0


def test_torch_cnn_overfits_50_samples():
    seed_everything(0)
    x, y = digits(50)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 10)
    )
    trainer = ClassifierTrainer(
        model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-2)
    )
    loader = TensorLoader(x, y, batch_size=10, shuffle=True, seed=0)
    fit = trainer.fit(loader, loader, num_epochs=15, print_every=0)
    assert fit.train_acc[-1] >= 90.0


def test_binary_single_logit_model_counts_correct_by_sign():
    seed_everything(0)
    x = torch.randn(200, 2)
    y = (x[:, 0] + x[:, 1] > 0).long()
    model = nn.Linear(2, 1)
    trainer = ClassifierTrainer(
        model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.5)
    )
    loader = TensorLoader(x, y, batch_size=50)
    fit = trainer.fit(loader, loader, num_epochs=10, print_every=0)
    with torch.no_grad():
        expected = 100.0 * ((model(x).squeeze(1) > 0).long() == y).float().mean().item()
    assert fit.test_acc[-1] == pytest.approx(expected)
    assert fit.test_acc[-1] > 95.0


def test_train_batch_returns_python_numbers_equal_to_a_manual_step():
    seed_everything(0)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    model = nn.Linear(5, 3)
    reference = nn.Linear(5, 3)
    reference.load_state_dict(model.state_dict())
    with torch.no_grad():
        correct_before = int((model(x).argmax(1) == y).sum())
    trainer = ClassifierTrainer(
        model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1)
    )
    result = trainer.train_batch((x, y))
    assert result.num_correct == correct_before
    assert isinstance(result, BatchResult) and isinstance(result.loss, float)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    loss = nn.functional.cross_entropy(reference(x), y)
    loss.backward()
    ref_opt.step()
    assert result.loss == pytest.approx(loss.item())
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(p, q)


def test_bf16_autocast_trains_on_cpu():
    seed_everything(0)
    x, y = digits(50)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    trainer = ClassifierTrainer(
        model,
        nn.CrossEntropyLoss(),
        torch.optim.Adam(model.parameters(), lr=1e-2),
        precision="bf16",
    )
    fit = trainer.fit(
        TensorLoader(x, y, batch_size=25), TensorLoader(x, y, batch_size=25), 5, print_every=0
    )
    assert np.isfinite(fit.train_loss).all() and fit.train_acc[-1] > fit.train_acc[0]


def test_max_batches_limits_each_epoch():
    x, y = digits(50)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    trainer = ClassifierTrainer(
        model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1)
    )
    fit = trainer.fit(
        TensorLoader(x, y, batch_size=5),
        TensorLoader(x, y, batch_size=5),
        3,
        max_batches=2,
        print_every=0,
    )
    assert len(fit.train_loss) == 6 and len(fit.test_loss) == 6


def test_batches_are_fetched_and_stepped_under_the_launch_lock_and_the_rest_outside(monkeypatch):
    """Runs sharing a GPU rely on it: nothing is launched outside the lock, no wait inside."""
    from scratchlab.training.accel import launch

    class RecordingLock:
        def __init__(self):
            self.held, self.entries = False, 0

        def __enter__(self):
            assert not self.held
            self.held, self.entries = True, self.entries + 1

        def __exit__(self, *exc):
            self.held = False

    class Event:  # stands in for torch.cuda.Event: waiting must happen outside the lock
        def record(self):
            pass

        def synchronize(self):
            assert not lock.held, "waited for the device inside the launch lock"

    class CheckingLoader(TensorLoader):
        def _batches(self, order):
            for batch in super()._batches(order):
                assert lock.held, "a batch was fetched outside the launch lock"
                yield batch

    lock = RecordingLock()
    monkeypatch.setattr(launch, "CAPTURE_LOCK", lock)
    monkeypatch.setattr(launch, "STEPS_AHEAD", 2)
    monkeypatch.setattr(launch.torch.cuda, "Event", Event)
    x, y = digits(50)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    stepped = []

    class Recording(ClassifierTrainer):
        def train_batch(self, batch):
            stepped.append(lock.held)
            return super().train_batch(batch)

    trainer = launch.shared(Recording)(
        model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1)
    )
    trainer.fit(
        CheckingLoader(x, y, batch_size=10, shuffle=True, seed=0),
        CheckingLoader(x, y, batch_size=25),
        num_epochs=2,
        print_every=0,
    )
    assert stepped == [True] * 10 and not lock.held
    # each train batch: fetch + step; each test batch: fetch + step; each pass: the final fetch
    assert lock.entries == 2 * (2 * 5 + 1) + 2 * (2 * 2 + 1)


def test_fit_calls_an_overridden_train_batch_and_test_batch():
    calls = []

    class Counting(ClassifierTrainer):
        def train_batch(self, batch):
            calls.append("train")
            return super().train_batch(batch)

        def test_batch(self, batch):
            calls.append("test")
            return super().test_batch(batch)

    x, y = digits(40)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    trainer = Counting(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    trainer.fit(
        TensorLoader(x, y, batch_size=10), TensorLoader(x, y, batch_size=20), 2, print_every=0
    )
    assert calls == (["train"] * 4 + ["test"] * 2) * 2


def test_a_callback_stops_the_fit_and_sees_every_hook_in_order():
    from scratchlab.training import Callback

    class Watcher(Callback):
        def __init__(self):
            self.seen = []

        def on_fit_start(self, trainer):
            self.seen.append("fit_start")

        def on_phase_start(self, trainer, phase, num_batches):
            self.seen.append(f"{phase}_start:{num_batches}")

        def on_batch_end(self, trainer, phase, result):
            self.seen.append(f"{phase}_batch")

        def on_phase_end(self, trainer, phase, result):
            self.seen.append(f"{phase}_end")

        def on_epoch_end(self, trainer, train, test):
            self.seen.append(f"epoch_end:{trainer.epochs_done}")
            trainer.should_stop = trainer.epochs_done == 2

        def on_fit_end(self, trainer):
            self.seen.append("fit_end")

    x, y = digits(20)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    trainer = ClassifierTrainer(
        model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1)
    )
    watcher = Watcher()
    fit = trainer.fit(
        TensorLoader(x, y, batch_size=10),
        TensorLoader(x, y, batch_size=20),
        5,
        print_every=0,
        callbacks=[watcher],
    )
    epoch = [
        "train_start:2",
        "train_batch",
        "train_batch",
        "train_end",
        "test_start:1",
        "test_batch",
        "test_end",
    ]
    assert fit.num_epochs == 2
    assert watcher.seen == ["fit_start", *epoch, "epoch_end:1", *epoch, "epoch_end:2", "fit_end"]


def test_post_epoch_fn_gets_the_course_arguments():
    seen = []
    x, y = digits(20)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    trainer = ClassifierTrainer(
        model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1)
    )
    fit = trainer.fit(
        TensorLoader(x, y, batch_size=10),
        TensorLoader(x, y, batch_size=20),
        2,
        print_every=0,
        post_epoch_fn=lambda *a: seen.append(a),
    )
    assert [s[0] for s in seen] == [0, 1] and seen[1][2].accuracy == fit.test_acc[1]
