"""Holography engine: 3D multi-target Gerchberg–Saxton phase masks, per-cell power, calibration, LUT.

Pure computation (numpy/scipy; optional cupy or torch backends): no hardware, and no files except explicit
load/save. The physics contract (pixel coordinates, single-target phase, discrete-sum field) is stated in
:mod:`holography.geometry`; see docs/holography.md.
"""
from holography.calibration import Calibration
from holography.engine import METHODS, Hologram, compute_phase, uniformity
from holography.errors import HologramError
from holography.geometry import SLMGeometry
from holography.lut import PhaseLUT, load_lut
from holography.power import (LaserPowerPlan, PowerLimits, diffraction_efficiency, hologram_for_powers,
                              power_weights, required_laser_power)
from holography import preview
from holography.propagation import field_at_points, intensity_at_points, intensity_on_plane
from holography.targets import DEFAULT_MIN_SEPARATION_UM, validate_targets, validate_weights

__all__ = [
    "Calibration", "DEFAULT_MIN_SEPARATION_UM", "Hologram", "HologramError", "LaserPowerPlan", "METHODS",
    "PhaseLUT", "PowerLimits", "SLMGeometry", "compute_phase", "diffraction_efficiency", "field_at_points",
    "hologram_for_powers", "intensity_at_points", "intensity_on_plane", "load_lut", "power_weights",
    "required_laser_power", "uniformity", "validate_targets", "validate_weights",
]
