"""`FastTrainer`: airbench-style training of an image classifier on device-resident data.

What it adds to `ClassifierTrainer` is the `FastSettings` fields; no step waits for the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from scratchlab.data.transforms import channel_stats, tta_views
from scratchlab.training.accel.cuda_graph import GraphedTrainStep
from scratchlab.training.accel.fast_data import FastLoader
from scratchlab.training.accel.fast_optim import Lookahead, ema_decay, lr_factor, make_optim, set_lr
from scratchlab.training.accel.fast_settings import FastSettings
from scratchlab.training.callbacks import Callback
from scratchlab.training.classifier import ClassifierTrainer
from scratchlab.training.loop import num_batches
from scratchlab.training.results import BatchResult, EpochResult, FitResult


def compiled(model: nn.Module, mode: str = "default") -> Callable:
    """`torch.compile(model, mode=mode, dynamic=False)`, kept on the model for later trainers."""
    cache = model.__dict__.setdefault("_compiled_forward", {})
    if mode not in cache:
        cache[mode] = torch.compile(model, mode=mode, dynamic=False)
    return cache[mode]


def make_fast_loaders(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                      y_test: torch.Tensor, settings: FastSettings, batch_size: int,
                      test_batch_size: int, bf16: bool = False, channels_last: bool = False,
                      seed: int = 0) -> tuple[FastLoader, FastLoader]:
    """Train and test `FastLoader`s on the tensors' device, normalised with training statistics."""
    mean, std = channel_stats(x_train)
    dtype = torch.bfloat16 if bf16 and x_train.device.type == "cuda" else torch.float32
    common = {"mean": mean, "std": std, "dtype": dtype, "channels_last": channels_last}
    train = FastLoader(x_train, y_train, batch_size, train=True, translate=settings.translate,
                       flip=settings.flip, cutout=settings.cutout, seed=seed, **common)
    return train, FastLoader(x_test, y_test, test_batch_size, **common)


