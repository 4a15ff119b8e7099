"""`ExperimentConfig`: everything one run needs, validated. Unknown or invalid fields are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scratchlab.errors import ConfigError

# Optimizers whose step `cuda_graph` can capture (training.cuda_graph.CAPTURABLE_OPTIMIZERS; named
# here so that reading a config does not import torch).
CUDA_GRAPH_OPTIMIZERS = ("adam", "adamw")

Optimizer = Literal["sgd", "momentum", "rmsprop", "adam", "adamw"]


class ExperimentConfig(BaseModel):
    """One training run: data, model, optimizer, budget and output. Every field has a CLI flag."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # identity and output
    run_name: str = Field("exp", min_length=1, pattern=r"^[A-Za-z0-9_.+=-]+$", description="name of the run; its results file is <out_dir>/<run_name>.json")
    out_dir: Path = Field(Path("results"), description="folder of results JSON files (and checkpoints/)")
    seed: int = Field(42, ge=0, description="seeds python, numpy and torch")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu, cuda or cuda:N")
    # data
    dataset: str = Field("cifar10", description="dataset name (scratchlab.data.dataset_names())")
    data_root: str | None = Field(None, description="where the dataset lives (default: its own search path)")
    dataset_options: dict[str, Any] = Field(default_factory=dict, description="options passed to get_dataset")
    train_split: str = Field("train", description="split to train on")
    test_split: str = Field("test", description="split to evaluate on each epoch")
    train_limit: int | None = Field(None, ge=1, description="use only this many training samples (class-balanced)")
    test_limit: int | None = Field(None, ge=1, description="use only this many test samples (class-balanced)")
    normalize: bool = Field(False, description="standardise inputs per channel with training-set statistics")
    augment: list[Literal["crop", "flip"]] = Field(default_factory=list, description="GPU-side augmentation of training batches: crop (pad 4, random translate), flip")
    # budget
    bs_train: int = Field(128, ge=1, description="training batch size")
    bs_test: int | None = Field(None, ge=1, description="test batch size (default: bs_train // 4)")
    batches: int | None = Field(100, ge=1, description="at most this many batches per epoch (None: all)")
    epochs: int = Field(100, ge=1, description="maximum number of epochs")
    early_stopping: int | None = Field(3, ge=1, description="patience in epochs without improvement (None: off)")
    early_stopping_monitor: Literal["test_loss", "test_acc", "train_loss", "train_acc"] = Field("test_loss", description="what early stopping watches")
    early_stopping_min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")
    checkpoints: bool = Field(True, description="save <out_dir>/checkpoints/<run_name>_{last,best}.pt; a rerun resumes")
    # optimization
    optimizer: Optimizer = Field("adam", description="sgd, momentum, rmsprop, adam or adamw")
    optimizer_impl: Literal["torch", "scratch"] = Field("torch", description="torch.optim or scratchlab.optim")
    lr: float = Field(1e-3, gt=0, description="learning rate")
    reg: float = Field(1e-3, ge=0, description="L2 regularisation (weight decay)")
    momentum: float = Field(0.9, ge=0, lt=1, description="momentum (beta1 for adam)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the cross-entropy loss")
    lr_schedule: Literal["constant", "cosine", "onecycle"] = Field("constant", description="learning-rate schedule over the run (stepped every batch): constant, cosine decay to 0, or onecycle (linear warm-up then cosine)")
    warmup_epochs: float = Field(0.0, ge=0, description="linear warm-up from 0 over this many epochs (cosine, onecycle)")
    # model
    engine: Literal["torch", "scratch"] = Field("torch", description="torch.nn model with autograd, or the from-scratch engine (model_type mlp) with explicit backward")
    model_type: str = Field("cnn", description="model family (scratchlab.models.model_names())")
    filters_per_layer: list[int] = Field(default_factory=lambda: [64], min_length=1, description="K: channels per block")
    layers_per_block: int = Field(2, ge=1, description="L: conv layers per K entry")
    pool_every: int = Field(2, ge=1, description="P: pool after every P convs")
    hidden_dims: list[int] = Field(default_factory=lambda: [1024], description="H: hidden sizes of the classifier head")
    activation: str = Field("relu", description="relu, lrelu, tanh, sigmoid, none")
    activation_params: dict[str, Any] = Field(default_factory=dict, description="e.g. {negative_slope: 0.01}")
    batchnorm: bool = Field(False, description="batch normalisation (ResNet, MLP)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout probability")
    bottleneck: bool = Field(False, description="bottleneck residual blocks (ResNet)")
    pooling: Literal["max", "avg"] = Field("max", description="pooling type")
    pooling_params: dict[str, Any] = Field(default_factory=dict, description="e.g. {kernel_size: 2}")
    conv_params: dict[str, Any] = Field(default_factory=dict, description="e.g. {kernel_size: 3, padding: 1}")
    model_options: dict[str, Any] = Field(default_factory=dict, description="other model arguments, e.g. {kernel_size: 7}")
    # speed
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16 autocast on GPUs")
    compile: bool = Field(False, description="torch.compile the model")
    channels_last: bool = Field(False, description="channels-last memory format for conv nets")
    cudnn_benchmark: bool = Field(False, description="let cuDNN pick the fastest conv algorithms (GPU; not bit-reproducible)")
    cuda_graph: bool = Field(False, description="capture each training step as a CUDA graph and replay it (GPU, optimizer adam or adamw, classic trainer): fewer kernel launches for small conv nets")
    ddp: bool = Field(False, description="data-parallel over the processes torchrun starts (DDP); bs_train is the global batch")
    sync_batchnorm: bool = Field(False, description="ddp: BatchNorm statistics over the global batch (GPUs only)")
    # ---- fast trainer (trainer fast; docs/fast-cifar.md). With it, lr and reg are per 1024
    # examples and decoupled from the momentum (airbench's units), and the loss is summed.
    trainer: Literal["classic", "fast"] = Field("classic", description="classic (ClassifierTrainer) or fast (airbench-style FastTrainer on device-resident data)")
    translate: int = Field(2, ge=0, description="fast: random translation by up to this many pixels (reflect padding)")
    flip: Literal["none", "random", "alternating"] = Field("alternating", description="fast: horizontal flips: none, random, or alternating (each image flipped every other epoch)")
    cutout: int = Field(0, ge=0, description="fast: side of a zeroed random square per image (0: off)")
    nesterov: bool = Field(True, description="fast: Nesterov momentum")
    bias_lr_scale: float = Field(64.0, gt=0, description="fast: learning-rate factor of BatchNorm parameters")
    lr_start: float = Field(0.2, ge=0, description="fast: learning-rate factor at the first step")
    lr_peak: float = Field(0.23, ge=0, le=1, description="fast: fraction of training at which the factor reaches 1")
    lr_end: float = Field(0.07, ge=0, description="fast: learning-rate factor at the last step")
    ema: bool = Field(True, description="fast: Lookahead/EMA weight averaging")
    ema_start_epoch: int = Field(3, ge=0, description="fast: epoch (0-based) at which averaging begins")
    ema_every: int = Field(5, ge=1, description="fast: average every this many steps")
    ema_decay: float = Field(0.95, gt=0, lt=1, description="fast: per-step decay of the average (reached at the end)")
    whiten: bool = Field(True, description="fast: yourcnn_fast's first conv is a frozen patch-whitening layer fitted to the data")
    whiten_bias_epochs: int = Field(3, ge=0, description="fast: train the first conv's bias for this many epochs")
    identity_init: bool = Field(True, description="fast: yourcnn_fast's convs start as the identity (Dirac init)")
    tta_level: int = Field(2, ge=0, le=2, description="fast: test-time augmentation at the last epoch: 0 none, 1 mirror, 2 mirror + translate")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field("default", description="torch.compile mode (fast trainer, with compile)")

    @model_validator(mode="after")
    def _fast_consistent(self) -> ExperimentConfig:
        if self.trainer == "fast":
            if self.engine != "torch":
                raise ValueError("trainer fast trains torch models: set engine torch")
            if self.optimizer not in ("momentum", "sgd") or self.optimizer_impl != "torch":
                raise ValueError(f"trainer fast trains with optimizer momentum (Nesterov SGD) or sgd and optimizer_impl torch, got {self.optimizer} ({self.optimizer_impl})")
            if self.augment:
                raise ValueError("trainer fast augments with translate, flip and cutout; leave augment empty")
        return self
    # ---- end of the fast trainer block

    @field_validator("filters_per_layer", "hidden_dims")
    @classmethod
    def _positive_sizes(cls, sizes: list[int]) -> list[int]:
        if any(s < 1 for s in sizes):
            raise ValueError(f"sizes must be >= 1, got {sizes}")
        return sizes

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.optimizer_impl == "scratch" and self.optimizer == "adamw":
            raise ValueError("optimizer adamw has no scratch implementation; use optimizer_impl torch")
        if self.engine == "scratch":
            if self.model_type != "mlp":
                raise ValueError(f"engine scratch builds model_type mlp only, got {self.model_type!r}")
            if self.optimizer_impl != "scratch":
                raise ValueError("engine scratch trains with scratchlab.optim: set optimizer_impl scratch")
            if self.precision != "fp32" or self.compile:
                raise ValueError("engine scratch runs in fp32 without compile")
        if self.ddp and (self.engine != "torch" or self.trainer != "classic"):
            raise ValueError("ddp trains with engine torch and trainer classic")
        if self.lr_schedule != "constant" and self.engine == "scratch":
            raise ValueError("lr_schedule applies to engine torch")
        if self.sync_batchnorm and not self.ddp:
            raise ValueError("sync_batchnorm needs ddp")
        if self.cuda_graph:
            if self.engine != "torch" or self.trainer != "classic" or self.ddp or self.compile:
                raise ValueError("cuda_graph applies to engine torch and trainer classic, without ddp or compile")
            if self.optimizer not in CUDA_GRAPH_OPTIMIZERS or self.optimizer_impl != "torch":
                raise ValueError(f"cuda_graph trains with optimizer adam or adamw (optimizer_impl torch), got {self.optimizer}")
        return self

    @property
    def channels(self) -> list[int]:
        """Every conv layer's channels: each K repeated L times (`[32, 64]`, L=2 -> `[32, 32, 64, 64]`)."""
        return [k for k in self.filters_per_layer for _ in range(self.layers_per_block)]

    @property
    def test_batch_size(self) -> int:
        return self.bs_test or max(self.bs_train // 4, 1)

    @classmethod
    def create(cls, **fields: Any) -> ExperimentConfig:
        """Validate `fields`; errors become one `ConfigError` naming each bad field."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def describe_validation_error(exc: ValidationError, what: str = "experiment config", known: list[str] | None = None) -> str:
    """One line per pydantic error joined by '; ', each naming the field, what was wrong and the value."""
    known = known if known is not None else list(ExperimentConfig.model_fields)
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown field (known fields: {', '.join(known)})"
        elif "input" in err and err["type"] != "missing":
            msg = f"{msg} (got {err['input']!r})"
        parts.append(f"{field}: {msg}")
    return f"invalid {what}: " + "; ".join(parts)


def config_field_names() -> list[str]:
    return list(ExperimentConfig.model_fields)
