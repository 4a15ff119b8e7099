"""The CUDA-graph training step: the same numbers as the eager step, resume, and clear errors.

The equivalence tests need a GPU and skip without one; the error and state tests run anywhere.
"""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.experiments import ExperimentConfig, run_experiment
from scratchlab.training import ClassifierTrainer, TensorLoader
from scratchlab.training.accel.cuda_graph import (
    GraphedClassifierTrainer,
    GraphedTrainStep,
    capturable_optimizer,
)
from scratchlab.training.loop import load_optimizer_state
from scratchlab.util.cuda_graphs import gc_paused

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")


class WaitsWhenCaptured(nn.Module):
    """Identity that reads a number back to the host while a CUDA graph captures (not allowed)."""

    def forward(self, x):
        if torch.cuda.is_current_stream_capturing():
            float(x.sum())
        return x


def conv_net(*first: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        *first,
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def data(device, n=200):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 10, (n,), generator=g)
    return x.to(device), y.to(device)


def train(graph: bool, epochs: int, prefix=None, resume=False, precision="fp32", first=()):
    device = torch.device("cuda")
    model = conv_net(*first).to(device)
    optimizer = capturable_optimizer("adamw", list(model.parameters()), 0.01, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + 0.1 * step))
    cls = GraphedClassifierTrainer if graph else ClassifierTrainer
    trainer = cls(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        device=device,
        scheduler=scheduler,
        scheduler_step="batch",
        precision=precision,
    )
    x, y = data(device)
    loader = TensorLoader(x, y, batch_size=32, shuffle=True, seed=0)  # 6 full batches and one of 8
    fit = trainer.fit(
        loader,
        TensorLoader(x, y, batch_size=100),
        epochs,
        print_every=0,
        checkpoints=prefix,
        resume=resume,
    )
    return fit, model, optimizer


@pytest.fixture
def deterministic():
    before = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before


