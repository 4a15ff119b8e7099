"""`Stat`: one number measured over seeds, with its mean, std and per-seed values."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scratchlab.util.stats import fmt_pm


@dataclass(frozen=True)
class Stat:
    """A number over seeds: mean, std (ddof=1, 0 for one seed) and the per-seed values; it
    prints as 'mean +- std' followed by `unit`."""

    values: tuple[float, ...]
    unit: str = ""

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if self.n > 1 else 0.0

    def __str__(self) -> str:
        return f"{fmt_pm(self.mean, self.std)}{self.unit}"
