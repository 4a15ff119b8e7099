"""The Triton kernels' self-check: a kernel group that fails it or raises leaves the work to
torch, with one warning, and the check runs once per process and device."""

from __future__ import annotations

import uuid
import warnings

import pytest
import torch

from scratchlab.kernels.support import checked, relative_difference

CPU = torch.device("cpu")


def counting(result):
    """A check that returns (or raises) `result` and counts its calls."""
    calls = []

    def check(device: torch.device) -> float:
        calls.append(device)
        if isinstance(result, Exception):
            raise result
        return result
    return check, calls


def test_a_check_within_tolerance_passes_silently_and_runs_once() -> None:
    check, calls = counting(1e-7)
    name = f"kernels-{uuid.uuid4()}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checked(name, CPU, check, 1e-5)
        assert checked(name, CPU, check, 1e-5)
    assert calls == [CPU]


@pytest.mark.parametrize("result", [1e-2, float("nan"), RuntimeError("no compiler")])
def test_a_mismatch_or_failure_warns_once_and_falls_back(result) -> None:
    check, calls = counting(result)
    name = f"kernels-{uuid.uuid4()}"
    with pytest.warns(RuntimeWarning, match=f"{name}.*torch's operations are used"):
        assert not checked(name, CPU, check, 1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not checked(name, CPU, check, 1e-5)
    assert len(calls) == 1


def test_a_check_that_ran_into_a_graph_capture_is_tried_again_without_a_warning() -> None:
    check, calls = counting(RuntimeError("operation not permitted when stream is capturing"))
    name = f"kernels-{uuid.uuid4()}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not checked(name, CPU, check, 1e-5)
        assert not checked(name, CPU, check, 1e-5)
    assert len(calls) == 2


def test_relative_difference_is_the_worst_pair_against_its_own_scale() -> None:
    gen = torch.Generator().manual_seed(0)
    ref = [torch.randn(5, generator=gen), 100 * torch.randn(3, generator=gen)]
    ours = [ref[0] + 1e-3, ref[1].clone()]
    ours[1][0] += 1.0
    expected = max(1e-3 / ref[0].abs().max().item(), 1.0 / ref[1].abs().max().item())
    assert relative_difference(ours, ref) == pytest.approx(expected, rel=1e-4)
    assert relative_difference(ref, ref) == 0.0
