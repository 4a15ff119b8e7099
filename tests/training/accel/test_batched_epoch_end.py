"""The end of a batched epoch as one Triton kernel: the torch version's numbers, state by state."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from scratchlab.training.accel import batched_epoch_end as epoch_end
from scratchlab.training.accel.batched_epoch_end_example import compare, example, largest_difference
from scratchlab.training.accel.batched_program import EpochProgram

INTERPRETED = """
    from scratchlab.training.accel.batched_epoch_end_example import compare
    from scratchlab.training.accel.batched_epoch_end import end_epoch
    from scratchlab.training.accel.batched_program import EpochProgram
    print(max(compare("cpu", keep, seed, end_epoch, EpochProgram._end_epoch_torch)
              for keep in (False, True) for seed in range(3)))
"""

BEYOND_THE_HISTORY = """
    from scratchlab.training.accel.batched_epoch_end_example import example
    from scratchlab.training.accel.batched_epoch_end import end_epoch
    state, results = example("cpu", keep_best=False)
    state.epoch.fill_(state.history.shape[0])  # one epoch past the rows
    end_epoch(state, *results)
    print(int(state.guarded.isnan().all()))
"""


def test_the_example_exercises_every_outcome() -> None:
    """The example's epoch end stops, improves, diverges and keeps weights for some models and not
    for others (else a kernel that skips a part could pass), and meets the rules' edges."""
    before, results = example("cpu", keep_best=True)
    after, _ = example("cpu", keep_best=True)
    EpochProgram._end_epoch_torch(after, *results)
    for name in ("stopped", "diverged", "es_best", "es_best_epoch", "best_acc", "epochs_done"):
        changed = getattr(after, name) != getattr(before, name)
        assert changed.any() and not changed.all(), name
    rows_kept = (after.best != before.best).any(dim=1)
    assert rows_kept.any() and not rows_kept.all()
    assert (after.es_bad == 0).any() and (after.es_bad > before.es_bad).any()
    assert not after.history[2].isnan().all() and after.history[3].isnan().all()
    edges = [i for i in range(24) if i % 8 in (0, 1, 2, 3, 5)]  # no gain beyond min_delta
    assert all(after.es_bad[i] == before.es_bad[i] + 1 for i in edges)
    assert all(after.best_acc[i] == before.best_acc[i] for i in range(0, 24, 5))


def test_a_rule_off_by_its_edge_is_seen() -> None:
    """Ignoring min_delta, or improving on a tie, changes the example's outcome."""
    def loose(state, active, train_losses, train_correct, test_losses, test_correct):
        state.es_delta.zero_()
        state.best_acc.sub_(1e-9)
        EpochProgram._end_epoch_torch(state, active, train_losses, train_correct, test_losses,
                                      test_correct)

    assert compare("cpu", True, 0, loose, EpochProgram._end_epoch_torch) > 0


def test_largest_difference_sees_a_changed_number_and_a_nan() -> None:
    a = [torch.tensor([1.0, float("nan"), float("inf")])]
    assert largest_difference(a, [a[0].clone()]) == 0.0
    assert largest_difference(a, [torch.tensor([1.5, float("nan"), float("inf")])]) == 0.5
    assert largest_difference(a, [torch.tensor([1.0, 2.0, float("inf")])]) == float("inf")


def test_on_a_cpu_the_epoch_ends_in_torchs_operations() -> None:
    state, results = example("cpu", keep_best=False)
    assert not epoch_end.applies(state, results[1], results[3])


def test_the_kernel_matches_torch_in_tritons_interpreter(triton_interpreter) -> None:
    assert float(triton_interpreter(INTERPRETED)) <= epoch_end.TOLERANCE


def test_the_kernel_writes_no_row_beyond_the_history(triton_interpreter) -> None:
    assert triton_interpreter(BEYOND_THE_HISTORY) == "1"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("triton") is None,
                    reason="the Triton epoch-end kernel needs a CUDA GPU and Triton")
@pytest.mark.parametrize("keep_best", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_a_gpu_the_kernel_gives_the_torch_versions_state(keep_best, seed) -> None:
    state, results = example("cuda", keep_best, seed)
    assert epoch_end.applies(state, results[1], results[3])
    assert compare("cuda", keep_best, seed, epoch_end.end_epoch,
                   EpochProgram._end_epoch_torch) <= epoch_end.TOLERANCE
