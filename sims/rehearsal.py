"""Rehearse an ensemble experiment on the simulator: one row per non-targeted cell per ensemble.

Each ensemble of ten cells is driven like a seed-002 trial (10 pulses at 10 Hz, every target at 1.15 × its
stimmable power, an ideal hologram: each spot lands on its target with the power asked for); the light of all
spots reaches neighbours through the physiological PSF, so off-target activation happens as on a rig. The output
columns are those of ``holostim sim ensembles``.
"""
from __future__ import annotations

import numpy as np

from .config import SimConfig
from .ensembles import EnsembleDrawer, ensemble_orientation_deg, ensemble_osi, spread_um
from .kernels import orientation_difference_deg
from .photostim import StimTiming, direct_spikes_per_pulse, expected_dff, simulate_trials
from .population import Population
from .responder import Responder

COLUMNS = ("ensemble", "cell", "min_distance_um", "plane", "po_deg", "osi", "delta_ori_deg",
           "ensemble_spread_um", "ensemble_osi", "excluded", "response")


def offtarget_zone(pop: Population, targets: np.ndarray, radial_um: float = 15.0,
                   adjacent_plane_um: float = 30.0) -> np.ndarray:
    """Cells in seed 002's off-target zone: within ``radial_um`` laterally of a target on its plane, or within
    ``adjacent_plane_um`` laterally of a target one plane away."""
    xy = pop.xyz_um[:, :2]
    lateral = np.linalg.norm(xy[:, None, :] - xy[targets][None, :, :], axis=2)
    dplane = np.abs(pop.plane[:, None] - pop.plane[targets][None, :])
    return np.any(((dplane == 0) & (lateral < radial_um)) | ((dplane == 1) & (lateral < adjacent_plane_um)), axis=1)


def simulate_ensembles(pop: Population, config: SimConfig, responder: Responder, kind: str, n_ensembles: int,
                       seed: int, spatial: str = "any", trials: int = 15, noise: bool = True,
                       frame_rate_hz: float = 6.0, power_margin: float = 1.15, timing: StimTiming = StimTiming()):
    """Stimulate ``n_ensembles`` ensembles of ``kind``; a pandas DataFrame with :data:`COLUMNS`.

    ``noise=False`` gives the expected (noise-free) responses; otherwise each response is the mean of ``trials``
    simulated trials with spiking and imaging noise.
    """
    import pandas as pd

    drawer = EnsembleDrawer(pop, seed)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 6]))
    curves, osi, po = drawer.curves, pop.osi, pop.po_deg
    frames = []
    for e in range(n_ensembles):
        targets = drawer.draw(kind, spatial)
        power = pop.stimmable_power_mw[targets] * power_margin
        p_spike = direct_spikes_per_pulse(pop, config, pop.xyz_um[targets], power)
        if noise:
            dff = simulate_trials(pop, config, responder, p_spike, trials, frame_rate_hz, rng, timing)
        else:
            dff = expected_dff(pop, config, responder, p_spike, timing)
        others = np.setdiff1d(np.arange(pop.n), targets)
        dist = np.linalg.norm(pop.xyz_um[others][:, None, :] - pop.xyz_um[targets][None, :, :], axis=2).min(axis=1)
        ens_ori = ensemble_orientation_deg(curves[targets])
        frames.append(pd.DataFrame({
            "ensemble": e, "cell": others, "min_distance_um": dist, "plane": pop.plane[others],
            "po_deg": po[others], "osi": osi[others], "delta_ori_deg": orientation_difference_deg(po[others], ens_ori),
            "ensemble_spread_um": spread_um(pop.xyz_um[targets]), "ensemble_osi": ensemble_osi(curves[targets]),
            "excluded": offtarget_zone(pop, targets)[others], "response": dff[others]}))
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]
