"""SharedClock splits each interval among the runs at work in it."""

from __future__ import annotations

import pytest

from scratchlab.util import SharedClock


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_interval_is_split_among_the_units_at_work_and_the_shares_add_up():
    t = FakeTime()
    clock = SharedClock(t)
    clock.start("a", 2)  # 0-4 s: a alone (2 units): 2 s each
    t.now = 4.0
    clock.start("b", 1)  # 4-7 s: 3 units: 1 s each
    t.now = 7.0
    a = clock.stop("a")
    t.now = 9.0  # 7-9 s: b alone
    b = clock.stop("b")
    assert a == pytest.approx(3.0) and b == pytest.approx(3.0)
    assert 2 * a + b == pytest.approx(t.now)


def test_idle_time_and_empty_jobs_are_given_to_no_one():
    t = FakeTime()
    clock = SharedClock(t)
    t.now = 5.0  # nothing at work
    clock.start("empty", 0)
    clock.start("one", 1)
    t.now = 6.0
    assert clock.stop("one") == pytest.approx(1.0) and clock.stop("empty") == 0.0
    with pytest.raises(KeyError):
        clock.stop("one")