@needs_cuda
def test_graphed_step_gives_the_eager_numbers(deterministic):
    eager, eager_model, eager_opt = train(False, 3)
    graphed, graphed_model, graphed_opt = train(True, 3)
    assert graphed.num_epochs == 3
    torch.testing.assert_close(
        torch.tensor(graphed.train_loss), torch.tensor(eager.train_loss), rtol=1e-4, atol=1e-6
    )
    assert graphed.train_acc == eager.train_acc and graphed.test_acc == eager.test_acc
    for (name, a), b in zip(
        eager_model.state_dict().items(), graphed_model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(b.float(), a.float(), rtol=1e-4, atol=1e-5, msg=name)
    graphed_lr = float(graphed_opt.param_groups[0]["lr"])
    assert graphed_lr == pytest.approx(float(eager_opt.param_groups[0]["lr"]))


@needs_cuda
def test_a_step_that_cannot_be_captured_trains_eagerly_with_the_same_numbers(deterministic):
    eager, eager_model, _ = train(False, 2)
    with pytest.warns(UserWarning, match="could not be captured as a CUDA graph"):
        graphed, graphed_model, _ = train(True, 2, first=(WaitsWhenCaptured(),))
    torch.testing.assert_close(
        torch.tensor(graphed.train_loss), torch.tensor(eager.train_loss), rtol=1e-4, atol=1e-6
    )
    assert graphed.test_acc == eager.test_acc
    for a, b in zip(eager_model.state_dict().values(), graphed_model.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(b.float(), a.float(), rtol=1e-4, atol=1e-5)


def test_gc_is_paused_during_a_capture_and_restored_after():
    import gc

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as it was
    finally:
        gc.enable()


@needs_cuda
def test_graphed_run_resumes_to_the_uninterrupted_numbers(tmp_path, deterministic):
    straight, _, _ = train(True, 4)
    train(True, 2, prefix=tmp_path / "run")
    resumed, _, optimizer = train(True, 4, prefix=tmp_path / "run", resume=True)
    assert (
        isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)
        and optimizer.param_groups[0]["lr"].is_cuda
    )
    torch.testing.assert_close(
        torch.tensor(resumed.train_loss), torch.tensor(straight.train_loss), rtol=1e-4, atol=1e-6
    )
    assert resumed.test_acc == straight.test_acc


@needs_cuda
def test_graphed_bf16_run_learns():
    fit, _, _ = train(True, 8, precision="bf16")
    assert all(torch.isfinite(torch.tensor(fit.train_loss)))
    assert fit.train_acc[-1] > fit.train_acc[0]


@needs_cuda
def test_study_style_run_with_cuda_graph_matches_the_eager_run(tmp_path):
    config = {
        "dataset": "digits",
        "test_split": "valid",
        "model_type": "cnn",
        "filters_per_layer": [8],
        "layers_per_block": 2,
        "pool_every": 2,
        "hidden_dims": [16],
        "epochs": 6,
        "batches": None,
        "bs_train": 64,
        "optimizer": "adamw",
        "lr": 0.01,
        "lr_schedule": "onecycle",
        "augment": ["flip"],
        "precision": "bf16",
        "channels_last": True,
        "device": "cuda",
        "out_dir": str(tmp_path),
    }
    graphed = run_experiment({**config, "cuda_graph": True, "run_name": "graphed"}, verbose=False)
    eager = run_experiment({**config, "cuda_graph": False, "run_name": "eager"}, verbose=False)
    assert graphed.fit.num_epochs == 6
    assert (
        graphed.fit.test_acc[-1] > 50.0
        and abs(graphed.fit.test_acc[-1] - eager.fit.test_acc[-1]) < 5.0
    )
    torch.testing.assert_close(
        torch.tensor(graphed.fit.train_loss),
        torch.tensor(eager.fit.train_loss),
        rtol=0.05,
        atol=0.05,
    )


@needs_cuda
def test_graphed_runs_in_threads_match_the_same_runs_alone(tmp_path, deterministic):
    """Captured runs at once, each on its own stream (one captures while others replay), with
    augmentation (each run's own generator) and dropout (the device's generator, which a capture
    takes over): without dropout they give the numbers of the same runs alone."""
    from scratchlab.experiments import run_configs

    base = {
        "dataset": "digits",
        "test_split": "valid",
        "model_type": "yourcnn",
        "filters_per_layer": [8, 16],
        "layers_per_block": 2,
        "pool_every": 2,
        "hidden_dims": [],
        "model_options": {"stem_channels": 8},
        "augment": ["flip"],
        "epochs": 4,
        "batches": None,
        "bs_train": 64,
        "optimizer": "adamw",
        "lr_schedule": "onecycle",
        "cuda_graph": True,
        "device": "cuda",
        "cudnn_benchmark": False,
    }
    lrs = [0.003, 0.01, 0.02, 0.03]
    alone = [
        ExperimentConfig.create(
            **base, dropout=0.0, lr=lr, run_name=f"lr{lr}", out_dir=str(tmp_path / "alone")
        )
        for lr in lrs
    ]
    threads = [c.replace(out_dir=tmp_path / "threads") for c in alone]
    with_dropout = [
        c.replace(out_dir=tmp_path / "dropout", dropout=0.2, run_name=f"d{c.run_name}")
        for c in alone
    ]
    assert [o.status for o in run_configs(alone)] == ["ok"] * 4
    assert [o.status for o in run_configs(threads + with_dropout, executor="threads", jobs=4)] == [
        "ok"
    ] * 8
    for a, t in zip(alone, threads, strict=True):
        fit_a, fit_t = (
            json.loads((Path(c.out_dir) / f"{c.run_name}.json").read_text())["results"]
            for c in (a, t)
        )
        torch.testing.assert_close(
            torch.tensor(fit_t["train_loss"]),
            torch.tensor(fit_a["train_loss"]),
            rtol=1e-4,
            atol=1e-6,
        )


def test_cuda_graph_on_a_cpu_is_a_clear_error():
    model = conv_net()
    optimizer = torch.optim.AdamW(model.parameters(), lr=torch.tensor(0.01), capturable=True)
    with pytest.raises(ConfigError, match="cuda_graph needs a CUDA device"):
        GraphedClassifierTrainer(model, nn.CrossEntropyLoss(), optimizer, device="cpu")
    with pytest.raises(ConfigError, match="cuda_graph needs a CUDA device"):
        GraphedTrainStep(lambda x, y: (x, y), optimizer, torch.device("cpu"))


def test_a_graphed_step_refuses_a_forward_compiled_with_graphs_of_its_own():
    optimizer = torch.optim.AdamW(conv_net().parameters(), lr=torch.tensor(0.01), capturable=True)
    for mode in ("reduce-overhead", "max-autotune"):
        with pytest.raises(ConfigError, match=f"compile mode {mode} both replay"):
            GraphedTrainStep(lambda x, y: (x, y), optimizer, torch.device("cpu"), compile_mode=mode)
    with pytest.raises(ConfigError, match="needs a CUDA device"):  # compile mode default: past
        GraphedTrainStep(lambda x, y: (x, y), optimizer, torch.device("cpu"),
                         compile_mode="default")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"optimizer": "momentum"}, "cuda_graph trains with optimizer adam or adamw"),
        ({"compile": True, "compile_mode": "reduce-overhead"}, "both replay CUDA graphs"),
        ({"compile": True, "compile_mode": "max-autotune"}, "both replay CUDA graphs"),
        ({"ddp": True}, "without ddp"),
    ],
)
def test_cuda_graph_config_limits_are_clear(fields, message):
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig.create(**{"cuda_graph": True, "optimizer": "adamw", **fields})
    compiled = ExperimentConfig.create(cuda_graph=True, optimizer="adamw", compile=True)
    assert compiled.speed.cuda_graph and compiled.speed.compile_mode == "default"


def test_optimizer_state_load_keeps_a_tensor_learning_rate_in_place():
    model = nn.Linear(3, 2)
    lr = torch.tensor(0.01)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    saved = torch.optim.Adam(model.parameters(), lr=0.004).state_dict()
    load_optimizer_state(optimizer, saved)
    assert optimizer.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(0.004)
    plain = torch.optim.Adam(model.parameters(), lr=0.01)
    load_optimizer_state(
        plain, {**saved, "param_groups": [{**saved["param_groups"][0], "lr": torch.tensor(0.002)}]}
    )
    assert plain.param_groups[0]["lr"] == pytest.approx(0.002)
    assert isinstance(plain.param_groups[0]["lr"], float)


def test_config_and_trainer_agree_on_the_capturable_optimizers():
    from scratchlab.experiments.config_checks import CUDA_GRAPH_OPTIMIZERS
    from scratchlab.training.accel.cuda_graph import CAPTURABLE_OPTIMIZERS

    assert set(CUDA_GRAPH_OPTIMIZERS) == set(CAPTURABLE_OPTIMIZERS)
    from scratchlab.experiments import config_checks
    from scratchlab.training.accel import cuda_graph

    assert config_checks.GRAPHING_COMPILE_MODES == cuda_graph.GRAPHING_COMPILE_MODES
