"""Running speed from a rotary encoder on the wheel, counted by an NI-DAQ counter input (``nidaqmx``, lazily imported).

Seed 002 ("Calcium imaging"): the mice are on a running wheel and their speed is recorded; trials while running
(> 6 cm/s) are excluded later. The counter counts encoder edges in hardware (quadrature x1/x2/x4 decoding, or
rising edges of a single-channel encoder); each :meth:`NidaqTreadmill.speed_cm_s` reads the count on demand and
returns the distance run over the last ``window_s`` divided by the time it took:
speed = Δcounts / counts_per_revolution × π × wheel_diameter_cm / Δt. The 32-bit hardware counter wraps; the
driver unwraps the differences.
"""
from __future__ import annotations

import collections
import math
import time
from typing import Any, Callable, Optional

from rig.hardware.errors import HardwareError

_COUNTER_RANGE = 2 ** 32
_DECODING = {"x1": "X_1", "x2": "X_2", "x4": "X_4"}
_EDGES_PER_LINE = {"x1": 1, "x2": 2, "x4": 4}


def import_nidaqmx() -> Any:
    try:
        import nidaqmx  # noqa: PLC0415 - hardware SDK, only on rig computers
    except ImportError:
        raise HardwareError("the NI-DAQ treadmill needs the 'nidaqmx' package and NI-DAQmx drivers: "
                            "pip install nidaqmx (or holostim[hardware])") from None
    return nidaqmx


class NidaqTreadmill:
    """A :class:`rig.hardware.Treadmill` on an NI-DAQ counter.

    Parameters
    ----------
    counter_channel : physical counter, e.g. ``"Dev1/ctr0"`` (encoder A/B on its default PFI lines).
    wheel_diameter_cm : diameter of the running surface, cm.
    counts_per_revolution : counter counts per wheel turn after decoding.
    window_s : the sliding window speeds are averaged over, s.
    decoding : ``"x1"``, ``"x2"``, ``"x4"`` (quadrature) or ``"edges"`` (count rising edges).
    invert : negate, so that forward running reads positive.
    nidaqmx : the nidaqmx module (tests pass :func:`rig.drivers.fakes.fake_nidaqmx`).
    """

    def __init__(self, counter_channel: str, wheel_diameter_cm: float, counts_per_revolution: float,
                 window_s: float = 0.25, decoding: str = "x4", invert: bool = False, nidaqmx: Any = None,
                 clock: Callable[[], float] = time.monotonic):
        if not (wheel_diameter_cm > 0 and counts_per_revolution > 0 and window_s > 0):
            raise HardwareError(f"the wheel needs a positive diameter, counts per revolution and window, got "
                                f"{wheel_diameter_cm} cm, {counts_per_revolution}, {window_s} s")
        if decoding not in (*_DECODING, "edges"):
            raise HardwareError(f"decoding must be one of x1, x2, x4, edges; got {decoding!r}")
        self._daq = nidaqmx if nidaqmx is not None else import_nidaqmx()
        self.counter_channel = counter_channel
        self.cm_per_count = math.pi * wheel_diameter_cm / counts_per_revolution * (-1.0 if invert else 1.0)
        self.window_s = float(window_s)
        self._clock = clock
        self._samples: collections.deque = collections.deque()
        self._last_raw: Optional[float] = None
        self._total = 0.0
        self._task = self._daq.Task()
        try:
            self._add_channel(decoding, counts_per_revolution)
            self._task.start()
        except Exception as err:
            self._task.close()
            raise HardwareError(f"cannot start the wheel counter {counter_channel}: {err}") from err
        self._sample()

    @classmethod
    def from_config(cls, wheel, **kwargs) -> "NidaqTreadmill":
        """The treadmill of ``wheel`` (a :class:`rig.config.WheelConfig`)."""
        if not wheel.counter_channel:
            raise HardwareError("the 'nidaq' treadmill needs running_wheel.counter_channel, e.g. 'Dev1/ctr0'")
        return cls(wheel.counter_channel, wheel.wheel_diameter_cm, wheel.counts_per_revolution, wheel.window_s,
                   wheel.decoding, wheel.invert, **kwargs)

    def speed_cm_s(self) -> tuple[float, float]:
        """(monotonic time s, speed cm/s over the last ``window_s``); 0 cm/s until a second reading."""
        t_s = self._sample()
        samples = self._samples
        # keep the newest reading at or before the window's start, so the span covers the whole window
        while len(samples) > 2 and samples[1][0] <= t_s - self.window_s:
            samples.popleft()
        t0, c0 = samples[0]
        if t_s <= t0:
            return t_s, 0.0
        return t_s, (self._total - c0) * self.cm_per_count / (t_s - t0)

    def close(self) -> None:
        if self._task is not None:
            try:
                self._task.stop()
            finally:
                self._task.close()
                self._task = None

    # ------------------------------------------------------------------------------------------ internals
    def _add_channel(self, decoding: str, counts_per_revolution: float) -> None:
        constants = self._daq.constants
        if decoding == "edges":
            self._task.ci_channels.add_ci_count_edges_chan(self.counter_channel, edge=constants.Edge.RISING)
            return
        lines = max(1, int(round(counts_per_revolution / _EDGES_PER_LINE[decoding])))
        self._task.ci_channels.add_ci_ang_encoder_chan(
            self.counter_channel, decoding_type=getattr(constants.EncoderType, _DECODING[decoding]),
            units=constants.AngleUnits.TICKS, pulses_per_rev=lines)

    def _sample(self) -> float:
        if self._task is None:
            raise HardwareError("the treadmill is closed")
        raw = float(self._task.read())
        t_s = self._clock()
        if self._last_raw is not None:
            step = (raw - self._last_raw) % _COUNTER_RANGE  # the hardware counter wraps at 32 bits
            self._total += step - _COUNTER_RANGE if step >= _COUNTER_RANGE / 2 else step
        self._last_raw = raw
        self._samples.append((t_s, self._total))
        return t_s
