"""A virtual clock: the simulated microscope's time, which advances only when someone waits.

Implements the rig's ``Clock`` protocol (``now``, ``sleep_until``) so a dry run can run faster than real time:
waiting returns at once with the clock moved on. Every simulated device reads time from the same clock.
"""
from __future__ import annotations

import threading

from .errors import SimError


class SimClock:
    """Seconds of simulated time since the microscope was built. Thread-safe."""

    def __init__(self, start_s: float = 0.0):
        self._t = float(start_s)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._t

    def sleep_until(self, target_s: float) -> float:
        """Advance to ``target_s`` (never backwards); returns the new time."""
        with self._lock:
            self._t = max(self._t, float(target_s))
            return self._t

    def sleep(self, duration_s: float) -> float:
        if duration_s < 0:
            raise SimError(f"cannot sleep a negative time ({duration_s} s)")
        with self._lock:
            self._t += float(duration_s)
            return self._t

    def __call__(self) -> float:
        return self._t
