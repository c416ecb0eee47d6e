"""The session context: everything the stages share (configs, seed, writer, hardware, imaging loop, SLM line,
laser guard) and the results stages pass on to later ones."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from rig.safety import LaserGuard


@dataclass
class Committed:
    """Trials already in the session file (a resumed session): their rows and responses, by block."""

    rows: np.ndarray
    response: np.ndarray

    def block(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        sel = np.char.decode(self.rows["block"], "utf-8") == name if len(self.rows) else np.zeros(0, bool)
        return self.rows[sel], self.response[sel]


@dataclass
class Cells:
    """The session's cells (rows in session order) and the footprints the online pipelines use."""

    ids: np.ndarray              # (n,) int64
    position_um: np.ndarray      # (n, 3) imaging x, y, z µm
    plane: np.ndarray            # (n,) plane index
    red: np.ndarray              # (n,) nuclear mRuby brightness
    masks: list                  # per cell (flat pixel indices, weights) in its plane

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, ids) -> np.ndarray:
        """Session rows of cell ``ids``."""
        lookup = {int(c): i for i, c in enumerate(self.ids)}
        return np.array([lookup[int(c)] for c in ids], int)


@dataclass
class SessionContext:
    """Shared state of one session run. ``results`` holds what finished stages produced (see stages)."""

    rig: Any
    protocol: Any
    seed: int
    writer: Any
    hw: Any
    acq: Any
    slm: Any
    guard: LaserGuard
    geometry: Any
    progress: Any
    committed: Committed
    cells: Optional[Cells] = None
    calibration: Any = None
    stimmable_mw: Optional[np.ndarray] = None
    tuning: Any = None
    ensembles: Optional[list] = None          # list of dicts: cells (ids), power_mw (requests)
    holograms: Optional[list] = None          # list of dicts: phase, laser_power_mw
    done_stages: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def volume_rate_hz(self) -> float:
        return float(self.rig.imaging.volume_rate_hz)

    def volumes(self, seconds: float) -> int:
        """Whole imaging volumes in ``seconds`` (at least 1)."""
        return max(1, int(round(seconds * self.volume_rate_hz)))

    def stage_seed(self, name: str, *extra: int) -> int:
        """A seed for one stage's random choices, derived from the session seed (same seed → same choices)."""
        codes = {"calibration": 11, "power_test": 12, "holograms": 13, "ensembles": 14, "ppsf": 15}
        state = np.random.SeedSequence([int(self.seed), codes[name], *[int(e) for e in extra]]).generate_state(1)
        return int(state[0] % (2 ** 31))
