"""Numbers over seeds, as every study reports them: mean, std, n and a 95% confidence interval.

A comparison of two settings is "inconclusive" when their 95% intervals overlap (`compare`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


def ci95(values: np.ndarray | pd.Series | list[float]) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); NaN for fewer than 2."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return math.nan
    # Student t's quantile; scipy.stats takes 4 times as long to import
    from scipy.special import stdtrit

    half = stdtrit(len(values) - 1, 0.975) * values.std(ddof=1) / math.sqrt(len(values))
    return float(half)


def mean_std(table: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, std (ddof=1; 0 for one seed, NaN for none), 95% CI half-width and count of `metrics`
    over seeds, per group `by`."""
    grouped = table.groupby(by, sort=False, dropna=False)
    parts = []
    for metric in metrics:
        frame = grouped[metric].agg(["mean", "std", "count"])
        frame["std"] = frame["std"].mask(frame["count"] == 1, 0.0)  # none without values
        frame["ci95"] = grouped[metric].agg(ci95)
        frame = frame[["mean", "std", "ci95", "count"]]
        frame.columns = [f"{metric}_mean", f"{metric}_std", f"{metric}_ci95", "n"]
        parts.append(frame if not parts else frame.drop(columns="n"))
    return pd.concat(parts, axis=1).reset_index()


def fmt_pm(mean: float, std: float, digits: int = 1) -> str:
    """'83.4 +- 1.2' (the form every study uses for numbers over seeds)."""
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} +- {std:.{digits}f}"


def mean_text(values: pd.Series, digits: int = 1) -> str:
    """'mean +- std' of values over seeds, or just the value when there is one."""
    if len(values) < 2:
        return f"{values.mean():.{digits}f}"
    return fmt_pm(float(values.mean()), float(values.std(ddof=1)), digits)


@dataclass(frozen=True)
class Comparison:
    """Setting a against setting b over seeds: means, 95% intervals and the verdict."""

    mean_a: float
    mean_b: float
    ci_a: float
    ci_b: float

    @property
    def difference(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def overlap(self) -> bool:
        """Whether the 95% intervals overlap (always, when either has fewer than 2 seeds)."""
        if math.isnan(self.ci_a) or math.isnan(self.ci_b):
            return True
        return abs(self.difference) <= self.ci_a + self.ci_b

    def verdict(self, higher: str = "higher", lower: str = "lower") -> str:
        """`higher`/`lower` (a against b), or "inconclusive" when the intervals overlap."""
        if self.overlap:
            return "inconclusive"
        return higher if self.difference > 0 else lower

    def __str__(self) -> str:
        return (f"{self.mean_a:.1f} +- {_half(self.ci_a)} vs {self.mean_b:.1f} +- "
                f"{_half(self.ci_b)} (95% CI)")


def compare(a: pd.Series | list[float], b: pd.Series | list[float]) -> Comparison:
    """Compare two sets of per-seed values by their means and 95% confidence intervals."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return Comparison(float(np.nanmean(a)), float(np.nanmean(b)), ci95(a), ci95(b))


def _half(ci: float) -> str:
    return "n/a" if math.isnan(ci) else f"{ci:.1f}"


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

    @property
    def ci(self) -> float:
        """Half-width of the 95% confidence interval of the mean (0 for one seed)."""
        return ci95(self.values) if self.n > 1 else 0.0

    def __str__(self) -> str:
        return f"{fmt_pm(self.mean, self.std)}{self.unit}"
