"""Laser-power safety: the one place where a power request is checked against the rig's limits.

Every request for stimulation power goes through :meth:`LaserGuard.check` before anything reaches a laser
driver, and every laser driver checks again with its own guard just before it writes to the hardware (a second
line of defence). The limits come from the rig profile (:class:`rig.config.LaserConfig`):
``max_power_per_target_mw`` (no single target above it) and ``max_total_power_mw`` (the sum at the sample).
A target's power here is its share of the hologram's laser power, before the hologram's diffraction losses, so it
bounds what the target receives from above. Seed 002 ("Holographic stimulation") tests 12.5–100 mW per cell and
stimulates at 1.1–1.2 × the stimmable power; at a diffraction efficiency of 0.6 or more that needs at most 200 mW
of share, the default per-target limit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from rig.config import LaserConfig


class PowerLimitError(ValueError):
    """A power request exceeds the rig's limits or is not a valid power. The message gives the numbers."""

    exit_code = 2


@dataclass(frozen=True)
class PowerLimits:
    """Most power one target may receive and most total power at the sample, mW."""

    max_per_target_mw: float
    max_total_mw: float

    def __post_init__(self):
        for name in ("max_per_target_mw", "max_total_mw"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise PowerLimitError(f"{name} must be a positive number of mW, got {value}")
        if self.max_per_target_mw > self.max_total_mw:
            raise PowerLimitError(f"max_per_target_mw ({self.max_per_target_mw}) exceeds max_total_mw "
                                  f"({self.max_total_mw})")

    @classmethod
    def from_config(cls, laser: LaserConfig) -> "PowerLimits":
        return cls(float(laser.max_power_per_target_mw), float(laser.max_total_power_mw))


class LaserGuard:
    """Validates power requests against :class:`PowerLimits`; raises :class:`PowerLimitError` otherwise."""

    def __init__(self, limits: Union[PowerLimits, LaserConfig]):
        self.limits = limits if isinstance(limits, PowerLimits) else PowerLimits.from_config(limits)

    def check(self, powers_mw: Union[Sequence[float], np.ndarray]) -> np.ndarray:
        """Validate per-target powers (mW at the sample, one per target of the hologram).

        Returns a read-only float64 copy. An empty request (no targets) means no light. Raises
        :class:`PowerLimitError` for a non-numeric, non-finite or negative power, any target above
        ``max_per_target_mw``, or a total above ``max_total_mw``.
        """
        try:
            powers = np.array(powers_mw, dtype=np.float64, copy=True)
        except (TypeError, ValueError):
            raise PowerLimitError(f"powers must be numbers in mW, got {powers_mw!r}") from None
        if powers.ndim == 0:
            powers = powers.reshape(1)
        if powers.ndim != 1:
            raise PowerLimitError(f"powers must be one number per target (1-D), got shape {powers.shape}")
        bad = np.flatnonzero(~np.isfinite(powers) | (powers < 0))
        if bad.size:
            raise PowerLimitError(f"target {bad[0]}: power {powers[bad[0]]} mW is not a valid power "
                                  f"(must be finite and ≥ 0)")
        over = np.flatnonzero(powers > self.limits.max_per_target_mw)
        if over.size:
            raise PowerLimitError(
                f"{over.size} target(s) above the per-target limit of {self.limits.max_per_target_mw:g} mW "
                f"(target {over[0]}: {powers[over[0]]:g} mW); lower the power or raise laser.max_power_per_target_mw")
        total = float(powers.sum())
        if total > self.limits.max_total_mw:
            raise PowerLimitError(
                f"total power {total:g} mW over {powers.size} targets exceeds the limit of "
                f"{self.limits.max_total_mw:g} mW; use fewer targets or less power, or raise laser.max_total_power_mw")
        powers.flags.writeable = False
        return powers

    def check_total(self, total_mw: float) -> float:
        """Validate a total power at the sample, mW (no per-target breakdown known)."""
        try:
            total = float(total_mw)
        except (TypeError, ValueError):
            raise PowerLimitError(f"power must be a number in mW, got {total_mw!r}") from None
        if not np.isfinite(total) or total < 0:
            raise PowerLimitError(f"power {total} mW is not a valid power (must be finite and ≥ 0)")
        if total > self.limits.max_total_mw:
            raise PowerLimitError(f"total power {total:g} mW exceeds the limit of {self.limits.max_total_mw:g} mW")
        return total
