"""Checkpoints of a run and the `Checkpoint` callback that writes them and resumes from them.

Prefix `runs/m` gives `runs/m_last.pt`, `runs/m_best.pt` and the course's `runs/m.pt`; each is
written atomically and holds only tensors and plain values (`weights_only=True` loads it), sealed
with a checksum (`util.sealing`); `check_state` refuses one that does not fit the trainer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from scratchlab.errors import CheckpointError
from scratchlab.training.callbacks import Callback
from scratchlab.training.results import EpochResult, FitResult
from scratchlab.util import get_rng_state, set_rng_state, torch_save_atomic
from scratchlab.util.atomic import remove_stale_temps
from scratchlab.util.sealing import seal, unseal

if TYPE_CHECKING:
    from scratchlab.training.loop import Trainer


class CheckpointFiles:
    """The checkpoint paths of one run, from a prefix such as `runs/exp1/model`."""

    def __init__(self, prefix: str | Path) -> None:
        prefix = Path(prefix)
        if prefix.suffix == ".pt":
            prefix = prefix.with_suffix("")
        self.prefix = prefix
        self.last = prefix.with_name(prefix.name + "_last.pt")
        self.best = prefix.with_name(prefix.name + "_best.pt")
        self.course = prefix.with_name(prefix.name + ".pt")
        self._checked: tuple[tuple[int, ...], dict[str, Any]] | None = None  # (file key, state)

    @classmethod
    def of(cls, where: str | Path | CheckpointFiles) -> CheckpointFiles:
        """`where` itself when it is a `CheckpointFiles`, else the files of that prefix."""
        return where if isinstance(where, CheckpointFiles) else cls(where)

    def save_last(self, state: dict[str, Any]) -> None:
        torch_save_atomic(seal(state), self.last)

    def save_best(self, state: dict[str, Any]) -> None:
        torch_save_atomic(seal(state), self.best)

    def save_course(self, best_acc: float, epochs_without_improvement: int,
                    model_state: dict[str, Any]) -> None:
        torch_save_atomic({"best_acc": best_acc, "ewi": epochs_without_improvement,
                           "model_state": model_state}, self.course)

    def load_last(self) -> dict[str, Any] | None:
        """The last state, or None when the run has no checkpoint yet (read once: a state that
        this object's `check` read from the unchanged file is handed over, not read again)."""
        checked, self._checked = self._checked, None
        if not self.last.exists():
            return None
        if checked is not None and checked[0] == _file_key(self.last):
            return checked[1]
        return unseal(load_checkpoint(self.last), self.last)

    def check(self, trainer: Trainer) -> None:
        """Refuse a last or best checkpoint that is damaged or does not fit `trainer`."""
        self._checked = None
        for path in (self.last, self.best):
            if path.exists() or path.is_symlink():
                key = _file_key(path) if path.exists() else None  # before the read: a file
                state = unseal(load_checkpoint(path), path)  # replaced meanwhile is read again
                check_state(state, trainer, path)
                if path == self.last and key is not None:  # for the resume (`load_last`)
                    self._checked = (key, state)

    def discard_checked(self) -> None:
        """Let go of the state `check` read (a process that will not resume: a DDP rank > 0)."""
        self._checked = None

    def remove_stale_temps(self) -> None:
        """Delete temporary files of the run's files whose writer was killed."""
        name = self.prefix.name  # exactly the run's files: run `s1` never touches run `s10`'s
        remove_stale_temps(self.prefix.parent, [f"{name}{end}" for end in (
            "_last.pt", "_best.pt", ".pt", ".config.json")])

    def all(self) -> tuple[Path, Path, Path]:
        return self.last, self.best, self.course


def _file_key(path: Path) -> tuple[int, ...]:
    """Changes when the file does: every atomic write makes a new inode, whatever the clock."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A scratchlab checkpoint; a missing, damaged or foreign file is a `CheckpointError`."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises many types for a damaged or unsafe file
        if any(w in str(exc) for w in ("Unsupported global", "Unsupported class", "reduce")):
            raise CheckpointError(f"checkpoint {path} cannot be read: it holds objects other than "
                                  "tensors and plain values (refused, not run); delete it to "
                                  "start over") from None
        reason = " ".join(str(exc).split())[:200]
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: "
                              f"{reason}); delete it to start over") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a "
                              "checkpoint; delete it to start over")
    return state


class Checkpoint(Callback):
    """Writes the run's checkpoints every epoch; with `resume`, continues from `_last.pt` if any."""

    def __init__(self, prefix: str | Path | CheckpointFiles, resume: bool = False) -> None:
        self.files = CheckpointFiles.of(prefix)
        self.resume = resume
        self.best_acc: float | None = None
        self.ewi = 0

    def on_fit_start(self, trainer: Trainer) -> None:
        self.files.remove_stale_temps()
        state = self.read_last()
        if state is not None:
            check_state(state, trainer, self.files.last)
            self.restore(trainer, state)

    def read_last(self) -> dict[str, Any] | None:
        """The state to resume from (None: start afresh)."""
        return self.files.load_last() if self.resume else None

    def restore(self, trainer: Trainer, state: dict[str, Any]) -> None:
        """Put `trainer`, its train loader and every random generator back as `state` holds them."""
        try:
            trainer.load_state_dict(state["trainer"])
            _load_loader_state(trainer.train_loader, state.get("loader"))
            set_rng_state(state["rng"])
            self.best_acc, self.ewi = state["best_acc"], state.get("ewi", 0)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {self.files.last} does not fit this run "
                                  f"({type(exc).__name__}: {exc}); delete it to start "
                                  "over") from None

    def on_epoch_end(self, trainer: Trainer, train: EpochResult, test: EpochResult) -> None:
        improved = self.best_acc is None or test.accuracy > self.best_acc
        self.best_acc = test.accuracy if improved else self.best_acc
        self.ewi = 0 if improved else self.ewi + 1
        self.write(self.state_of(trainer), improved)

    def state_of(self, trainer: Trainer) -> dict[str, Any]:
        """Everything an exact resume needs, as tensors and plain values."""
        return checkpoint_state(trainer.state_dict(), trainer.train_loader, self.best_acc,
                                self.ewi)

    def write(self, state: dict[str, Any], improved: bool) -> None:
        """`_last.pt`, and `_best.pt` and the course's file when test accuracy improved."""
        if improved:
            self.files.save_best(state)
            self.files.save_course(state["best_acc"], 0, state["trainer"]["model"])
        self.files.save_last(state)


