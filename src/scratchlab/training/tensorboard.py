"""`TensorBoardLogger`: a callback that writes a fit's losses and accuracies for TensorBoard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from scratchlab.errors import require
from scratchlab.training.callbacks import Callback
from scratchlab.training.results import EpochResult

if TYPE_CHECKING:
    from scratchlab.training.loop import Trainer


class TensorBoardLogger(Callback):
    """Per epoch: mean loss and accuracy of train and test, and the learning rate.

    Args:
        batch_losses: also write every training batch's loss (reads each value from the device).
    """

    def __init__(self, log_dir: str | Path, batch_losses: bool = False) -> None:
        require("tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.batch_losses = batch_losses
        self.step = 0

    def on_batch_end(self, trainer: Trainer, phase: str, result: Any) -> None:
        if phase == "train":
            self.step += 1
            if self.batch_losses:
                self.writer.add_scalar("batch/train_loss", float(result.loss), self.step)

    def on_epoch_end(self, trainer: Trainer, train: EpochResult, test: EpochResult) -> None:
        epoch = trainer.epochs_done
        for phase, result in (("train", train), ("test", test)):
            self.writer.add_scalar(f"loss/{phase}", result.mean_loss, epoch)
            self.writer.add_scalar(f"accuracy/{phase}", result.accuracy, epoch)
        groups = getattr(trainer.optimizer, "param_groups", None)
        if groups:
            self.writer.add_scalar("lr", float(groups[0]["lr"]), epoch)
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer) -> None:
        self.writer.close()

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
