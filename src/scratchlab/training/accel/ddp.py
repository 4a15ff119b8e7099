"""`DistributedClassifierTrainer`: `ClassifierTrainer` with the model in DistributedDataParallel.

W processes with global batch B follow the one-process run with batch B; losses and accuracies
are global, and rank 0 writes the checkpoints.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from scratchlab.errors import CheckpointError, ConfigError
from scratchlab.training.accel.sharding import shard_loader
from scratchlab.training.checkpoints import Checkpoint
from scratchlab.training.classifier import ClassifierTrainer
from scratchlab.training.loop import Trainer
from scratchlab.training.results import BatchResult, EpochResult, FitResult
from scratchlab.util import distributed as dd
from scratchlab.util import seed_everything

RANK_SEED_STRIDE = 1_000_003


class DistributedCheckpoint(Checkpoint):
    """Checkpoints of a data-parallel run: rank 0 writes and reads, every rank resumes its RNG."""

    def read_last(self) -> dict[str, Any] | None:
        """Rank 0's last state, sent to every rank (no shared file system needed)."""
        if not dd.is_main_process():
            self.files.discard_checked()
        return dd.broadcast_object(super().read_last() if dd.is_main_process() else None)

    def restore(self, trainer: Trainer, state: dict[str, Any]) -> None:
        saved = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
        if not saved:
            raise CheckpointError("checkpoint holds no random state; delete it to start over")
        rank = dd.rank()
        super().restore(trainer, {**state, "rng": saved[min(rank, len(saved) - 1)]})
        if rank >= len(saved):  # more ranks than the run that wrote the checkpoint
            trainer.seed_rank_stream()  # type: ignore[attr-defined]

    def state_of(self, trainer: Trainer) -> dict[str, Any]:
        state = super().state_of(trainer)
        state["rng"] = dd.all_gather_object(state["rng"])  # one random state per rank
        state["world_size"] = dd.world_size()
        return state

    def write(self, state: dict[str, Any], improved: bool) -> None:
        if dd.is_main_process():
            super().write(state, improved)
        dd.barrier()


class DistributedClassifierTrainer(ClassifierTrainer):
    """Data-parallel `ClassifierTrainer`; needs a process group (`util.distributed.setup()`).

    Args:
        sync_batchnorm: BatchNorm statistics over the global batch (GPUs only).
        find_unused_parameters: passed to DDP, for forwards that skip some parameters.

    Build the model from one seed on every rank; each rank then draws its own random stream.
    `train_batch`/`test_batch` report this rank's share, `fit` and the epochs global values.
    """

    checkpoint_class = DistributedCheckpoint

    def __init__(self, model: nn.Module, loss_fn: nn.Module, optimizer: Any,
                 device: str | torch.device | None = None, *, sync_batchnorm: bool = False,
                 find_unused_parameters: bool = False, compile: bool = False,
                 **kwargs: Any) -> None:
        if not dd.is_initialized():
            raise ConfigError("DistributedClassifierTrainer needs a process group; call "
                              f"util.distributed.setup() first ({dd.LAUNCH_HINT})")
        device = torch.device(device) if device is not None else dd.rank_device()
        if sync_batchnorm:
            if device.type == "cpu":
                raise ConfigError("SyncBatchNorm runs on GPUs only; drop sync_batchnorm on CPU "
                                  "(or use a model without BatchNorm)")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # keeps the optimizer's params
        super().__init__(model, loss_fn, optimizer, device=device, **kwargs)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(self.model, device_ids=device_ids,
                                           find_unused_parameters=find_unused_parameters)
        self.forward = torch.compile(self.ddp) if compile else self.ddp
        self.rank, self.world_size = dd.rank(), dd.world_size()
        self.seed = int(dd.broadcast_object(torch.initial_seed()))
        self.seed_rank_stream()

    def fit(self, dl_train: Any, dl_test: Any, num_epochs: int, **kwargs: Any) -> FitResult:
        """`Trainer.fit` on this rank's shard of each loader; only rank 0 prints and writes."""
        if self.rank != 0:
            kwargs["print_every"] = 0
        return super().fit(self.shard(dl_train), self.shard(dl_test), num_epochs, **kwargs)

    def shard(self, loader: Any) -> Any:
        """This rank's share of `loader` (see `shard_loader`)."""
        return shard_loader(loader, self.rank, self.world_size, seed=self.seed % 2**63)

    def train_epoch(self, dl_train: Any, max_batches: int | None = None, **kw: Any) -> EpochResult:
        sampler = getattr(dl_train, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epochs_done)
        return super().train_epoch(dl_train, max_batches, **kw)

    def set_mode(self, train: bool) -> None:
        self.ddp.train(train)

    def train_batch(self, batch: Any) -> BatchResult:
        x, y = self.to_device(batch)
        self.optimizer.zero_grad()
        with self.autocast():
            scores = self.forward(x)
            loss = self.loss(scores, y)
        self._backward(loss, scores, len(y), getattr(batch, "global_size", None))
        self.optimizer.step()
        self.step_scheduler("batch")
        return BatchResult(loss.detach(), self.num_correct(scores.detach(), y))

    def test_batch(self, batch: Any) -> BatchResult:
        result = super().test_batch(batch)
        return BatchResult(torch.as_tensor(result.loss), torch.as_tensor(result.num_correct))

    def _backward(self, loss: torch.Tensor, scores: torch.Tensor, n: int,
                  global_size: int | None) -> None:
        """Backward of this rank's part of the global mean loss (DDP then averages over ranks)."""
        if n == 0:  # a global batch smaller than W leaves some ranks empty: zero gradients
            (scores.sum() * 0.0).backward()
            return
        scale = 1.0 if global_size is None else n * self.world_size / global_size
        (loss if scale == 1.0 else loss * scale).backward()

    def epoch_result(self, results: list[BatchResult], sizes: list[int], phase: str) -> EpochResult:
        """Global batch losses (mean over each global batch) and global accuracy."""
        device = dd.rank_device()
        n = torch.tensor(sizes, dtype=torch.float64, device=device)
        if results:
            loss = torch.stack([r.loss.to(device).reshape(()).double() for r in results])
            correct = torch.stack([r.num_correct.to(device).reshape(()).double() for r in results])
        else:
            loss = correct = torch.zeros(0, dtype=torch.float64, device=device)
        table = dd.all_reduce_sum(torch.stack([torch.where(n > 0, loss * n, 0.0), correct, n]))
        totals = table.sum(dim=1).tolist()
        if totals[2] == 0:
            raise ConfigError(f"the {phase} loader yielded no batches; "
                              "check the dataset size and batch size")
        return EpochResult(losses=(table[0] / table[2]).tolist(),
                           accuracy=100.0 * totals[1] / totals[2])

    def seed_rank_stream(self) -> None:
        if self.rank > 0:
            seed_everything((self.seed + RANK_SEED_STRIDE * self.rank) % 2**63)
