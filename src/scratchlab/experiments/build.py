"""From a config to what trains: the model, its optimizer and schedule, and the trainer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from scratchlab import optim as scratch_optim
from scratchlab import scratch
from scratchlab.errors import ConfigError
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.run_data import RunData
from scratchlab.models import build_model
from scratchlab.models import summary as model_summary
from scratchlab.training import Callback, ClassifierTrainer, LayerTrainer, Trainer, accel
from scratchlab.training.accel.launch import is_sharing_device


@dataclass
class Built:
    """A run's model, its trainer and its size."""

    model: Any
    trainer: Trainer
    params: int
    flops: int | None


def model_spec(config: ExperimentConfig, input_shape: tuple[int, ...],
               num_classes: int) -> dict[str, Any]:
    """The `build_model` spec of a config: one mapping every family reads what it needs from."""
    m = config.model
    spec = {"model_type": m.model_type, "in_size": input_shape, "out_classes": num_classes,
            "channels": m.channels, "pool_every": m.pool_every, "hidden_dims": m.hidden_dims,
            "activation_type": m.activation, "activation_params": m.activation_params,
            "pooling_type": m.pooling, "pooling_params": m.pooling_params,
            "conv_params": m.conv_params, "batchnorm": m.batchnorm, "dropout": m.dropout,
            "bottleneck": m.bottleneck}
    if m.model_type == "yourcnn_fast":
        spec.update(whiten=config.fast.whiten, identity_init=config.fast.identity_init)
    spec.update(m.model_options)
    # Empty option mappings mean "the family's defaults" (e.g. 3x3 convs with padding 1).
    return {k: v for k, v in spec.items() if v != {}}


def build_run_model(config: ExperimentConfig, input_shape: tuple[int, ...],
                    num_classes: int) -> Any:
    """The run's model: a torch module, or a from-scratch `scratch.MLP` (engine scratch)."""
    if config.model.engine == "scratch":
        m = config.model
        return scratch.MLP(math.prod(input_shape), num_classes, m.hidden_dims,
                           activation=m.activation, dropout=m.dropout,
                           wstd=float(m.model_options.get("wstd", 0.1)))
    return build_model(model_spec(config, input_shape, num_classes))


def trainable_params(model: Any) -> list[Any]:
    """Trainable parameters: (param, grad) pairs of a scratch model, or torch parameters."""
    if isinstance(model, nn.Module):
        return [p for p in model.parameters() if p.requires_grad]
    return model.params()


def build_optimizer(config: ExperimentConfig, model: Any) -> Any:
    """A torch.optim or scratchlab.optim optimizer over the trainable parameters."""
    params = trainable_params(model)
    if not params:
        raise ConfigError(f"model {config.model.model_type!r} has no trainable parameters")
    o = config.optim
    lr, reg, mu, betas = o.lr, o.reg, o.momentum, (o.momentum, 0.999)
    if o.optimizer_impl == "scratch":
        return {
            "sgd": lambda: scratch_optim.VanillaSGD(params, learn_rate=lr, reg=reg),
            "momentum": lambda: scratch_optim.MomentumSGD(
                params, learn_rate=lr, reg=reg, momentum=mu),
            "rmsprop": lambda: scratch_optim.RMSProp(params, learn_rate=lr, reg=reg),
            "adam": lambda: scratch_optim.Adam(params, learn_rate=lr, reg=reg, betas=betas),
            "muon": lambda: scratch_optim.Muon(params, learn_rate=lr, reg=reg, momentum=mu),
        }[o.optimizer]()
    if config.speed.cuda_graph:  # a step a CUDA graph can capture (model already on the GPU)
        return accel.capturable_optimizer(o.optimizer, params, lr, betas=betas, weight_decay=reg)
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=reg),
        "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=mu, weight_decay=reg),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, weight_decay=reg),
        "adam": lambda: torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=reg),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=reg),
    }[o.optimizer]()


def build_scheduler(config: ExperimentConfig, optimizer: Any, batches_per_epoch: int) -> Any:
    """A per-batch LambdaLR for `lr_schedule` (None for constant): warm-up, then cosine to 0."""
    o = config.optim
    if o.lr_schedule == "constant":
        return None
    total = max(1, config.budget.epochs * batches_per_epoch)
    warmup = int(o.warmup_epochs * batches_per_epoch)
    if o.lr_schedule == "onecycle" and warmup == 0:
        warmup = max(1, total * 3 // 10)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def trainer_class(config: ExperimentConfig, device: torch.device) -> type[ClassifierTrainer]:
    """The trainer of a torch model: classic, or the speed path the config asks for."""
    cls: type[ClassifierTrainer] = ClassifierTrainer
    if config.trainer == "fast":
        cls = accel.FastTrainer
    elif config.speed.ddp:
        cls = accel.DistributedClassifierTrainer
    elif config.speed.cuda_graph:
        cls = accel.GraphedClassifierTrainer
    return accel.shared(cls) if device.type == "cuda" and is_sharing_device() else cls


def build_trainer(config: ExperimentConfig, data: RunData, device: torch.device,
                  callbacks: list[Callback]) -> Built:
    """The model of a config and the trainer that trains it on `data`."""
    model = build_run_model(config, data.input_shape, data.num_classes)
    if config.model.engine == "scratch":
        model = model.to(device=device)
        trainer = LayerTrainer(model, scratch.CrossEntropyLoss(), build_optimizer(config, model),
                               callbacks=callbacks)
        return Built(model, trainer, sum(p.numel() for p, _ in model.params()), None)
    info = model_summary(model, data.input_shape)
    cls = trainer_class(config, device)
    o, s = config.optim, config.speed
    common: dict[str, Any] = {"device": device, "precision": s.precision,
                              "channels_last": s.channels_last, "callbacks": callbacks}
    if config.trainer == "fast":
        momentum = o.momentum if o.optimizer == "momentum" else 0.0
        trainer = cls(model, config.fast, lr=o.lr, reg=o.reg, momentum=momentum,
                      label_smoothing=o.label_smoothing, compile=s.compile,
                      compile_mode=s.compile_mode, cuda_graph=s.cuda_graph,
                      cudnn_benchmark=s.cudnn_benchmark, **common)
    else:
        if s.cuda_graph:  # a capturable optimizer keeps its state where the parameters are
            model = model.to(device)
        optimizer = build_optimizer(config, model)
        batches = min(config.budget.batches or len(data.train), len(data.train))
        extra = {"sync_batchnorm": s.sync_batchnorm} if s.ddp else {}
        if not s.cuda_graph:
            extra["compile"] = s.compile
        trainer = cls(model, nn.CrossEntropyLoss(label_smoothing=o.label_smoothing), optimizer,
                      scheduler=build_scheduler(config, optimizer, batches),
                      scheduler_step="batch", **common, **extra)
    return Built(model, trainer, info.params, info.flops)
