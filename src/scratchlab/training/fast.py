"""`FastTrainer`: airbench-style training of an image classifier on device-resident data.

What it adds to `ClassifierTrainer` (each one a `FastSettings` field, see docs/fast-cifar.md):
Nesterov SGD in decoupled units with a per-step warmup/decay schedule and a higher rate for
BatchNorm parameters; a summed, label-smoothed cross-entropy; the patch-whitening first layer
fitted to the training images, its bias trained for the first epochs only; Lookahead/EMA
weight averaging; test-time augmentation at the last epoch; bf16 autocast, channels-last and
`torch.compile`. Nothing in a training step reads a value back to the host: losses and
accuracies are read once per epoch by the shared loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.training.classifier_trainer import ClassifierTrainer
from scratchlab.training.fast_data import FastLoader, channel_stats, tta_views
from scratchlab.training.fast_optim import Lookahead, build_sgd, ema_decay, lr_factor, set_lr
from scratchlab.training.results import EpochResult, FitResult
from scratchlab.training.trainer import _num_batches

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compiled(model: nn.Module, mode: str = "default") -> Callable:
    """`torch.compile(model, mode=mode, dynamic=False)`, made once per model and mode.

    The wrapper is kept on the model, so trainers made anew for each run of the same model (as
    the speed benchmark does) reuse its compiled graphs instead of compiling again.
    """
    cache = model.__dict__.setdefault("_compiled_forward", {})
    if mode not in cache:
        cache[mode] = torch.compile(model, mode=mode, dynamic=False)
    return cache[mode]


@dataclass
class FastSettings:
    """Everything the fast trainer needs besides the model; defaults are airbench94's."""

    batch_size: int = 1024  # training batch size (the decoupled lr/weight decay assume it)
    test_batch_size: int = 2000
    lr: float = 11.5  # per 1024 examples, decoupled from momentum
    momentum: float = 0.85
    nesterov: bool = True
    weight_decay: float = 0.0153  # per 1024 examples, decoupled from the learning rate
    bias_lr_scale: float = 64.0  # BatchNorm parameters train this much faster (same decay)
    label_smoothing: float = 0.2
    lr_start: float = 0.2  # schedule: factor at step 0 ...
    lr_peak: float = 0.23  # ... 1 at this fraction of training ...
    lr_end: float = 0.07  # ... and this at the end
    ema: bool = True  # Lookahead/EMA weight averaging
    ema_start_epoch: int = 3
    ema_every: int = 5
    ema_decay: float = 0.95
    whiten_bias_epochs: int = 3  # train the whitening layer's bias for this many epochs
    whiten_samples: int = 5000  # training images the whitening layer is fitted to
    translate: int = 2
    flip: str = "alternating"
    cutout: int = 0
    tta_level: int = 2  # at the last epoch: 0 none, 1 mirror, 2 mirror + translate
    precision: str = "bf16"
    channels_last: bool = True
    compile: bool = False
    compile_mode: str = "default"

    def __post_init__(self) -> None:
        if self.compile_mode not in COMPILE_MODES:
            raise ConfigError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}, got {self.compile_mode!r}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")


def make_fast_loaders(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                      settings: FastSettings, seed: int = 0) -> tuple[FastLoader, FastLoader]:
    """Train and test `FastLoader`s on the tensors' device, normalised with training-set statistics."""
    mean, std = channel_stats(x_train)
    cuda_bf16 = x_train.device.type == "cuda" and settings.precision == "bf16"
    common = {"mean": mean, "std": std, "dtype": torch.bfloat16 if cuda_bf16 else torch.float32,
              "channels_last": settings.channels_last}
    train = FastLoader(x_train, y_train, settings.batch_size, train=True, translate=settings.translate,
                       flip=settings.flip, cutout=settings.cutout, seed=seed, **common)
    test = FastLoader(x_test, y_test, settings.test_batch_size, **common)
    return train, test