class FastTrainer(ClassifierTrainer):
    """Trains a classifier the airbench way (see the module docstring).

    Args:
        model: may offer `init_whiten(images)` and `set_whiten_bias_trainable(bool)` (`FastCNN`).
        lr, reg, momentum: SGD's rate on the batch-mean loss, L2 coefficient and momentum
            (`settings.filter_optimizer` muon: of all but the conv filters).
        cuda_graph: on a GPU, replay the training step (forward, backward, both optimizers) as
            one CUDA graph, captured anew when the set of trained parameters changes.
        cudnn_benchmark: on a GPU, let cuDNN time its algorithms for each conv shape (unless
            `torch.backends.cudnn.deterministic` is set).

    Attributes:
        final_plain_acc: accuracy (percent) of the last evaluation without test-time augmentation.
    """

    def __init__(self, model: nn.Module, settings: FastSettings | None = None, *, lr: float,
                 reg: float, momentum: float, label_smoothing: float = 0.0,
                 precision: str = "fp32", channels_last: bool = False, compile: bool = False,
                 compile_mode: str = "default", cuda_graph: bool = False,
                 cudnn_benchmark: bool = True, device: str | torch.device | None = None,
                 callbacks: Sequence[Callback] = ()) -> None:
        self.settings = s = settings or FastSettings()
        loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        super().__init__(model, loss_fn, None, device=device, precision=precision,
                         channels_last=channels_last, callbacks=callbacks)
        cuda = self.device.type == "cuda"
        if cuda and not torch.backends.cudnn.deterministic:  # deterministic: the user's choice
            torch.backends.cudnn.benchmark = cudnn_benchmark
        graphed = cuda_graph and cuda  # on a CPU the step runs eagerly
        # device-tensor rates on a GPU, graph or not: both paths do the same float arithmetic
        self.optimizer = make_optim(self.model, lr, reg, momentum, s, fused=cuda, tensor_lr=cuda)
        self.graph = GraphedTrainStep(self.update, self.optimizer, self.device,
                                      compile_mode=compile_mode if compile else None
                                      ) if graphed else None
        self.cache_casts = not graphed
        if compile:
            self.forward = compiled(self.model, compile_mode)
        self.step = self.steps_per_epoch = self.num_epochs = 0
        self.lookahead: Lookahead | None = None
        self.final_plain_acc: float | None = None
        self.tta_level = 0
        self.plain: list[Any] = [0, []]  # images seen, correct counts of the plain view

    def fit(self, dl_train: Any, dl_test: Any, num_epochs: int, **kw: Any) -> FitResult:
        """`Trainer.fit`; the schedule spans `num_epochs` epochs of at most `max_batches` steps."""
        self.num_epochs = num_epochs
        self.steps_per_epoch = num_batches(dl_train, kw.get("max_batches")) or 0
        self.lookahead = None
        init_whiten = getattr(self.model, "init_whiten", None)
        images = _first_images(dl_train, self.settings.whiten_samples)
        if init_whiten is not None and images is not None:
            init_whiten(images.to(self.device))
        return super().fit(dl_train, dl_test, num_epochs, **kw)

    def train_epoch(self, dl_train: Any, max_batches: int | None = None, **kw: Any) -> EpochResult:
        """One epoch; afterwards the weights are the running average (once averaging has begun)."""
        s = self.settings
        self.step = self.epochs_done * self.steps_per_epoch
        if hasattr(dl_train, "set_epoch"):
            dl_train.set_epoch(self.epochs_done)
        set_bias = getattr(self.model, "set_whiten_bias_trainable", None)
        if set_bias is not None:
            set_bias(self.epochs_done < s.whiten_bias_epochs)
        if s.ema and self.lookahead is None and self.epochs_done >= s.ema_start_epoch:
            self.lookahead = Lookahead(self.model)
        result = super().train_epoch(dl_train, max_batches=max_batches, **kw)
        if self.lookahead is not None:
            self.lookahead.update(1.0)
        return result

    def test_epoch(self, dl_test: Any, max_batches: int | None = None, **kw: Any) -> EpochResult:
        """Evaluation; with test-time augmentation (`tta_level`) after the last epoch."""
        self.tta_level = self.settings.tta_level if self.epochs_done + 1 >= self.num_epochs else 0
        self.plain = [0, []]
        result = super().test_epoch(dl_test, max_batches=max_batches, **kw)
        seen, corrects = self.plain
        self.final_plain_acc = (result.accuracy if self.tta_level == 0 or not seen
                                else 100.0 * float(torch.stack(corrects).sum()) / seen)
        return result

    def train_batch(self, batch: Any) -> BatchResult:
        s = self.settings
        x, y = self.to_device(batch)
        total = self.num_epochs * self.steps_per_epoch
        set_lr(self.optimizer, lr_factor(self.step, total, s.lr_start, s.lr_peak, s.lr_end),
               lr_factor(self.step, s.whiten_bias_epochs * self.steps_per_epoch, 1.0, 0.0, 0.0))
        replayed = None
        if self.graph is not None:  # captured anew when the set of trained parameters changes
            replayed = self.graph(x, y, tuple(p.requires_grad for p in self.model.parameters()))
        if replayed is None:
            self.optimizer.zero_grad(set_to_none=True)  # not a replay's graph-owned gradients
            replayed = self.update(x, y)
        self.step += 1
        if self.lookahead is not None and self.step % s.ema_every == 0:
            self.lookahead.update(ema_decay(self.step, total, s.ema_decay, s.ema_every))
        return self.batch_result(*replayed)

    def test_batch(self, batch: Any) -> BatchResult:
        x, y = self.to_device(batch)
        with self.autocast():
            views = [(w, self.forward(view).float()) for w, view in tta_views(x, self.tta_level)]
        if self.tta_level > 0:  # the first view is the plain image
            self.plain[0] += len(y)
            self.plain[1].append((views[0][1].argmax(1) == y).sum())
        logits = torch.stack([weight * scores for weight, scores in views]).sum(0)
        return self.batch_result(self.loss_fn(logits, y), (logits.argmax(1) == y).sum())


def _first_images(loader: Any, n: int) -> torch.Tensor | None:
    """The first `n` unaugmented training images of a FastLoader or TensorLoader (else None)."""
    if hasattr(loader, "head"):
        return loader.head(n)
    tensors = getattr(loader, "tensors", None)
    return tensors[0][:n] if tensors else None
