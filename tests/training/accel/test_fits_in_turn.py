"""fits_in_turn: the order in which fits are built, stepped, read and isolated (stand-ins)."""

from __future__ import annotations

import pytest

from scratchlab.training.accel import batched


class ScriptedFit:
    """A stand-in for `BatchedFit`: `epochs` epochs, busy (queue full) on the calls listed."""

    def __init__(self, epochs: int, busy_calls: set[int]) -> None:
        self.epochs, self.busy_calls = epochs, busy_calls
        self.done = self.calls = 0

    def ready(self) -> bool:
        self.calls += 1
        return self.calls not in self.busy_calls

    def step(self) -> bool:
        if self.done >= self.epochs:
            return False
        self.done += 1
        return True

    def idle(self) -> bool:
        return True

    def results(self) -> list[int]:
        return [self.done]


def test_fit_many_waits_for_a_full_queue_and_runs_every_epoch_once(monkeypatch):
    slept = []
    monkeypatch.setattr(batched.time, "sleep", slept.append)
    fits = [ScriptedFit(3, {1, 2}), ScriptedFit(5, {1, 3, 4}), ScriptedFit(1, set())]
    assert batched.fit_many(fits) == [[3], [5], [1]]
    assert len(slept) == 0  # a group was always ready: no pause
    lone = [ScriptedFit(2, {2, 3})]
    assert batched.fit_many(lone) == [[2]] and slept == [batched.POLL_SECONDS] * 2


def test_fits_in_turn_takes_the_next_fit_only_when_every_running_one_is_busy():
    taken = []

    def lazily():
        for name, fit in (("a", ScriptedFit(3, {2, 3})), ("b", ScriptedFit(2, set()))):
            taken.append((name, fit.done))
            yield fit

    order = [(fit.epochs, results) for fit, results in batched.fits_in_turn(lazily())]
    # b was built when a's queue was first full (after its first epoch); b finished first
    assert taken == [("a", 0), ("b", 0)] and order == [(2, [2]), (3, [3])]


class FailingFit(ScriptedFit):
    def step(self) -> bool:
        if self.done == 1:
            raise RuntimeError("out of memory")
        return super().step()


def test_fits_in_turn_isolates_a_failing_fit_or_raises():
    done = list(batched.fits_in_turn([FailingFit(4, set()), ScriptedFit(2, set())], isolate=True))
    failed, ok = done
    assert isinstance(failed[1], RuntimeError) and ok[1] == [2]
    with pytest.raises(RuntimeError, match="out of memory"):
        list(batched.fits_in_turn([FailingFit(4, set())]))
