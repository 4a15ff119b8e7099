"""The batched trainer gives, per model, what ClassifierTrainer gives for that model alone."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.models.inductive import SimpleCNN, ThreeLayerMLP, init_edge_detectors
from scratchlab.training import ClassifierTrainer, EarlyStopping, TensorLoader
from scratchlab.training.accel import BatchedTrainer
from scratchlab.training.accel.batched_optim import BatchedOptimizer
from scratchlab.training.accel.batched_state import StackedData

SHAPE = (1, 10, 10)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster (and steadier on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def data(seed: int, n: int = 36, n_test: int = 20) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(100 + seed)
    return (
        torch.rand(n, *SHAPE, generator=g),
        torch.randint(0, 3, (n,), generator=g),
        torch.rand(n_test, *SHAPE, generator=g),
        torch.randint(0, 3, (n_test,), generator=g),
    )


def make_model(kind: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if kind == "mlp":
        return ThreeLayerMLP(100, (12, 8), 3)
    model = SimpleCNN(num_filters=2, kernel_size=3, num_classes=3)
    return init_edge_detectors(model, freeze=True) if kind == "edge_cnn" else model


def make_optimizer(kind: str, model: nn.Module, lr: float, wd: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=wd),
        "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd),
        "adam": lambda: torch.optim.Adam(params, lr=lr, betas=(0.85, 0.999), weight_decay=wd),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, weight_decay=wd),
    }[kind]()


def loaders(seed: int, shared: bool) -> tuple[TensorLoader, TensorLoader]:
    x, y, xt, yt = data(0 if shared else seed)
    return TensorLoader(x, y, batch_size=8, shuffle=True, seed=seed), TensorLoader(
        xt, yt, batch_size=6
    )


def train_alone(model_kind, opt_kind, seed, lr, wd, epochs, stopper=None, shared=False):
    model = make_model(model_kind, seed)
    optimizer = make_optimizer(opt_kind, model, lr, wd)
    train, test = loaders(seed, shared)
    fit = ClassifierTrainer(model, nn.CrossEntropyLoss(), optimizer).fit(
        train, test, epochs, early_stopping=copy.deepcopy(stopper), print_every=0
    )
    return fit, model, optimizer, train


def train_together(model_kind, opt_kind, seeds, lrs, wds, epochs, stoppers=None, shared=False):
    models = [make_model(model_kind, s) for s in seeds]
    optimizers = [
        make_optimizer(opt_kind, m, lr, wd) for m, lr, wd in zip(models, lrs, wds, strict=True)
    ]
    pairs = [loaders(s, shared) for s in seeds]
    trainer = BatchedTrainer(models, optimizers)
    fits = trainer.fit(
        [p[0] for p in pairs], [p[1] for p in pairs], epochs, early_stopping=copy.deepcopy(stoppers)
    )
    return fits, trainer, [p[0] for p in pairs]


def assert_same_fit(alone, together, rtol=1e-4):
    assert together.num_epochs == alone.num_epochs
    for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
        np.testing.assert_allclose(
            getattr(together, key), getattr(alone, key), rtol=rtol, atol=1e-7, err_msg=key
        )


@pytest.mark.parametrize(
    ("model_kind", "opt_kind", "shared"),
    [
        ("mlp", "momentum", False),
        ("mlp", "adam", True),
        ("mlp", "rmsprop", False),
        ("cnn", "momentum", False),
        ("cnn", "adamw", False),
        ("edge_cnn", "sgd", True),
    ],
)
def test_models_trained_together_match_each_trained_alone(model_kind, opt_kind, shared):
    seeds, lrs, wds = [0, 1, 2], [0.05, 0.02, 0.1], [0.0, 1e-3, 1e-2]
    if opt_kind in ("adam", "adamw", "rmsprop"):
        lrs = [3e-3, 1e-2, 1e-3]
    fits, trainer, batched_loaders = train_together(
        model_kind, opt_kind, seeds, lrs, wds, 3, shared=shared
    )
    for i, (seed, lr, wd) in enumerate(zip(seeds, lrs, wds, strict=True)):
        fit, model, optimizer, loader = train_alone(
            model_kind, opt_kind, seed, lr, wd, 3, shared=shared
        )
        assert_same_fit(fit, fits[i])
        assert torch.equal(batched_loaders[i].generator.get_state(), loader.generator.get_state())
        # adaptive steps amplify round-off of near-zero gradients
        if opt_kind in ("sgd", "momentum"):
            for name, value in model.state_dict().items():
                torch.testing.assert_close(
                    trainer.models[i].state_dict()[name], value, rtol=1e-4, atol=1e-5
                )
            ours = trainer.optimizers[i].state_dict()["state"]
            theirs = optimizer.state_dict()["state"]
            assert ours.keys() == theirs.keys()
            for key in theirs:
                for name, value in theirs[key].items():
                    torch.testing.assert_close(ours[key][name], value, rtol=1e-4, atol=1e-5)


def test_frozen_parameters_stay_frozen():
    models = [make_model("edge_cnn", s) for s in (0, 1)]
    frozen = models[0].features[0].weight.detach().clone()
    _, trainer, _ = train_together("edge_cnn", "momentum", [0, 1], [0.1, 0.1], [1e-2, 1e-2], 2)
    for model in trainer.models:
        assert not model.features[0].weight.requires_grad
        assert torch.equal(model.features[0].weight, frozen)
        head = model.fc_name
        assert not torch.equal(getattr(model, head).weight, getattr(models[0], head).weight)


def test_early_stopping_stops_each_model_at_its_own_epoch():
    # stops after epoch 2
    never_improves = EarlyStopping(patience=1, monitor="test_loss", min_delta=100.0)
    patient = EarlyStopping(patience=2, monitor="train_acc")
    stoppers = [never_improves, None, patient]
    seeds, lrs, wds = [0, 1, 2], [0.05, 0.05, 0.3], [0.0, 0.0, 0.0]
    fits, trainer, _ = train_together("mlp", "momentum", seeds, lrs, wds, 5, stoppers)
    assert fits[0].num_epochs == 2 and fits[1].num_epochs == 5
    for i, (seed, lr, stopper) in enumerate(zip(seeds, lrs, stoppers, strict=True)):
        fit, model, _, _ = train_alone("mlp", "momentum", seed, lr, 0.0, 5, stopper)
        assert_same_fit(fit, fits[i])
        for name, value in model.state_dict().items():  # a stopped model stopped changing
            torch.testing.assert_close(
                trainer.models[i].state_dict()[name], value, rtol=1e-4, atol=1e-5
            )
    assert trainer.outcomes[0].stopped and not trainer.outcomes[1].stopped
    assert trainer.outcomes[0].early_stopping["bad_epochs"] == 1


def test_per_model_epochs():
    fits, _, _ = train_together("mlp", "sgd", [0, 1], [0.05, 0.05], [0.0, 0.0], [2, 4])
    assert [f.num_epochs for f in fits] == [2, 4]
    fit, *_ = train_alone("mlp", "sgd", 0, 0.05, 0.0, 2)
    assert_same_fit(fit, fits[0])


def test_a_diverging_model_fails_alone_and_the_others_are_unaffected():
    fits, trainer, _ = train_together("mlp", "sgd", [0, 1], [1e30, 0.05], [0.0, 0.0], 3)
    assert trainer.outcomes[0].failure is not None and "loss became" in trainer.outcomes[0].failure
    assert trainer.outcomes[1].failure is None
    fit, *_ = train_alone("mlp", "sgd", 1, 0.05, 0.0, 3)
    assert_same_fit(fit, fits[1])


def test_best_state_is_the_weights_of_the_best_test_accuracy_epoch():
    models = [make_model("mlp", s) for s in (0, 1)]
    optimizers = [make_optimizer("momentum", m, 0.05, 0.0) for m in models]
    pairs = [loaders(s, False) for s in (0, 1)]
    trainer = BatchedTrainer(models, optimizers)
    fits = trainer.fit([p[0] for p in pairs], [p[1] for p in pairs], 4, keep_best=True)
    for model, fit, outcome, (_, test) in zip(models, fits, trainer.outcomes, pairs, strict=True):
        assert outcome.best_epoch == fit.epochs_to_best
        model.load_state_dict(outcome.best_state)
        x, y = test.tensors
        accuracy = 100.0 * (model(x).argmax(1) == y).float().mean().item()
        assert accuracy == pytest.approx(fit.best_test_acc, abs=1e-3)


@pytest.mark.parametrize(
    "bad", ["batchnorm", "dropout", "architecture", "optimizer", "single_logit"]
)
def test_refuses_what_it_cannot_train_like_the_single_trainer(bad):
    models = [make_model("mlp", 0), make_model("mlp", 1)]
    if bad == "batchnorm":
        models = [
            nn.Sequential(nn.Flatten(), nn.Linear(100, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
            for _ in range(2)
        ]
    elif bad == "dropout":
        models = [
            nn.Sequential(nn.Flatten(), nn.Linear(100, 4), nn.Dropout(0.5), nn.Linear(4, 3))
            for _ in range(2)
        ]
    elif bad == "architecture":
        models[1] = ThreeLayerMLP(100, (12, 9), 3)
    elif bad == "single_logit":
        models = [nn.Sequential(nn.Flatten(), nn.Linear(100, 1)) for _ in range(2)]
    optimizers = [
        torch.optim.Adagrad(m.parameters())
        if bad == "optimizer"
        else torch.optim.SGD(m.parameters(), lr=0.1)
        for m in models
    ]
    with pytest.raises(ConfigError):
        pairs = [loaders(s, False) for s in (0, 1)]
        BatchedTrainer(models, optimizers).fit([p[0] for p in pairs], [p[1] for p in pairs], 1)


def test_refuses_loaders_of_different_sizes():
    models = [make_model("mlp", s) for s in (0, 1)]
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.1) for m in models]
    x, y, xt, yt = data(0)
    train = [TensorLoader(x, y, batch_size=8), TensorLoader(x[:20], y[:20], batch_size=8)]
    with pytest.raises(ShapeError):
        BatchedTrainer(models, optimizers).fit(train, [TensorLoader(xt, yt)] * 2, 1)


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["sgd", "momentum", "adam", "adamw", "rmsprop"]),
    lrs=st.lists(st.floats(1e-4, 0.5), min_size=3, max_size=3),
    wds=st.lists(st.sampled_from([0.0, 1e-3, 0.1]), min_size=3, max_size=3),
    active=st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_batched_update_equals_torch_optim_per_model(kind, lrs, wds, active, seed):
    """Property: each model's stacked update is its own torch optimizer's (float64), skipped when
    inactive."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 2), (5,)]
    flat = torch.randn(3, 13, generator=g, dtype=torch.float64)
    singles = [
        [nn.Parameter(flat[i, :8].reshape(4, 2).clone()), nn.Parameter(flat[i, 8:].clone())]
        for i in range(3)
    ]
    optimizers = [
        make_optimizer(kind, nn.ParameterList(ps), lr, wd)
        for ps, lr, wd in zip(singles, lrs, wds, strict=True)
    ]
    batched = BatchedOptimizer(optimizers, flat, shapes)
    for flags in active:
        grad = torch.randn(3, 13, generator=g, dtype=torch.float64)
        batched.step(flat, grad, torch.tensor(flags))
        for i, optimizer in enumerate(optimizers):
            if flags[i]:
                singles[i][0].grad, singles[i][1].grad = (
                    grad[i, :8].reshape(4, 2).clone(),
                    grad[i, 8:].clone(),
                )
                optimizer.step()
    for i in range(3):
        torch.testing.assert_close(
            flat[i], torch.cat([p.detach().reshape(-1) for p in singles[i]]), rtol=1e-10, atol=1e-12
        )


def test_equal_data_is_stored_once_and_each_model_gets_its_own_rows():
    x, y, _, _ = data(0)
    loaders_ = [
        TensorLoader(x.clone(), y.clone(), batch_size=8, shuffle=True, seed=s) for s in (0, 1)
    ]
    loaders_.append(TensorLoader(x + 1, y, batch_size=8, shuffle=True, seed=2))
    stacked = StackedData(loaders_, torch.device("cpu"), "train")
    assert stacked.x.shape[0] == 2 and stacked.ids.tolist() == [0, 0, 1]
    index = torch.tensor([[3, 5], [3, 5], [3, 5]])
    xs, ys = stacked.gather(index.T)
    assert (
        torch.equal(xs[0], x[[3, 5]])
        and torch.equal(xs[2], x[[3, 5]] + 1)
        and torch.equal(ys[1], y[[3, 5]])
    )
