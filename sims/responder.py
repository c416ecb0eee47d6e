"""Network response of every imaged cell to spikes delivered to some of them (the seed-002 linear expansion).

With W the sampled network of :mod:`sims.network`, the extra spikes of imaged excitatory cells are::

    Δr = G · (W_ee + W_ee W_ee + W_ei W_ie) · s

for ``s`` the spikes delivered directly (by light) to each imaged cell and G = ``response_gain``. The three
pathway matrices, restricted to imaged rows and columns, are computed once (sparse products through every hidden
E and every I cell) and stored dense in float32, so one ensemble's response is a product with the few columns
that received spikes: microseconds, not milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SimError
from .network import Network


@dataclass(frozen=True)
class PathwayResponse:
    """Extra spikes per imaged cell, by pathway (arrays of length n)."""

    ee: np.ndarray
    eee: np.ndarray
    eie: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.ee + self.eee + self.eie


class Responder:
    """Precomputed pathway matrices of a network; :meth:`respond` maps delivered spikes to Δr."""

    def __init__(self, network: Network, response_gain: float):
        n = network.n_imaged
        self.n = n
        g = float(response_gain)
        ee = network.ee_in[:, :n]
        eee = network.ee_in @ network.ee_to_imaged()
        eie = network.ei_in @ network.ie_out
        # Rows: postsynaptic imaged cell; columns: stimulated imaged cell. Stored column-major for column picks.
        self.pathways = {name: np.asfortranarray((m.toarray() * g).astype(np.float32))
                         for name, m in (("ee", ee), ("eee", eee), ("eie", eie))}
        self.total = np.asfortranarray(self.pathways["ee"] + self.pathways["eee"] + self.pathways["eie"])

    def _check(self, spikes) -> np.ndarray:
        s = np.asarray(spikes, dtype=np.float32)
        if s.shape != (self.n,):
            raise SimError(f"spikes must give one number per imaged cell ({self.n}), got shape {s.shape}")
        return s

    def respond(self, spikes) -> np.ndarray:
        """Total Δr (extra spikes per imaged cell) for ``spikes`` delivered directly to each imaged cell."""
        s = self._check(spikes)
        nz = np.flatnonzero(s)
        return self.total[:, nz] @ s[nz]

    def respond_pathways(self, spikes) -> PathwayResponse:
        """Δr split into E→E, E→E→E and E→I→E."""
        s = self._check(spikes)
        nz = np.flatnonzero(s)
        return PathwayResponse(*(self.pathways[k][:, nz] @ s[nz] for k in ("ee", "eee", "eie")))
