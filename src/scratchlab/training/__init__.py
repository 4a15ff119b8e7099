"""Training: results, trainers, early stopping, checkpoints and in-memory loaders."""

from scratchlab.training.checkpoints import CheckpointFiles, load_checkpoint
from scratchlab.training.classifier_trainer import ClassifierTrainer
from scratchlab.training.early_stopping import EarlyStopping
from scratchlab.training.layer_trainer import LayerTrainer
from scratchlab.training.loaders import TensorLoader
from scratchlab.training.results import BatchResult, EpochResult, FitResult
from scratchlab.training.trainer import Trainer

__all__ = [
    "BatchResult",
    "CheckpointFiles",
    "ClassifierTrainer",
    "EarlyStopping",
    "EpochResult",
    "FitResult",
    "LayerTrainer",
    "TensorLoader",
    "Trainer",
    "load_checkpoint",
]
