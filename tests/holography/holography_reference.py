"""Reference helpers for the holography tests: an independent discrete-sum field, written from the contract's
formula with full-frame complex128 exponentials and no code from the package under test."""
from __future__ import annotations

import numpy as np


def independent_intensities(phase, targets_um, shape, pitch_um, wavelength_um, focal_length_um):
    """|Σ_pixels exp(i(φ − θ))|² / (rows·cols)² for each (x, y, z) target, θ from the issue's formula."""
    rows, cols = shape
    xx = (np.arange(cols)[None, :] - (cols - 1) / 2.0) * pitch_um
    yy = (np.arange(rows)[:, None] - (rows - 1) / 2.0) * pitch_um
    lf = wavelength_um * focal_length_um
    phi = np.asarray(phase, dtype=np.float64)
    out = []
    for x, y, z in np.asarray(targets_um, dtype=np.float64).reshape(-1, 3):
        theta = 2 * np.pi / lf * (x * xx + y * yy) + np.pi * z / (lf * focal_length_um) * (xx ** 2 + yy ** 2)
        out.append(abs(np.exp(1j * (phi - theta)).sum()) ** 2 / float(rows * cols) ** 2)
    return np.array(out)


def small_geometry():
    """A 256 × 384 SLM with the seed-002 pitch and wavelength: fast, same physics."""
    from holography import SLMGeometry

    return SLMGeometry((256, 384), pitch_um=9.2, wavelength_um=1.04, focal_length_um=10000.0)


def seed002_geometry():
    """The seed-002 SLM: Meadowlark HSP1920, 1152 × 1920 pixels."""
    from holography import SLMGeometry

    return SLMGeometry((1152, 1920), pitch_um=9.2, wavelength_um=1.04, focal_length_um=10000.0)


def check_intensities(phase, targets_um, geometry):
    return independent_intensities(phase, targets_um, geometry.shape, geometry.pitch_um, geometry.wavelength_um,
                                   geometry.focal_length_um)
