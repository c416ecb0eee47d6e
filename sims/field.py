"""The seed-002 neural field on a periodic grid, solved with FFT convolutions.

Seed 002 (Methods, "Mathematical model") linearises a two-population (E, I) neural field around the grey-screen
steady state and keeps the first terms of the pathway expansion::

    Δr_e ≈ (W_ee + W_ee∗W_ee) ∗ r_stim + W_ei∗W_ie ∗ r_stim

with ∗ a convolution over space (and, with the feature rule, over preferred orientation). Here the field lives
on an ``n × n`` grid covering a periodic box (default 1400 µm, as in the paper) and optionally ``n_theta``
orientation bins; the convolutions are products of real FFTs (``rfftn``).

Units: the input is spikes per grid bin (e.g. 10 spikes per targeted cell, the paper's r_stim = 10·δ); the output
is extra spikes per excitatory cell at each bin, the same normalisation as :mod:`sims.network` (a connection of
the discrete network has expected weight ``w·g(d)·h(Δθ)/ρ_E``), multiplied by ``response_gain``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SimConfig
from .errors import SimError
from .kernels import feature_kernel, spatial_kernel


@dataclass(frozen=True)
class PathwayMaps:
    """Δr split by pathway, each ``(n_theta, n, n)`` extra spikes per E cell."""

    ee: np.ndarray      #: E→E, monosynaptic
    eee: np.ndarray     #: E→E→E, disynaptic excitatory
    eie: np.ndarray     #: E→I→E, disynaptic inhibitory

    @property
    def total(self) -> np.ndarray:
        return self.ee + self.eee + self.eie


class NeuralField:
    """Linearised E/I neural field on a periodic ``box_um`` square, ``n_grid`` bins a side.

    Parameters
    ----------
    config : SimConfig
        Kernel widths, κ, pathway strengths, feature rules, gain.
    e_density_per_um2 : float
        Excitatory cells per µm² of cortical sheet (ρ_E), which turns summed input into input per cell.
    n_grid : int
        Spatial bins per side (box / n_grid = bin size; ≤ σ_narrow/3 keeps the narrow kernel resolved).
    n_theta : int
        Orientation bins over [0°, 180°); 1 averages the feature rule away (spatial-only model).
    """

    def __init__(self, config: SimConfig, e_density_per_um2: float, n_grid: int = 280, n_theta: int = 1):
        if n_grid < 8 or n_theta < 1:
            raise SimError(f"the field needs n_grid ≥ 8 and n_theta ≥ 1, got {n_grid} and {n_theta}")
        if e_density_per_um2 <= 0:
            raise SimError(f"excitatory density must be positive, got {e_density_per_um2}")
        self.config = config
        self.box_um = float(config.network_box_um)
        self.n_grid = int(n_grid)
        self.n_theta = int(n_theta)
        self.bin_um = self.box_um / self.n_grid
        self.e_density_per_um2 = float(e_density_per_um2)
        self._spectra = self._kernel_spectra()

    # ------------------------------------------------------------------------------------------------ kernels
    def _periodic_distance_grid(self) -> np.ndarray:
        idx = np.arange(self.n_grid)
        d = np.minimum(idx, self.n_grid - idx) * self.bin_um
        return np.hypot(d[:, None], d[None, :])

    def _spatial(self, sigma_b: float, sigma_n: float, kappa: float) -> np.ndarray:
        """Kernel on the grid with each Gaussian component summing to exactly its weight."""
        r = self._periodic_distance_grid()
        broad = spatial_kernel(r, sigma_b, sigma_n, 0.0)
        out = (1.0 - kappa) * broad / broad.sum()
        if kappa > 0:
            narrow = np.exp(-0.5 * (r / sigma_n) ** 2)
            out = out + kappa * narrow / narrow.sum()
        return out

    def _feature(self, r0: float, rp: float, sigma: float) -> np.ndarray:
        if self.n_theta == 1:
            return np.ones(1)
        dtheta = np.arange(self.n_theta) * 180.0 / self.n_theta
        h = feature_kernel(dtheta, r0, rp, sigma)
        return h / h.sum()

    def _kernel_spectra(self) -> dict[str, np.ndarray]:
        c = self.config
        g_e = self._spatial(c.sigma_e_broad_um, c.sigma_e_narrow_um, c.kappa_e)
        g_i = self._spatial(c.sigma_i_broad_um, c.sigma_i_narrow_um, c.kappa_i)
        h_e = self._feature(c.feature_r0, c.feature_rp, c.feature_sigma_deg)
        h_i = self._feature(c.feature_i_r0, c.feature_i_rp, c.feature_i_sigma_deg)
        spec = {}
        for name, w, g, h in (("ee", c.w_ee, g_e, h_e), ("ie", c.w_ie, g_e, h_i), ("ei", c.w_ei, g_i, h_i)):
            kernel = w * h[:, None, None] * g[None, :, :]
            spec[name] = np.fft.rfftn(kernel)
        return spec

    # ----------------------------------------------------------------------------------------------- response
    def bin_points(self, xy_um: np.ndarray, po_deg: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """Grid indices ``(theta_bin, row, col)`` of points (x, y µm, wrapped into the box) and orientations."""
        xy = np.mod(np.asarray(xy_um, dtype=np.float64)[:, :2], self.box_um)
        col = np.floor(xy[:, 0] / self.bin_um).astype(int) % self.n_grid
        row = np.floor(xy[:, 1] / self.bin_um).astype(int) % self.n_grid
        if po_deg is None or self.n_theta == 1:
            tbin = np.zeros(len(xy), dtype=int)
        else:
            tbin = np.floor(np.mod(po_deg, 180.0) / (180.0 / self.n_theta) + 0.5).astype(int) % self.n_theta
        return tbin, row, col

    def stim_map(self, xy_um, spikes, po_deg=None) -> np.ndarray:
        """Spikes per bin, ``(n_theta, n, n)``, from stimulated points and their spike counts."""
        spikes = np.broadcast_to(np.asarray(spikes, dtype=np.float64), (len(xy_um),))
        out = np.zeros((self.n_theta, self.n_grid, self.n_grid))
        np.add.at(out, self.bin_points(np.asarray(xy_um), po_deg), spikes)
        return out

    def pathways(self, stim: np.ndarray) -> PathwayMaps:
        """Δr per E cell on the grid, split into E→E, E→E→E and E→I→E, for a stimulus map of spikes per bin."""
        if stim.shape != (self.n_theta, self.n_grid, self.n_grid):
            raise SimError(f"stimulus map must have shape {(self.n_theta, self.n_grid, self.n_grid)}, got {stim.shape}")
        s = np.fft.rfftn(stim)
        shape = stim.shape
        per_cell = self.config.response_gain * self.n_theta / (self.e_density_per_um2 * self.bin_um ** 2)
        ee = self._spectra["ee"] * s
        maps = [np.fft.irfftn(x, s=shape, axes=(0, 1, 2)) * per_cell
                for x in (ee, self._spectra["ee"] * ee, self._spectra["ei"] * self._spectra["ie"] * s)]
        return PathwayMaps(*maps)

    def radial_profile(self, spikes: float = 10.0, max_um: float = 500.0) -> tuple[np.ndarray, np.ndarray]:
        """Δr versus distance from one stimulated bin at the box centre (spatial-only average over θ).

        Returns ``(distance_um, delta_r)`` along a grid axis, for ``spikes`` spikes delivered.
        """
        stim = np.zeros((self.n_theta, self.n_grid, self.n_grid))
        c = self.n_grid // 2
        stim[:, c, c] = spikes / self.n_theta
        total = self.pathways(stim).total.sum(axis=0) / self.n_theta
        n = min(int(max_um / self.bin_um), self.n_grid // 2 - 1)
        d = np.arange(n + 1) * self.bin_um
        return d, total[c, c:c + n + 1]
