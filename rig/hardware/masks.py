"""Checks every mask passes before it reaches an SLM, and the phase → device-level conversion.

A mask that fails a check raises :class:`~rig.hardware.errors.MaskError` and is never written. Levels are the
integers the SLM's driver takes (8-bit: uint8, 16-bit: uint16); phases are float32 radians (DESIGN.md,
"Conventions"), turned into levels by a lookup table (LUT) or, without one, linearly over the full range.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from holography.lut import PhaseLUT
from rig.hardware.errors import MaskError


def level_dtype(bit_depth: int) -> np.dtype:
    """The dtype of device levels for an SLM of ``bit_depth`` bits."""
    if bit_depth == 8:
        return np.dtype(np.uint8)
    if bit_depth == 16:
        return np.dtype(np.uint16)
    raise MaskError(f"SLM bit depth must be 8 or 16, got {bit_depth}")


def check_levels(levels: np.ndarray, shape: tuple[int, int], bit_depth: int) -> np.ndarray:
    """Validate a stack of level masks, shape (n, rows, cols), for an SLM of ``shape`` and ``bit_depth``.

    Returns the stack, C-contiguous (a copy only if it was not). The dtype must match the bit depth exactly: a
    silent cast could wrap levels.
    """
    levels = np.asarray(levels)
    if levels.ndim == 2:
        levels = levels[None]
    if levels.ndim != 3 or levels.shape[0] < 1:
        raise MaskError(f"masks must be a stack (n, rows, cols) with n ≥ 1, got shape {levels.shape}")
    if tuple(levels.shape[1:]) != tuple(shape):
        raise MaskError(f"masks are {levels.shape[1]} × {levels.shape[2]} pixels but the SLM is "
                        f"{shape[0]} × {shape[1]}; compute them for this SLM's shape")
    dtype = level_dtype(bit_depth)
    if levels.dtype != dtype:
        raise MaskError(f"masks for a {bit_depth}-bit SLM must be {dtype.name} levels, got {levels.dtype}; "
                        f"send phases (float32, radians) to have them converted")
    return np.ascontiguousarray(levels)


def check_lut(lut: np.ndarray, bit_depth: int) -> np.ndarray:
    """Validate a phase → level LUT: 1-D, ≥ 2 entries, of the SLM's level dtype."""
    lut = np.asarray(lut)
    dtype = level_dtype(bit_depth)
    if lut.ndim != 1 or lut.size < 2:
        raise MaskError(f"a LUT must be 1-D with at least 2 entries, got shape {lut.shape}")
    if lut.dtype != dtype:
        raise MaskError(f"a LUT for a {bit_depth}-bit SLM must be {dtype.name}, got {lut.dtype}")
    return lut


def linear_lut(bit_depth: int) -> np.ndarray:
    """The LUT that maps phase 2π·k/2^bits to level k (no device calibration)."""
    return PhaseLUT.linear(level_dtype(bit_depth).itemsize * 8).levels


def phase_to_levels(phase_rad: np.ndarray, shape: tuple[int, int], bit_depth: int,
                    lut: Optional[np.ndarray] = None) -> np.ndarray:
    """Phase masks (n, rows, cols) in radians → device levels through ``lut`` (default :func:`linear_lut`).

    Checks first (float32/float64, the SLM's shape, every phase finite), then converts with the holography
    package's :class:`holography.lut.PhaseLUT` (wrapped to [0, 2π), nearest phase step), the one phase → level
    conversion of holostim.
    """
    phase = np.asarray(phase_rad)
    if phase.dtype not in (np.float32, np.float64):
        raise MaskError(f"phase masks must be float32 radians, got {phase.dtype}")
    if phase.ndim == 2:
        phase = phase[None]
    if phase.ndim != 3 or phase.shape[0] < 1 or tuple(phase.shape[1:]) != tuple(shape):
        raise MaskError(f"phase masks must be (n, {shape[0]}, {shape[1]}) for this SLM, got {phase.shape}")
    finite = np.isfinite(phase)
    if not finite.all():
        where = np.argwhere(~finite)[0]
        raise MaskError(f"phase mask {where[0]} has a non-finite value at pixel ({where[1]}, {where[2]})")
    levels = linear_lut(bit_depth) if lut is None else check_lut(lut, bit_depth)
    return PhaseLUT(levels, bit_depth).phase_to_levels(phase)
