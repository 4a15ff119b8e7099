"""The process group of a torchrun launch: join and leave it, ask this process's place in it.

`setup()` reads torchrun's environment (nccl on GPUs, one per LOCAL_RANK; gloo on CPU).
`rank()`, `world_size()`, `is_main_process()` and the collectives also work in one process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from scratchlab.errors import ConfigError
from scratchlab.util.device import resolve_device

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
LAUNCH_HINT = "launch with: torchrun --nproc-per-node N -m scratchlab run-exp ... --ddp"


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a data-parallel run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when the environment holds torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR/PORT)."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def is_initialized() -> bool:
    """True when this process belongs to a process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank: from the process group, else torchrun's RANK, else 0."""
    return dist.get_rank() if is_initialized() else int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Number of processes: from the process group, else torchrun's WORLD_SIZE, else 1."""
    return dist.get_world_size() if is_initialized() else int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on rank 0 (and in every single-process run): the process that prints and writes
    files."""
    return rank() == 0


def setup(
    device: str | torch.device | None = "auto",
    backend: str | None = None,
    timeout: timedelta = timedelta(minutes=30),
) -> DistributedContext:
    """Join the process group torchrun described; returns this rank's place and device.

    Args:
        device: `auto` (GPUs when there are any), `cpu` or `cuda`; on GPUs each process takes
            `cuda:LOCAL_RANK`, whatever index is given.
        backend: default `nccl` on GPUs, `gloo` on CPU.
        timeout: how long a collective waits for the other ranks before failing.
    """
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise ConfigError("distributed training needs torchrun's environment "
                          f"({', '.join(missing)} not set); {LAUNCH_HINT}")
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; install a build with "
                          "distributed support")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _rank_device(resolve_device(device), local_rank)
    backend = backend or ("nccl" if device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        device_id = device if device.type == "cuda" else None
        dist.init_process_group(backend=backend, timeout=timeout, device_id=device_id)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, device,
                              dist.get_backend())


def teardown() -> None:
    """Leave the process group (no-op when there is none)."""
    if is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def session(device: str | torch.device | None = "auto",
            backend: str | None = None) -> Iterator[DistributedContext]:
    """`with session() as ctx:` joins the process group and always leaves it."""
    context = setup(device, backend)
    try:
        yield context
    finally:
        teardown()


def rank_device() -> torch.device:
    """The device of this rank: `cuda:<current>` under nccl, else the CPU."""
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _rank_device(device: torch.device, local_rank: int) -> torch.device:
    if device.type != "cuda":
        return device
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ConfigError(f"LOCAL_RANK is {local_rank} but only {count} GPUs are visible; use "
                          f"--nproc-per-node {count} or fewer")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


# ---- collectives that also work in a single process --------------------------------------------
# gloo's worker thread lets go of a finished collective a moment after the waiting rank wakes.
# Were its handle the last one, and the interpreter already shutting down, freeing it would abort
# the process ("terminate called without an active exception", a PyTorch issue). This module
# keeps the latest barrier's handle, so that the main thread is the one that frees it.
_LATEST_BARRIER: list[Any] = []


def barrier() -> None:
    """Wait until every rank gets here (no-op without a process group)."""
    if is_initialized():
        work = dist.barrier(async_op=True)
        if work is not None:  # None: a backend that waited already
            work.wait()
            _LATEST_BARRIER[:] = [work]


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s `obj` on every rank (any picklable object)."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank."""
    if not is_initialized():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over the ranks, in place; returns it."""
    if is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
