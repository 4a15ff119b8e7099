from .callbacks import (
    Callback,
    EarlyStopping,
    EpochPrinter,
    NaNGuard,
    PostEpochFn,
    ProgressBar,
    Timer,
)
from .checkpoints import Checkpoint, CheckpointFiles, load_checkpoint
from .classifier import ClassifierTrainer
from .layer import LayerTrainer
from .loaders import TensorLoader
from .loop import Trainer
from .results import BatchResult, EpochResult, FitResult
from .tensorboard import TensorBoardLogger

__all__ = [
    "BatchResult",
    "Callback",
    "Checkpoint",
    "CheckpointFiles",
    "ClassifierTrainer",
    "EarlyStopping",
    "EpochPrinter",
    "EpochResult",
    "FitResult",
    "LayerTrainer",
    "NaNGuard",
    "PostEpochFn",
    "ProgressBar",
    "TensorBoardLogger",
    "TensorLoader",
    "Timer",
    "Trainer",
    "load_checkpoint",
]
