"""The sections of an `ExperimentConfig`; each field's description (`--help`) gives its unit."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from scratchlab.data.roots import expand_data_root, portable_data_root

Optimizer = Literal["sgd", "momentum", "rmsprop", "adam", "adamw", "muon"]
SECTION_RULES = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(),
                           allow_inf_nan=False)
MAX_DEPTH = 16  # nesting of an option mapping (deeper is a mistake, and slow to copy or print)


def shallow(value: Any) -> Any:
    """`value` unchanged when its lists and mappings nest at most `MAX_DEPTH` deep."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= MAX_DEPTH:
                raise ValueError(f"options nest deeper than {MAX_DEPTH} levels")
            items = item.values() if isinstance(item, dict) else item
            stack.extend((v, depth + 1) for v in items)
    return value


class Section(BaseModel):
    """A section of the config: unknown fields are refused, assignments validated."""

    model_config = SECTION_RULES


class DataSection(Section):
    """What the run trains and is evaluated on."""

    dataset: str = Field("cifar10", description="dataset name (scratchlab.data.dataset_names())")
    data_root: str | None = Field(None, description="folder or file of the dataset "
                                  "(default: $SCRATCHLAB_DATA, then the dataset's own places)")
    dataset_options: dict[str, Any] = Field(default_factory=dict,
                                            description="options passed to get_dataset")
    train_split: str = Field("train", description="split to train on")
    test_split: str = Field("test", description="split evaluated after every epoch")
    train_limit: int | None = Field(None, ge=1, description="training samples used, "
                                    "class-balanced (None: the whole split)")
    test_limit: int | None = Field(None, ge=1, description="evaluation samples used, "
                                   "class-balanced (None: the whole split)")
    normalize: bool = Field(False, description="standardise inputs per channel with "
                            "training-set mean and std")
    augment: list[Literal["crop", "flip"]] = Field(
        default_factory=list, description="augmentation of training batches on their device: "
        "crop (pad 4 pixels, random translation), flip (horizontal, p=0.5)")

    _shallow_options = field_validator("dataset_options", mode="before")(staticmethod(shallow))

    _expand_data_env = field_validator("data_root", mode="before")(
        staticmethod(expand_data_root))

    @field_serializer("data_root", when_used="json")
    def _portable_data_root(self, root: str | None) -> str | None:
        """A data root inside `$SCRATCHLAB_DATA` is written relative to it (no machine paths)."""
        return portable_data_root(root)


class ModelSection(Section):
    """The model: its family (`model_type`) and what the family reads."""

    engine: Literal["torch", "scratch"] = Field("torch", description="torch.nn model with "
                                                "autograd, or the from-scratch engine (mlp only)")
    model_type: str = Field("cnn", description="model family (scratchlab.models.model_names())")
    filters_per_layer: list[int] = Field(default_factory=lambda: [64], min_length=1,
                                         description="K: output channels of each block")
    layers_per_block: int = Field(2, ge=1, description="L: convolutions per K entry")
    pool_every: int = Field(2, ge=1, description="P: pool after every P convolutions")
    hidden_dims: list[int] = Field(default_factory=lambda: [1024], description="H: units of "
                                   "each hidden layer of the classifier head (or the MLP)")
    activation: str = Field("relu", description="relu, lrelu, tanh, sigmoid, gelu, none")
    activation_params: dict[str, Any] = Field(default_factory=dict,
                                              description="e.g. {negative_slope: 0.01}")
    batchnorm: bool = Field(False, description="batch normalisation")
    dropout: float = Field(0.0, ge=0, lt=1, description="probability of zeroing a unit")
    bottleneck: bool = Field(False, description="bottleneck residual blocks (resnet)")
    pooling: Literal["max", "avg"] = Field("max", description="pooling type")
    pooling_params: dict[str, Any] = Field(default_factory=dict,
                                           description="e.g. {kernel_size: 2} (pixels)")
    conv_params: dict[str, Any] = Field(default_factory=dict,
                                        description="e.g. {kernel_size: 3, padding: 1} (pixels)")
    model_options: dict[str, Any] = Field(default_factory=dict, description="other arguments "
                                          "of the family, e.g. {kernel_size: 7}")

    _shallow_options = field_validator("activation_params", "pooling_params", "conv_params",
                                       "model_options", mode="before")(staticmethod(shallow))

    @field_validator("filters_per_layer", "hidden_dims")
    @classmethod
    def _positive_sizes(cls, sizes: list[int]) -> list[int]:
        if any(s < 1 for s in sizes):
            raise ValueError(f"sizes must be >= 1, got {sizes}")
        return sizes

    @property
    def channels(self) -> list[int]:
        """Every conv layer's channels: each K repeated L times ([32, 64], L=2 -> 32 32 64 64)."""
        return [k for k in self.filters_per_layer for _ in range(self.layers_per_block)]


