"""Sleep-then-spin clock: never early, sleeps only until the spin margin."""
from __future__ import annotations

import time

from rig.hardware import Clock, MonotonicClock


class FakeTime:
    """A clock that advances 10 µs per reading and jumps on sleep (oversleeping by ``late_s``)."""

    def __init__(self, late_s=0.0):
        self.t, self.late_s, self.sleeps = 0.0, late_s, []

    def now(self):
        self.t += 1e-5
        return self.t

    def sleep(self, duration):
        self.sleeps.append(duration)
        self.t += duration + self.late_s


def test_sleeps_until_the_spin_margin_then_spins_to_the_target():
    fake = FakeTime()
    clock = MonotonicClock(spin_s=0.002, now=fake.now, sleep=fake.sleep)
    actual = clock.sleep_until(1.0)
    assert len(fake.sleeps) == 1 and abs(fake.sleeps[0] - (1.0 - 0.002)) < 1e-4
    assert 1.0 <= actual < 1.0 + 2e-5


def test_short_waits_only_spin():
    fake = FakeTime()
    clock = MonotonicClock(spin_s=0.002, now=fake.now, sleep=fake.sleep)
    clock.sleep(0.001)
    assert fake.sleeps == []


def test_never_returns_before_the_target_on_the_real_clock():
    clock = MonotonicClock()
    assert isinstance(clock, Clock)
    for delay in (0.0, 0.0005, 0.003):
        target = clock.now() + delay
        assert clock.sleep_until(target) >= target
    assert clock.sleep_until(time.perf_counter() - 1) > 0  # a past target returns at once
