"""Stimulation-laser power through a Pockels cell driven by an NI-DAQ analog output (``nidaqmx``, lazily imported).

Power requests become volts through a :class:`~rig.drivers.pockels_calibration.PockelsCalibration`. The driver
enforces the rig's power limits itself, three times over: every :meth:`NidaqLaser.set_power` goes through its own
:class:`~rig.safety.LaserGuard`; every waveform is checked against the voltage ceiling (the volts of the total
power limit) just before it is written; and the AO channel is declared with that ceiling as its maximum, so the
DAQ driver refuses a higher value too. Pulses are written as one hardware-timed finite waveform (seed 002: 5 ms
pulses; 10 at 10 Hz in the stimulation block) that ends at the off level, which the output then holds.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Sequence, Union

import numpy as np

from rig.config import LaserConfig
from rig.drivers.pockels_calibration import PockelsCalibration
from rig.hardware.errors import HardwareError
from rig.safety import LaserGuard, PowerLimitError, PowerLimits

log = logging.getLogger(__name__)


def import_nidaqmx() -> Any:
    try:
        import nidaqmx  # noqa: PLC0415 - hardware SDK, only on rig computers
    except ImportError:
        raise HardwareError("the NI-DAQ laser driver needs the 'nidaqmx' package and NI-DAQmx drivers: "
                            "pip install nidaqmx (or holostim[hardware])") from None
    return nidaqmx


class NidaqLaser:
    """A :class:`rig.hardware.StimulationLaser` on an NI-DAQ AO channel.

    Parameters
    ----------
    channel : physical AO channel, e.g. ``"Dev1/ao0"``.
    calibration : volts ↔ mW at the sample.
    limits : the rig's power limits (enforced here as well as upstream).
    sample_rate_hz : AO update rate of pulse waveforms, Hz (100 kHz: 10 µs edges on 5 ms pulses).
    nidaqmx : the nidaqmx module (tests pass :func:`rig.drivers.fakes.fake_nidaqmx`).
    """

    def __init__(self, channel: str, calibration: PockelsCalibration, limits: PowerLimits,
                 sample_rate_hz: float = 100_000.0, nidaqmx: Any = None,
                 clock: Callable[[], float] = time.monotonic):
        self._daq = nidaqmx if nidaqmx is not None else import_nidaqmx()
        self.channel = channel
        self.calibration = calibration
        self.guard = LaserGuard(limits)
        self.limits = self.guard.limits
        self.sample_rate_hz = float(sample_rate_hz)
        self._clock = clock
        ceiling_mw = min(self.limits.max_total_mw, calibration.max_power_mw)
        self.ceiling_volts = calibration.volts_for(ceiling_mw)
        self.level_volts = calibration.off_volts
        self.total_mw = 0.0
        self.off()

    @classmethod
    def from_config(cls, laser: LaserConfig, **kwargs) -> "NidaqLaser":
        if not laser.daq_channel or laser.power_calibration_file is None:
            raise HardwareError("the 'nidaq' laser driver needs laser.daq_channel and laser.power_calibration_file")
        return cls(laser.daq_channel, PockelsCalibration.from_csv(laser.power_calibration_file),
                   PowerLimits.from_config(laser), **kwargs)

    def set_power(self, powers_mw: Union[Sequence[float], np.ndarray]) -> float:
        """Set the per-target powers of the next pulses (mW); returns the total. No light is emitted."""
        powers = self.guard.check(powers_mw)
        total = float(powers.sum())
        volts = self.calibration.volts_for(total)
        self._check_volts(np.array([volts]))
        self.level_volts, self.total_mw = volts, total
        return total

    def pulse(self, n_pulses: int, pulse_s: float, rate_hz: float) -> float:
        """Emit ``n_pulses`` pulses of ``pulse_s`` at ``rate_hz`` at the set power; returns the start time (s)."""
        waveform = self.pulse_waveform(n_pulses, pulse_s, rate_hz)
        task = self._daq.Task()
        try:
            self._add_channel(task)
            task.timing.cfg_samp_clk_timing(self.sample_rate_hz,
                                            sample_mode=self._daq.constants.AcquisitionType.FINITE,
                                            samps_per_chan=waveform.size)
            self._check_volts(waveform)
            started_s = self._clock()
            task.write(waveform, auto_start=True)
            task.wait_until_done(timeout=waveform.size / self.sample_rate_hz + 2.0)
        finally:
            task.close()
        return started_s

    def pulse_waveform(self, n_pulses: int, pulse_s: float, rate_hz: float) -> np.ndarray:
        """The AO samples (volts) of a pulse train at the set level, ending at the off level."""
        if n_pulses < 1 or not (pulse_s > 0 and rate_hz > 0) or pulse_s >= 1.0 / rate_hz:
            raise HardwareError(f"a train needs n ≥ 1 pulses shorter than the period: got {n_pulses} × "
                                f"{pulse_s * 1e3:g} ms at {rate_hz:g} Hz")
        period = int(round(self.sample_rate_hz / rate_hz))
        width = max(1, int(round(pulse_s * self.sample_rate_hz)))
        waveform = np.full(n_pulses * period + 1, self.calibration.off_volts)
        on = (np.arange(n_pulses)[:, None] * period + np.arange(width)[None, :]).ravel()
        waveform[on] = self.level_volts
        return waveform

    def off(self) -> None:
        """Write the off level now (on-demand write)."""
        task = self._daq.Task()
        try:
            self._add_channel(task)
            task.write(self.calibration.off_volts, auto_start=True)
        finally:
            task.close()

    def close(self) -> None:
        self.off()

    def _add_channel(self, task) -> None:
        low = min(self.calibration.off_volts, self.ceiling_volts)
        task.ao_channels.add_ao_voltage_chan(self.channel, min_val=low, max_val=self.ceiling_volts)

    def _check_volts(self, volts: np.ndarray) -> None:
        """The last gate before the DAQ: no sample above the ceiling (the volts of the total power limit)."""
        peak = float(np.max(volts))
        if not np.isfinite(volts).all() or peak > self.ceiling_volts + 1e-9:
            raise PowerLimitError(f"refusing to write {peak:g} V to {self.channel}: above the {self.ceiling_volts:g} V "
                                  f"that gives the limit of {self.limits.max_total_mw:g} mW")