def make_trainer_state(model_state: dict[str, Any], optimizer: Any, scheduler: Any,
                       history: FitResult, should_stop: bool,
                       callbacks: dict[str, Any]) -> dict[str, Any]:
    """What `Trainer.state_dict` gives (`callbacks`: state per callback class name); also how a
    trainer of many runs at once writes one run's state, so that the run resumes alone."""
    return {"model": model_state, "optimizer": _state_of(optimizer),
            "scheduler": _state_of(scheduler), "history": history.to_dict(),
            "should_stop": should_stop, "callbacks": callbacks}


def _state_of(obj: Any) -> Any:
    return obj.state_dict() if obj is not None and hasattr(obj, "state_dict") else None


def checkpoint_state(trainer_state: dict[str, Any], loader: Any, best_acc: float | None,
                     epochs_without_improvement: int) -> dict[str, Any]:
    """The content of `_last.pt`/`_best.pt`: trainer, loader and RNG states, best accuracy."""
    return {"trainer": trainer_state, "loader": _loader_state(loader), "rng": get_rng_state(),
            "best_acc": best_acc, "ewi": epochs_without_improvement}


def _loader_state(loader: Any) -> Any:
    if hasattr(loader, "state_dict"):
        return loader.state_dict()
    generator = getattr(loader, "generator", None)
    return {"generator": generator.get_state()} if isinstance(generator, torch.Generator) else None


def _load_loader_state(loader: Any, state: Any) -> None:
    if state is None:
        return
    if hasattr(loader, "load_state_dict"):
        loader.load_state_dict(state)
    elif isinstance(getattr(loader, "generator", None), torch.Generator):
        loader.generator.set_state(state["generator"])


def check_state(state: dict[str, Any], trainer: Any, path: str | Path) -> None:
    """Refuse a checkpoint whose keys, types or model tensors do not fit `trainer`."""

    def fail(problem: str) -> None:
        raise CheckpointError(f"checkpoint {path} does not fit this run ({problem}); delete it "
                              "to start over")

    for key, kinds in (("trainer", dict), ("rng", (dict, list)),  # rng: one rank's, or every rank's
                       ("best_acc", (int, float, type(None))), ("ewi", int)):
        value = state.get(key, 0 if key == "ewi" else ...)
        if not isinstance(value, kinds) or isinstance(value, bool):
            fail(f"{key!r} is missing" if value is ... else
                 f"{key!r} is a {type(value).__name__}")
    saved = state["trainer"].get("model")
    expected = trainer.model_state()
    if not isinstance(saved, dict) or not isinstance(expected, dict):
        if type(saved) is not type(expected):
            fail(f"its model state is a {type(saved).__name__}")
        return
    if set(saved) != set(expected):
        missing, extra = sorted(set(expected) - set(saved)), sorted(set(saved) - set(expected))
        fail(f"model keys missing {missing[:3]}, unexpected {extra[:3]}")
    for name, want in expected.items():
        have = saved[name]
        if isinstance(want, torch.Tensor) and (not isinstance(have, torch.Tensor)
                                               or have.shape != want.shape):
            got = tuple(have.shape) if isinstance(have, torch.Tensor) else type(have).__name__
            fail(f"model tensor {name} is {got}, the model's is {tuple(want.shape)}")
