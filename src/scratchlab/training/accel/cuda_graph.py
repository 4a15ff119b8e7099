"""The whole training step (forward, loss, backward, optimizer step) captured as one CUDA graph.

Batches of the captured shape replay it after `warmup` eager steps, others train eagerly. Needs a
CUDA device, an optimizer that `graph_safe` accepts (`capturable_optimizer`; the fast recipe's
fused SGD and FilterMuon) and a forward that never waits for the host.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

from scratchlab.errors import ConfigError
from scratchlab.optim import FilterMuon
from scratchlab.training.classifier import ClassifierTrainer
from scratchlab.training.results import BatchResult
from scratchlab.util.cuda_graphs import try_capture

# Held while a step is captured, replayed or launched on a GPU (`launch_lock` of GPU trainers): a
# capture takes over the default generator and must not overlap other threads' launches (the
# `threads` executor). It serialises launches only (as the GIL does), not GPU work.
CAPTURE_LOCK = threading.RLock()
# Held while a run builds its data and model: a capture waits for other threads' setups.
SETUP_LOCK = threading.RLock()

# torch.compile modes that replay CUDA graphs of their own: a whole-step graph cannot hold them.
GRAPHING_COMPILE_MODES = ("reduce-overhead", "max-autotune")
# The optimizers whose step a CUDA graph can capture, by their config name.
CAPTURABLE_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def capturable_optimizer(kind: str, params: list[torch.nn.Parameter], lr: float,
                         **kw: Any) -> torch.optim.Optimizer:
    """A capturable Adam/AdamW: state on the device, a tensor lr that schedulers update in place."""
    cls = CAPTURABLE_OPTIMIZERS.get(kind)
    if cls is None:
        raise ConfigError(f"cuda_graph trains with optimizer adam or adamw, got {kind!r}")
    optimizer = cls(params, lr=torch.tensor(lr, device=params[0].device), capturable=True, **kw)
    for group in optimizer.param_groups:  # a float base lr: schedulers do not read the device
        group["initial_lr"] = float(lr)
    return optimizer


def graph_safe(optimizer: Any) -> bool:
    """Whether a CUDA graph can capture `optimizer.step()`: every group's lr a tensor (updated in
    place), and Adam/AdamW capturable, SGD fused, or FilterMuon (parts of a CombinedOptimizer
    alike)."""
    parts = getattr(optimizer, "optimizers", None)
    if parts is not None:
        return all(graph_safe(part) for part in parts)
    groups = optimizer.param_groups
    if not all(isinstance(g["lr"], torch.Tensor) for g in groups):
        return False
    if isinstance(optimizer, tuple(CAPTURABLE_OPTIMIZERS.values())):
        return all(g.get("capturable") for g in groups)
    if isinstance(optimizer, torch.optim.SGD):
        return all(g.get("fused") for g in groups)
    return isinstance(optimizer, FilterMuon)


class GraphedTrainStep:
    """Replays one captured training step for batches of the captured shape (None for others)."""

    def __init__(self, step: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]],
                 optimizer: torch.optim.Optimizer, device: torch.device, warmup: int = 3,
                 compile_mode: str | None = None) -> None:
        if compile_mode in GRAPHING_COMPILE_MODES:  # the trainer's forward, compiled
            raise ConfigError(f"cuda_graph and compile mode {compile_mode} both replay CUDA "
                              "graphs; choose one (compile mode default or "
                              "max-autotune-no-cudagraphs goes with cuda_graph)")
        if device.type != "cuda":
            raise ConfigError(f"cuda_graph needs a CUDA device, got {device}")
        if not graph_safe(optimizer):
            raise ConfigError("cuda_graph needs a step a CUDA graph can capture: capturable "
                              "Adam/AdamW, fused SGD or FilterMuon with device tensor rates "
                              "(training.accel.cuda_graph.capturable_optimizer)")
        self.step = step  # (x, y) -> (loss, num_correct), including backward and optimizer.step
        self.optimizer = optimizer
        self.device = device
        self.warmup = warmup
        self.eager_steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.shape: tuple[torch.Size, torch.Size, torch.dtype] | None = None
        self.mode: Any = None
        self.static: dict[str, torch.Tensor] = {}
        self.side_stream = torch.cuda.Stream(device)
        self.failed = False  # a capture failed: every step runs eagerly

    def __call__(self, x: torch.Tensor, y: torch.Tensor,
                 mode: Any = None) -> tuple[torch.Tensor, ...] | None:
        """The step's (loss, correct) from the graph; None for a batch of another shape. A new
        `mode` (what else the capture depends on, e.g. which parameters train) is captured anew."""
        key = (x.shape, y.shape, x.dtype)
        if self.shape is None:
            self.shape = key
        if key != self.shape or self.failed:
            return None
        with CAPTURE_LOCK:
            if mode != self.mode and self.graph is not None:
                self.graph, self.eager_steps = None, self.warmup - 1
            self.mode = mode
            if self.graph is None and self.eager_steps < self.warmup:
                self.eager_steps += 1
                return self._on_side_stream(x, y)
            if self.graph is None:
                with SETUP_LOCK:
                    self._capture(x, y)
                if self.graph is None:
                    return None
            self.static["x"].copy_(x)
            self.static["y"].copy_(y)
            self.graph.replay()  # type: ignore[union-attr]
        return self.static["loss"].clone(), self.static["correct"].clone()

    def _on_side_stream(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        current = torch.cuda.current_stream(self.device)
        self.side_stream.wait_stream(current)
        with torch.cuda.stream(self.side_stream):
            self.optimizer.zero_grad(set_to_none=True)
            loss, correct = self.step(x, y)
        current.wait_stream(self.side_stream)
        return loss, correct

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.static["x"] = torch.empty_like(x)
        self.static["y"] = torch.empty_like(y)
        # the graph's backward allocates (not accumulates) the gradients
        self.optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize(self.device)
        # Its own capture stream, and errors only for this thread's calls: runs in other threads
        # (the `threads` executor) keep launching kernels on their streams while this one captures.
        self.graph, outputs = try_capture(
            lambda: self.step(self.static["x"], self.static["y"]), self.side_stream,
            "the training step", capture_error_mode="thread_local")
        if self.graph is None:  # every step trains eagerly, with the same results
            self.failed = True
            self.optimizer.zero_grad(set_to_none=True)  # not the failed capture's gradients
            return
        self.static["loss"], self.static["correct"] = outputs


class GraphedClassifierTrainer(ClassifierTrainer):
    """`ClassifierTrainer` replaying its training step (a compiled forward too, in a compile mode
    without graphs of its own) as a CUDA graph."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mode = "default" if kwargs.get("compile") else None  # how ClassifierTrainer compiles
        self.graph = GraphedTrainStep(self.update, self.optimizer, self.device, compile_mode=mode)
        self.cache_casts = False

    def train_batch(self, batch: Any) -> BatchResult:
        x, y = self.to_device(batch)
        replayed = self.graph(x, y)
        if replayed is None:
            return super().train_batch(batch)
        self.step_scheduler("batch")
        return self.batch_result(*replayed)
