from .batched import BatchedTrainer, ModelOutcome, fit_many
from .cuda_graph import (
    CAPTURABLE_OPTIMIZERS,
    CAPTURE_LOCK,
    SETUP_LOCK,
    GraphedClassifierTrainer,
    capturable_optimizer,
)
from .ddp import DistributedClassifierTrainer
from .fast import FastTrainer, compiled, make_fast_loaders
from .fast_settings import FastSettings
from .launch import shared, sharing_device
from .sharding import shard_loader

__all__ = [
    "CAPTURABLE_OPTIMIZERS",
    "CAPTURE_LOCK",
    "SETUP_LOCK",
    "BatchedTrainer",
    "DistributedClassifierTrainer",
    "FastSettings",
    "FastTrainer",
    "GraphedClassifierTrainer",
    "ModelOutcome",
    "capturable_optimizer",
    "compiled",
    "fit_many",
    "make_fast_loaders",
    "shard_loader",
    "shared",
    "sharing_device",
]
