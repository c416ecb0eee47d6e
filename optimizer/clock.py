"""The optimizer's clock: every deadline check reads :func:`now` (seconds, monotonic).

One function, looked up at call time, so that a test can replace it with a fake clock that advances with the
work done and check the time budget without timing anything."""
from __future__ import annotations

import time


def now() -> float:
    """Seconds on a monotonic clock (``time.perf_counter``)."""
    return time.perf_counter()
