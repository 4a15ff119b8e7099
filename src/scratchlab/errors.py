"""Errors a user can cause. Each message says what was wrong and what to do about it.

The CLI prints a `ScratchlabError` on one line and exits with status 2; anything else is a bug.
"""

from __future__ import annotations


class ScratchlabError(Exception):
    """Base class of every error caused by user input (config, data, shapes, environment).

    `cli`: the message in command-line terms (flags instead of Python arguments), where it
    differs; the `scratchlab` command prints it instead.
    """

    def __init__(self, *args: object, cli: str | None = None) -> None:
        super().__init__(*args)
        self.cli = cli


class ConfigError(ScratchlabError, ValueError):
    """An invalid configuration value or an unknown field."""


class ShapeError(ScratchlabError, ValueError):
    """A tensor whose shape does not fit the layer or model it is given to."""


class DatasetNotFoundError(ScratchlabError, FileNotFoundError):
    """A dataset that is not on disk where scratchlab looked."""


class DatasetError(ScratchlabError, ValueError):
    """A dataset file that is damaged or not in the format it claims (or would run code)."""


class TrainingDivergedError(ScratchlabError, FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class CheckpointError(ScratchlabError):
    """A checkpoint that cannot be read or does not match the run."""


class MissingDependencyError(ScratchlabError, ImportError):
    """An optional extra (detect, rl, distributed) that is not installed."""


def require(module: str, extra: str):
    """Import an optional dependency, or raise a `MissingDependencyError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed ({exc}); install it with: pip install 'scratchlab[{extra}]'"
        ) from None
