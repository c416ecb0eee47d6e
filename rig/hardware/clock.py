"""Timing against a monotonic clock: sleep most of the way, then spin (DESIGN.md, "Known traps").

A thread that sleeps wakes up to milliseconds late; trial starts that matter sleep until ``spin_s`` before the
target and busy-wait the rest, and log intended vs actual times. Hardware triggers still beat this.
"""
from __future__ import annotations

import time
from typing import Callable


class MonotonicClock:
    """A :class:`~rig.hardware.protocols.Clock` on ``time.perf_counter`` (monotonic, sub-µs resolution).

    Parameters
    ----------
    spin_s : how long before a target to stop sleeping and spin, seconds (default 2 ms: above typical
        sleep overshoot on a desktop OS, short enough not to burn a core for long).
    now, sleep : injectable for tests.
    """

    def __init__(self, spin_s: float = 0.002, now: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep):
        if spin_s < 0:
            raise ValueError(f"spin_s must be ≥ 0, got {spin_s}")
        self.spin_s = float(spin_s)
        self._now = now
        self._sleep = sleep

    def now(self) -> float:
        """Seconds on the monotonic clock."""
        return self._now()

    def sleep_until(self, target_s: float) -> float:
        """Return at ``target_s`` or just after (never before); returns the actual time, seconds."""
        remaining = target_s - self._now()
        if remaining > self.spin_s:
            self._sleep(remaining - self.spin_s)
        now = self._now()
        while now < target_s:
            now = self._now()
        return now

    def sleep(self, duration_s: float) -> float:
        """Wait ``duration_s`` from now; returns the actual end time."""
        return self.sleep_until(self._now() + duration_s)
