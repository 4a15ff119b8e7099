"""Rules beyond each field's own range: fields that cannot train together, fields a run ignores."""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from scratchlab.errors import ConfigError
from scratchlab.experiments.config import SECTION_OF, ExperimentConfig

# Optimizers whose step a CUDA graph can capture (training.accel.cuda_graph.CAPTURABLE_OPTIMIZERS,
# named here so that reading a config does not import torch; a test keeps them equal).
CUDA_GRAPH_OPTIMIZERS = ("adam", "adamw")
# torch.compile modes with CUDA graphs of their own (training.accel.cuda_graph, kept equal too)
GRAPHING_COMPILE_MODES = ("reduce-overhead", "max-autotune")
# model config fields that become a build_model spec key of another name (models read spec keys)
SPEC_KEY = {"filters_per_layer": "channels", "layers_per_block": "channels",
            "activation": "activation_type", "pooling": "pooling_type"}
SCRATCH_MLP_READS = {"hidden_dims", "activation", "dropout", "model_options"}
FAST_MODEL_FIELDS = ("whiten", "identity_init", "whiten_bias_decay")  # read by yourcnn_fast only
MOMENTUM_OPTIMIZERS = ("momentum", "adam", "adamw", "muon")


def check_consistent(c: ExperimentConfig) -> None:
    """Combinations of fields that cannot train together (a ConfigError naming them)."""
    problems = []
    if c.optim.optimizer_impl == "scratch" and c.optim.optimizer == "adamw":
        problems.append("optimizer adamw has no scratch implementation; use optimizer_impl torch")
    if c.optim.optimizer_impl == "torch" and c.optim.optimizer == "muon":
        problems.append("optimizer muon is scratchlab.optim.Muon: set optimizer_impl scratch")
    if c.optim.optimizer_impl == "scratch" and c.optim.lr_schedule != "constant":
        problems.append(f"lr_schedule {c.optim.lr_schedule} schedules torch.optim optimizers: use "
                        "optimizer_impl torch or lr_schedule constant")
    if c.model.engine == "scratch":
        if c.model.model_type != "mlp":
            problems.append("engine scratch builds model_type mlp only, got "
                            f"{c.model.model_type!r}")
        if c.optim.optimizer_impl != "scratch":
            problems.append("engine scratch trains with scratchlab.optim: set optimizer_impl "
                            "scratch")
    if c.trainer == "fast":
        if c.model.engine != "torch" or c.optim.optimizer_impl != "torch":
            problems.append("trainer fast trains torch models with torch.optim")
        if c.optim.optimizer not in ("momentum", "sgd"):
            problems.append("trainer fast trains with optimizer momentum (Nesterov SGD) or sgd, "
                            f"got {c.optim.optimizer}")
    if c.speed.ddp and (c.model.engine != "torch" or c.trainer != "classic"):
        problems.append("ddp trains with engine torch and trainer classic")
    if c.speed.sync_batchnorm and not c.speed.ddp:
        problems.append("sync_batchnorm needs ddp")
    if c.speed.cuda_graph:
        if c.model.engine != "torch" or c.speed.ddp:
            problems.append("cuda_graph applies to engine torch, without ddp")
        if c.speed.compile and c.speed.compile_mode in GRAPHING_COMPILE_MODES:
            problems.append(f"cuda_graph and compile mode {c.speed.compile_mode} both replay "
                            "CUDA graphs: choose one (compile mode default goes with cuda_graph)")
        if c.trainer == "classic" and (c.optim.optimizer not in CUDA_GRAPH_OPTIMIZERS
                                       or c.optim.optimizer_impl != "torch"):
            problems.append("cuda_graph trains with optimizer adam or adamw (optimizer_impl "
                            f"torch), got {c.optim.optimizer}")
    if problems:
        raise ConfigError("invalid experiment config: " + "; ".join(problems))


def check_fields_read(config: ExperimentConfig, given: Iterable[str]) -> None:
    """Refuse fields in `given` (flat names) that this run would not read."""
    parts = [f"{name} ({why})" for name in sorted(set(given))
             if SECTION_OF.get(name) and (why := ignored_by(config, name))]
    if parts:
        raise ConfigError("invalid experiment config: field(s) set that this run does not read: "
                          + "; ".join(parts) + "; remove them")


def ignored_by(c: ExperimentConfig, name: str) -> str | None:
    """What in `c` ignores field `name` (None: the run reads it)."""
    section = SECTION_OF[name]
    if section == "fast":
        if c.trainer != "fast":
            return "only trainer fast reads it"
        if name in FAST_MODEL_FIELDS and c.model.model_type != "yourcnn_fast":
            return "only model_type yourcnn_fast reads it"
        if name.startswith("muon_") and c.fast.filter_optimizer != "muon":
            return "only filter_optimizer muon reads it"
        return None
    if section == "model" and name not in ("engine", "model_type"):
        return _model_ignores(c, name)
    if name == "momentum" and c.optim.optimizer not in MOMENTUM_OPTIMIZERS:
        return f"optimizer {c.optim.optimizer} has no momentum"
    return _trainer_ignores(c, name)


def _trainer_ignores(c: ExperimentConfig, name: str) -> str | None:
    if c.trainer == "fast" and name in ("lr_schedule", "warmup_epochs", "augment", "normalize",
                                        "eval_train"):
        return "trainer fast has its own schedule, augmentation and normalisation"
    if c.model.engine == "scratch" and name in ("label_smoothing", "lr_schedule",
                                                "warmup_epochs", "precision", "compile",
                                                "compile_mode", "channels_last"):
        return "engine scratch does not read it"
    if name == "compile_mode" and not c.speed.compile:
        return "only compile reads it"
    if name.startswith("early_stopping_") and c.budget.early_stopping is None:
        return "early stopping is off"
    return None


def _model_ignores(c: ExperimentConfig, name: str) -> str | None:
    family = c.model.model_type
    if c.model.engine == "scratch":
        return None if name in SCRATCH_MLP_READS else "engine scratch's mlp does not read it"
    params = family_parameters(family)
    if params is None:  # unknown family (build_model names the choices) or one taking **kwargs
        return None
    if name == "model_options":
        unread = sorted(set(c.model.model_options) - params)
        return f"model_type {family} does not take {unread}" if unread else None
    return None if SPEC_KEY.get(name, name) in params else f"model_type {family} does not read it"


def family_parameters(family: str) -> set[str] | None:
    """The spec keys model family `family` reads (None: unknown, or it takes any key)."""
    from scratchlab.models.registry import registered_builder

    builder = registered_builder(family)
    if builder is None:
        return None
    params = inspect.signature(builder).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}
