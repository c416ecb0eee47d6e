"""Pockels-cell power calibration: command volts ↔ measured power at the sample, mW.

The CSV has a header row naming the columns ``volts`` and ``power_mw`` (other columns are ignored), one
measurement per row, e.g. from a power meter under the objective while stepping the analog output. Power is
interpolated linearly between measurements. A Pockels cell transmits ∝ sin²(πV/2V_π), which rises only up to its
half-wave voltage: the calibration must be strictly increasing in volts and in power, so every power maps to one
voltage; a falling part (beyond V_π) is refused rather than silently inverted.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Union

import numpy as np

from rig.hardware.errors import HardwareError
from rig.safety import PowerLimitError


class PockelsCalibration:
    """Monotone volts → mW table. ``volts[0]`` is the off level (least transmission)."""

    def __init__(self, volts, power_mw, source: str = "calibration"):
        volts = np.asarray(volts, dtype=np.float64)
        power = np.asarray(power_mw, dtype=np.float64)
        if volts.ndim != 1 or volts.shape != power.shape or volts.size < 2:
            raise HardwareError(f"{source}: need at least 2 (volts, power_mw) measurements, got {volts.size}")
        if not (np.isfinite(volts).all() and np.isfinite(power).all()):
            raise HardwareError(f"{source}: every volts and power_mw value must be a finite number")
        if (power < 0).any():
            raise HardwareError(f"{source}: a measured power is negative ({power.min()} mW)")
        order = np.argsort(volts, kind="stable")
        volts, power = volts[order], power[order]
        if (np.diff(volts) <= 0).any():
            raise HardwareError(f"{source}: the same voltage appears twice; keep one measurement per voltage")
        falling = np.flatnonzero(np.diff(power) <= 0)
        if falling.size:
            i = falling[0]
            raise HardwareError(
                f"{source}: power must rise with voltage, but it goes from {power[i]:g} mW at {volts[i]:g} V to "
                f"{power[i + 1]:g} mW at {volts[i + 1]:g} V; keep only the rising part (below the half-wave voltage)")
        self.volts, self.power_mw, self.source = volts, power, source
        self.volts.flags.writeable = False
        self.power_mw.flags.writeable = False

    @classmethod
    def from_csv(cls, path: Union[str, Path]) -> "PockelsCalibration":
        path = Path(path)
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        except OSError as err:
            raise HardwareError(f"cannot read Pockels calibration {path} ({err.strerror}); "
                                f"set laser.power_calibration_file") from None
        if not rows or not {"volts", "power_mw"} <= set(rows[0]):
            raise HardwareError(f"{path}: the header must name the columns 'volts' and 'power_mw'")
        try:
            volts = [float(row["volts"]) for row in rows]
            power = [float(row["power_mw"]) for row in rows]
        except (TypeError, ValueError) as err:
            raise HardwareError(f"{path}: every row needs numeric volts and power_mw ({err})") from None
        return cls(volts, power, source=str(path))

    @property
    def off_volts(self) -> float:
        return float(self.volts[0])

    @property
    def max_power_mw(self) -> float:
        return float(self.power_mw[-1])

    def volts_for(self, power_mw: float) -> float:
        """Command volts that give ``power_mw`` at the sample; powers below the leak give the off level.

        Raises :class:`PowerLimitError` above the largest calibrated power (no extrapolation).
        """
        power = float(power_mw)
        if not np.isfinite(power) or power < 0:
            raise PowerLimitError(f"power {power} mW is not a valid power")
        if power > self.max_power_mw:
            raise PowerLimitError(f"{power:g} mW is above the largest calibrated power ({self.max_power_mw:g} mW in "
                                  f"{self.source}); recalibrate to a higher power or ask for less")
        if power <= self.power_mw[0]:
            return self.off_volts
        return float(np.interp(power, self.power_mw, self.volts))

    def power_for(self, volts: float) -> float:
        """Power at the sample (mW) for command ``volts`` (clamped to the calibrated range)."""
        return float(np.interp(volts, self.volts, self.power_mw))
