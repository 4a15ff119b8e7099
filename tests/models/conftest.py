"""Shape and parameter arithmetic, as fixtures: independent references for the model tests."""

from __future__ import annotations

import pytest


def _conv_out(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output side of a convolution or pool (floor mode)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _conv_params(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    """Parameters of a square-kernel Conv2d."""
    return c_out * c_in * k * k + (c_out if bias else 0)


def _linear_params(n_in: int, n_out: int) -> int:
    """Parameters of a Linear layer with bias."""
    return n_in * n_out + n_out


@pytest.fixture
def conv_out():
    return _conv_out


@pytest.fixture
def conv_params():
    return _conv_params


@pytest.fixture
def linear_params():
    return _linear_params