class OptimSection(Section):
    """The optimizer, its learning rate and schedule, and the loss."""

    optimizer: Optimizer = Field("adam", description="sgd, momentum (SGD with momentum), "
                                 "rmsprop, adam, adamw or muon (scratchlab.optim.Muon; "
                                 "optimizer_impl scratch)")
    optimizer_impl: Literal["torch", "scratch"] = Field(
        "torch", description="torch.optim or scratchlab.optim")
    lr: float = Field(1e-3, gt=0, description="learning rate: step size per update on the "
                      "gradient of the batch-mean loss")
    reg: float = Field(1e-3, ge=0, description="L2 regularisation: reg x weight added to every "
                       "gradient (torch's weight_decay; adamw: decoupled decay per unit of lr)")
    momentum: float = Field(0.9, ge=0, lt=1, description="momentum of SGD, beta1 of Adam/AdamW "
                            "(fraction of the last update kept per step)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="probability mass spread "
                                   "evenly over all classes in the cross-entropy target")
    lr_schedule: Literal["constant", "cosine", "onecycle"] = Field(
        "constant", description="learning-rate factor per batch: constant, cosine decay to 0, "
        "or onecycle (linear warm-up over the first 30 percent of the steps, then cosine)")
    warmup_epochs: float = Field(0.0, ge=0, description="epochs of linear warm-up from 0 "
                                 "(cosine, onecycle)")


class BudgetSection(Section):
    """How much the run trains, when it stops and what it keeps."""

    bs_train: int = Field(128, ge=1, description="training batch size (samples per step)")
    bs_test: int | None = Field(None, ge=1, description="evaluation batch size in samples "
                                "(None: bs_train // 4)")
    batches: int | None = Field(100, ge=1, description="at most this many batches per epoch, "
                                "train and test (None: the whole splits)")
    epochs: int = Field(100, ge=1, description="maximum number of epochs")
    early_stopping: int | None = Field(3, ge=1, description="patience: epochs without "
                                       "improvement before stopping (None: off)")
    early_stopping_monitor: Literal["test_loss", "test_acc", "train_loss", "train_acc"] = Field(
        "test_loss", description="what early stopping watches (mean loss per epoch, or "
        "accuracy in percent)")
    early_stopping_min_delta: float = Field(0.0, ge=0, description="smallest change of the "
                                            "monitored value that counts as an improvement")
    checkpoints: bool = Field(True, description="keep <out_dir>/checkpoints/<run_name>_*.pt; "
                              "a rerun resumes from them")
    eval_train: bool = Field(False, description="after training, measure the accuracy (percent) "
                             "on the training samples in evaluation mode (no dropout): summary "
                             "train_eval_acc")

    @property
    def test_batch_size(self) -> int:
        return self.bs_test or max(self.bs_train // 4, 1)


class SpeedSection(Section):
    """Switches that change how fast a run trains, not what it computes (up to rounding)."""

    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16 autocast on GPUs")
    compile: bool = Field(False, description="torch.compile the model")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune",
                          "max-autotune-no-cudagraphs"] = Field(
        "default", description="torch.compile mode (with compile)")
    channels_last: bool = Field(False, description="channels-last memory format for conv nets")
    cudnn_benchmark: bool = Field(False, description="let cuDNN pick the fastest conv "
                                  "algorithms (GPU; not bit-reproducible)")
    cuda_graph: bool = Field(False, description="capture the training step as one CUDA graph "
                             "(GPU; trainer classic with optimizer adam or adamw, or trainer "
                             "fast, which on a CPU steps eagerly)")
    ddp: bool = Field(False, description="data-parallel over the processes torchrun starts; "
                      "bs_train is the global batch")
    sync_batchnorm: bool = Field(False, description="ddp: BatchNorm statistics over the "
                                 "global batch (GPUs only)")
