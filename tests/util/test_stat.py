"""A number over seeds: mean, std with ddof=1 (0 for one seed), its text with a unit."""

import math

from scratchlab.util import Stat


def test_mean_std_and_text():
    s = Stat((80.0, 82.0, 84.0), unit="%")
    assert (s.n, s.mean, s.std) == (3, 82.0, 2.0)
    assert str(s) == "82.0 +- 2.0%"
    assert Stat((0.5,)).std == 0.0 and str(Stat((0.5,))) == "0.5 +- 0.0"


def test_no_values_is_nan_and_prints_n_a():
    assert Stat(()).n == 0 and math.isnan(Stat(()).mean) and str(Stat((), "%")) == "n/a%"