class FastTrainer(ClassifierTrainer):
    """Trains a classifier the airbench way (see the module docstring); `fit` returns a `FitResult`.

    The model may offer `init_whiten(images)` (fitted at the start of `fit` to the first
    `whiten_samples` training images: a `FastLoader`'s normalised ones, or the first tensor of a
    `TensorLoader`) and `set_whiten_bias_trainable(bool)` (called every epoch), as `FastCNN` does.

    Attributes:
        final_plain_acc: accuracy (percent) of the last evaluation without test-time augmentation.
    """

    def __init__(self, model: nn.Module, settings: FastSettings | None = None,
                 device: str | torch.device | None = None) -> None:
        self.settings = s = settings or FastSettings()
        loss_fn = nn.CrossEntropyLoss(label_smoothing=s.label_smoothing, reduction="sum")
        super().__init__(model, loss_fn, None, device=device, precision=s.precision, compile=False,
                         channels_last=s.channels_last)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.optimizer = build_sgd(self.model, s.lr, s.weight_decay, s.batch_size, s.momentum, s.nesterov,
                                   s.bias_lr_scale, fused=self.device.type == "cuda")
        if s.compile:
            self.forward = compiled(self.model, s.compile_mode)
        self.epoch = self.step = self.total_steps = self.num_epochs = 0
        self.lookahead: Lookahead | None = None
        self.final_plain_acc: float | None = None
        self._tta_level = 0
        self._plain: list[Any] = [0, []]  # images seen, correct counts of the plain view

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self, dl_train: Any, dl_test: Any, num_epochs: int, **kw: Any) -> FitResult:
        """As `Trainer.fit`; the schedule spans `num_epochs` epochs of at most `max_batches` steps."""
        self.num_epochs = num_epochs
        self.total_steps = num_epochs * (_num_batches(dl_train, kw.get("max_batches")) or 0)
        self.epoch = self.step = 0
        self.lookahead = None
        init_whiten = getattr(self.model, "init_whiten", None)
        images = _first_images(dl_train, self.settings.whiten_samples)
        if init_whiten is not None and images is not None:
            init_whiten(images.to(self.device))
        return super().fit(dl_train, dl_test, num_epochs, **kw)

    def _restore(self, state: dict[str, Any], dl_train: Any, stopper: Any) -> tuple[FitResult, float | None, bool]:
        history, best_acc, stopped = super()._restore(state, dl_train, stopper)
        self.epoch = history.num_epochs
        self.step = self.epoch * (self.total_steps // max(self.num_epochs, 1))
        return history, best_acc, stopped

    def train_epoch(self, dl_train: Any, max_batches: int | None = None, verbose: bool = True, **kw: Any) -> EpochResult:
        """One epoch; afterwards the weights are the running average (when averaging has begun)."""
        s = self.settings
        if hasattr(dl_train, "set_epoch"):
            dl_train.set_epoch(self.epoch)
        set_bias = getattr(self.model, "set_whiten_bias_trainable", None)
        if set_bias is not None:
            set_bias(self.epoch < s.whiten_bias_epochs)
        if s.ema and self.lookahead is None and self.epoch >= s.ema_start_epoch:
            self.lookahead = Lookahead(self.model)
        result = super().train_epoch(dl_train, max_batches=max_batches, verbose=verbose, **kw)
        if self.lookahead is not None:
            self.lookahead.update(1.0)
        self.epoch += 1
        return result

    def test_epoch(self, dl_test: Any, max_batches: int | None = None, verbose: bool = True, **kw: Any) -> EpochResult:
        """Evaluation; with test-time augmentation (`tta_level`) after the last epoch."""
        self._tta_level = self.settings.tta_level if self.epoch >= self.num_epochs else 0
        self._plain = [0, []]
        result = super().test_epoch(dl_test, max_batches=max_batches, verbose=verbose, **kw)
        seen, corrects = self._plain
        if self._tta_level == 0 or not seen:
            self.final_plain_acc = result.accuracy
        else:
            self.final_plain_acc = 100.0 * float(torch.stack(corrects).sum()) / seen
        return result

    # ---- steps ---------------------------------------------------------------------------------
    def _train_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, int]:
        s = self.settings
        x, y = self._to_device(batch)
        set_lr(self.optimizer, lr_factor(self.step, self.total_steps, s.lr_start, s.lr_peak, s.lr_end))
        with self._autocast():
            scores = self.forward(x)
        loss = self.loss_fn(scores.float(), y)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if self.lookahead is not None and self.step % s.ema_every == 0:
            self.lookahead.update(ema_decay(self.step, self.total_steps, s.ema_decay, s.ema_every))
        return loss.detach() / len(y), (scores.detach().argmax(1) == y).sum(), len(y)

    def _test_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = self._to_device(batch)
        with self._autocast():
            views = [(weight, self.forward(view).float()) for weight, view in tta_views(x, self._tta_level)]
        if self._tta_level > 0:  # the first view is the plain image
            self._plain[0] += len(y)
            self._plain[1].append((views[0][1].argmax(1) == y).sum())
        logits = torch.stack([weight * scores for weight, scores in views]).sum(0)
        return self.loss_fn(logits, y) / len(y), (logits.argmax(1) == y).sum(), len(y)


def _first_images(loader: Any, n: int) -> torch.Tensor | None:
    """The first `n` unaugmented training images of a FastLoader or TensorLoader (else None)."""
    if hasattr(loader, "head"):
        return loader.head(n)
    tensors = getattr(loader, "tensors", None)
    return tensors[0][:n] if tensors else None
