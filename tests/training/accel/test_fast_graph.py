"""The fast trainer's step as one CUDA graph (`speed.cuda_graph` with trainer fast).

Tensor learning rates, FilterMuon with a tensor rate and the graph-safety check run anywhere;
the graphed run against the eager one needs a GPU and skips without one.
"""

from __future__ import annotations

import pytest
import torch

from scratchlab.errors import ConfigError
from scratchlab.experiments import ExperimentConfig, RunData, build_trainer
from scratchlab.experiments.recipes import recipe_config
from scratchlab.optim import CombinedOptimizer, FilterMuon
from scratchlab.training.accel import make_fast_loaders
from scratchlab.training.accel.cuda_graph import GraphedClassifierTrainer, graph_safe
from scratchlab.training.accel.fast_optim import make_optim, set_lr
from scratchlab.training.accel.fast_settings import FastSettings
from scratchlab.util import seed_everything

from .test_fast_muon import colour_classes

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")


def muon_run(device: str, epochs: int = 1, seed: int = 0, **overrides):
    """The quick `cifar10-fast` config trained on 96 tiny images: (fit, model, trainer)."""
    seed_everything(seed)
    fields = {"epochs": epochs, "bs_train": 16, "bs_test": 48, "device": device,
              "whiten_samples": 48}
    config = recipe_config("cifar10-fast", quick=True, **{**fields, **overrides})
    x, y = colour_classes(96, seed=1)
    x, y = x.to(device), y.to(device)
    train, test = make_fast_loaders(x, y, x, y, config.fast, 16, 48, seed=seed)
    built = build_trainer(config, RunData(train, test, (3, 16, 16), 3, list("rgb")),
                          torch.device(device), [])
    before, torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark, False
    try:  # the same conv algorithms in every run
        fit = built.trainer.fit(train, test, epochs, print_every=0)
    finally:
        torch.backends.cudnn.benchmark = before
    return fit, built.model, built.trainer


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3))


def test_tensor_rates_follow_the_schedule_in_place():
    settings = FastSettings(filter_optimizer="muon")
    floats = make_optim(small_model(), 0.1, 0.01, 0.9, settings)
    tensors = make_optim(small_model(), 0.1, 0.01, 0.9, settings, tensor_lr=True)
    held = [g["lr"] for g in tensors.param_groups]
    assert all(isinstance(lr, torch.Tensor) for lr in held)
    for factor, whiten in ((0.5, 1.0), (0.25, 0.0), (1.0, 0.75)):
        set_lr(floats, factor, whiten)
        set_lr(tensors, factor, whiten)
        assert [g["lr"] for g in tensors.param_groups] == held  # the same tensors, filled
        for f, t in zip(floats.param_groups, tensors.param_groups, strict=True):
            assert float(t["lr"]) == pytest.approx(f["lr"], rel=1e-6)


def test_filter_muon_with_a_tensor_rate_takes_the_float_rate_step():
    torch.manual_seed(0)
    start = torch.randn(8, 3, 3, 3)
    grads = [torch.randn(8, 3, 3, 3) for _ in range(3)]
    weights = []
    for lr in (0.05, torch.tensor(0.05)):
        w = torch.nn.Parameter(start.clone())
        optimizer = FilterMuon([w], lr=0.05, momentum=0.6, normalize_weights=True)
        optimizer.param_groups[0]["lr"] = lr
        for g in grads:
            w.grad = g.clone()
            optimizer.step()
        weights.append(w.detach())
    torch.testing.assert_close(weights[1], weights[0], rtol=1e-5, atol=1e-6)
    assert not torch.equal(weights[0], start)


def test_only_steps_with_device_rates_count_as_graph_safe():
    settings = FastSettings(filter_optimizer="muon")
    assert graph_safe(make_optim(small_model(), 0.1, 0.01, 0.9, settings, fused=True,
                                 tensor_lr=True))
    assert not graph_safe(make_optim(small_model(), 0.1, 0.01, 0.9, settings, fused=True))
    unfused = make_optim(small_model(), 0.1, 0.01, 0.9, settings, tensor_lr=True)
    assert isinstance(unfused, CombinedOptimizer) and not graph_safe(unfused)
    adam = torch.optim.Adam(small_model().parameters(), lr=torch.tensor(0.01))
    assert not graph_safe(adam)  # not capturable


def test_the_fast_trainer_takes_cuda_graph_in_configs():
    config = recipe_config("cifar10-fast", cuda_graph=True)
    assert config.speed.cuda_graph and config.trainer == "fast"
    assert ExperimentConfig.load(config.to_dict()).speed.cuda_graph


def test_on_a_cpu_cuda_graph_steps_eagerly_with_the_same_numbers():
    plain, plain_model, _ = muon_run("cpu")
    graphed, graphed_model, trainer = muon_run("cpu", cuda_graph=True)
    assert trainer.graph is None
    assert graphed.train_loss == plain.train_loss and graphed.test_acc == plain.test_acc
    for a, b in zip(plain_model.state_dict().values(), graphed_model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


@needs_cuda
def test_the_graphed_fast_step_gives_the_eager_numbers():
    """Across the epoch where the whitening bias stops training, so the graph is captured again."""
    changes = {"whiten_bias_epochs": 1, "precision": "fp32", "channels_last": False}
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True):
        eager, eager_model, _ = muon_run("cuda", epochs=3, **changes)  # the same conv algorithms
        graphed, graphed_model, trainer = muon_run("cuda", epochs=3, cuda_graph=True, **changes)
    assert trainer.graph is not None and trainer.graph.graph is not None
    assert trainer.graph.mode == tuple(p.requires_grad for p in graphed_model.parameters())
    assert graphed.num_epochs == eager.num_epochs == 3
    # float round-off (Newton-Schulz in bfloat16) grows over 18 steps: a few parts in 1,000
    torch.testing.assert_close(torch.tensor(graphed.train_loss), torch.tensor(eager.train_loss),
                               rtol=5e-3, atol=5e-4)
    for (name, a), b in zip(eager_model.state_dict().items(),
                            graphed_model.state_dict().values(), strict=True):
        torch.testing.assert_close(b.float(), a.float(), rtol=5e-3, atol=5e-3, msg=name)


def test_graphed_classifier_trainer_takes_a_compiled_forward():  # mode default: no own graphs
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        GraphedClassifierTrainer(small_model(), torch.nn.CrossEntropyLoss(), None, compile=True,
                                 device="cpu")


@needs_cuda
def test_a_compiled_forward_inside_the_graphed_step_trains_as_the_eager_one():
    """compile mode default: Inductor's kernels captured in the whole step's graph."""
    changes = {"precision": "fp32", "channels_last": False}
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True):
        eager, _, _ = muon_run("cuda", epochs=2, **changes)
        both, _, trainer = muon_run("cuda", epochs=2, cuda_graph=True, compile=True, **changes)
    assert trainer.graph is not None and trainer.graph.graph is not None
    # fused kernels round differently: the losses agree to a few parts in 100
    torch.testing.assert_close(torch.tensor(both.train_loss), torch.tensor(eager.train_loss),
                               rtol=3e-2, atol=3e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="cuDNN needs a CUDA GPU")
def test_the_fast_trainer_sets_cudnn_benchmark_as_asked(monkeypatch):
    from scratchlab.training.accel import FastTrainer

    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    for value in (True, False):
        FastTrainer(small_model(), lr=0.1, reg=0.0, momentum=0.9, cudnn_benchmark=value,
                    device="cuda")
        assert torch.backends.cudnn.benchmark is value
