"""From light to spikes: the physiological point-spread function and the opsin's response to a pulse.

Excitation profile of one holographic spot (3D-SHOT, temporally focused): a 3D Gaussian whose half-widths at half
maximum are the physiological PSF of seed 002 (radial 7.73 ± 0.37 µm, axial 18.51 ± 1.69 µm, Fig. 1d)::

    PPSF(Δr, Δz) = exp(−ln 2 · ((Δr/HWHM_r)² + (Δz/HWHM_z)²))

The light a cell receives (mW-equivalent at its soma) is the sum over spots of spot power × PPSF(cell − spot).

Spikes per 5 ms pulse: ChroME-family opsins rarely fire more than one spike per pulse (seed 002, "Holographic
stimulation"), so the expected spike count is a probability, a Hill function of the light relative to the cell's
stimmable power, ``p = P^n / (P^n + P50^n)`` with P50 set so that ``p(stimmable) = spike_probability_at_stimmable``.
Opsin-negative cells are not driven by light.
"""
from __future__ import annotations

import numpy as np

from .errors import SimError

LN2 = float(np.log(2.0))


def ppsf(dxy_um, dz_um, radial_hwhm_um: float, axial_hwhm_um: float) -> np.ndarray:
    """Relative excitation at lateral offset ``dxy_um`` and axial offset ``dz_um`` from a spot (1 at 0)."""
    if radial_hwhm_um <= 0 or axial_hwhm_um <= 0:
        raise SimError(f"PPSF half-widths must be positive, got {radial_hwhm_um}, {axial_hwhm_um} µm")
    return np.exp(-LN2 * ((np.asarray(dxy_um) / radial_hwhm_um) ** 2 + (np.asarray(dz_um) / axial_hwhm_um) ** 2))


def light_at_cells(spots_xyz_um, spot_power_mw, cells_xyz_um, radial_hwhm_um: float, axial_hwhm_um: float,
                   cutoff_um: float = 80.0) -> np.ndarray:
    """Light (mW-equivalent) each cell receives from all spots: Σ_spots P_s · PPSF(cell − spot).

    Spots farther than ``cutoff_um`` from a cell contribute nothing (PPSF there is < 1e-40).
    """
    spots = np.atleast_2d(np.asarray(spots_xyz_um, dtype=np.float64))
    power = np.broadcast_to(np.asarray(spot_power_mw, dtype=np.float64), (len(spots),))
    if np.any(power < 0):
        raise SimError("spot powers must be non-negative")
    cells = np.asarray(cells_xyz_um, dtype=np.float64)
    out = np.zeros(len(cells))
    for s, p in zip(spots, power):
        d = cells - s
        near = (np.abs(d[:, 0]) < cutoff_um) & (np.abs(d[:, 1]) < cutoff_um) & (np.abs(d[:, 2]) < cutoff_um)
        idx = np.flatnonzero(near)
        out[idx] += p * ppsf(np.hypot(d[idx, 0], d[idx, 1]), d[idx, 2], radial_hwhm_um, axial_hwhm_um)
    return out


def spike_probability(light_mw, stimmable_mw, opsin, hill: float, p_at_stimmable: float) -> np.ndarray:
    """Expected spikes per pulse (≤ 1) for the light each cell receives."""
    if not 0 < p_at_stimmable < 1:
        raise SimError(f"spike probability at the stimmable power must be in (0, 1), got {p_at_stimmable}")
    light = np.maximum(np.asarray(light_mw, dtype=np.float64), 0.0)
    p50 = np.asarray(stimmable_mw, dtype=np.float64) * ((1.0 - p_at_stimmable) / p_at_stimmable) ** (1.0 / hill)
    x = (light / p50) ** hill
    return np.where(np.asarray(opsin, dtype=bool), x / (1.0 + x), 0.0)
