"""A rank's share of a loader in a data-parallel run (`shard_loader`)."""

from __future__ import annotations

from typing import Any

from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from scratchlab.errors import ConfigError
from scratchlab.training.loaders import TensorLoader


def shard_loader(loader: Any, rank: int, world_size: int, seed: int = 0) -> Any:
    """Rank `rank`'s share of `loader`, so that the `world_size` shards make up its global batches.

    - `TensorLoader`: rank-strided rows of every global batch (batch size B -> B/W per rank);
      the global batches, and their order, are those of the unsharded loader.
    - `DataLoader`: rebuilt with a `DistributedSampler` (shuffled with `seed` + epoch when the
      loader shuffles) and batch size B/W; one whose sampler is already distributed is kept.
      The sampler pads the dataset to a multiple of W by repeating items.
    """
    if world_size == 1 or isinstance(getattr(loader, "sampler", None), DistributedSampler):
        return loader
    if isinstance(loader, TensorLoader):
        return loader.shard(rank, world_size)
    if isinstance(loader, DataLoader):
        return _distributed_dataloader(loader, rank, world_size, seed)
    raise ConfigError(f"cannot split a {type(loader).__name__} over {world_size} processes; pass a "
                      "TensorLoader or a DataLoader")


def _distributed_dataloader(loader: DataLoader, rank: int, world_size: int,
                            seed: int) -> DataLoader:
    sampler = loader.sampler
    if type(loader.batch_sampler) is not BatchSampler or not isinstance(
            sampler, (RandomSampler, SequentialSampler)):
        raise ConfigError("only a DataLoader with batch_size and shuffle (no custom sampler) can "
                          "be split over processes; give it a DistributedSampler yourself")
    batch_size = loader.batch_size or 0
    if batch_size % world_size:
        raise ConfigError(f"batch size {batch_size} cannot be split evenly over {world_size} "
                          f"processes; use a multiple of {world_size}")
    distributed = DistributedSampler(
        loader.dataset, num_replicas=world_size, rank=rank,
        shuffle=isinstance(sampler, RandomSampler), seed=seed, drop_last=loader.drop_last,
    )
    kept = ["num_workers", "collate_fn", "pin_memory", "drop_last", "timeout", "worker_init_fn",
            "generator"]
    if loader.num_workers > 0:
        kept += ["persistent_workers", "prefetch_factor", "multiprocessing_context"]
    options = {name: getattr(loader, name) for name in kept}
    return DataLoader(loader.dataset, batch_size=batch_size // world_size, sampler=distributed,
                      **options)
