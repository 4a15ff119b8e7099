"""Statistics over seeds: mean_std's columns, ci95 against a t table, compare's verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from scratchlab.util.stats import ci95, compare, mean_std


def test_ci95_is_the_t_interval_half_width():
    values = [1.0, 2.0, 4.0, 7.0]
    expected = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / math.sqrt(4)
    assert math.isclose(ci95(values), expected)
    assert math.isnan(ci95([3.0]))


def test_mean_std_gives_zero_std_for_one_value_and_nan_for_none():
    table = pd.DataFrame({"group": ["a", "a", "b", "c"], "x": [1.0, 3.0, 5.0, np.nan]})
    out = mean_std(table, ["group"], ["x"]).set_index("group")
    assert out.loc["a", "x_std"] == np.std([1.0, 3.0], ddof=1)
    assert out.loc["b", "x_std"] == 0.0 and out.loc["b", "n"] == 1
    assert math.isnan(out.loc["c", "x_mean"]) and math.isnan(out.loc["c", "x_std"])
    assert out.loc["c", "n"] == 0


def test_compare_is_inconclusive_only_when_intervals_overlap():
    apart = compare([10.0, 10.5, 11.0], [1.0, 1.5, 2.0])
    close = compare([10.0, 12.0, 14.0], [9.0, 11.0, 13.0])
    assert apart.verdict() != "inconclusive"
    assert close.verdict() == "inconclusive"
