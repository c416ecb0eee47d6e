"""Read a session file back into what the runner needs to continue it (``holostim resume``).

A crashed file (SIGKILL leaves HDF5's consistency flag set) is recovered first with
:func:`rig.session.recover_session`; everything is then read with :class:`rig.session.SessionReader` before the
writer reopens the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

import holography

from rig.session import SessionReader, needs_recovery, recover_session

from .context import Cells, Committed
from .errors import RunnerError

#: Gap left between the last saved moment and the resumed stream, s.
RESUME_GAP_S = 1.0


@dataclass
class SavedSession:
    rig: Any
    protocol: Any
    seed: int
    stages: list
    slm_mode: Optional[str]
    committed: Committed
    t_resume_s: float
    volume_resume: int
    results: dict = field(default_factory=dict)

    def apply(self, ctx) -> None:
        """Put the finished stages' results into the context."""
        for key, value in self.results.items():
            setattr(ctx, key, value)
        ctx.done_stages = list(self.stages)


def load(path: Path) -> SavedSession:
    """Recover ``path`` if it crashed, then read configs, seed, finished stages and committed trials."""
    if not path.exists():
        raise RunnerError(f"{path} does not exist")
    if needs_recovery(path):
        recover_session(path)
    with SessionReader(path) as r:
        rig, protocol, seed = r.rig, r.protocol, r.seed
        stages = [s[0] for s in r.stages() if s[0] != "closed"]
        trials = r.trials()
        behaviour = r.behaviour()
        extra = r.extra
        results = _results(r, stages, protocol)
    t_last = max([0.0] + [float(np.nanmax(trials["t_end_s"]))] * bool(len(trials))
                 + [float(np.nanmax(behaviour.t_s))] * bool(len(behaviour.t_s)))
    v_last = max([-1] + [int(np.max(trials["frame_end"]))] * bool(len(trials))
                 + [int(np.max(behaviour.frame))] * bool(len(behaviour.frame)))
    rate = rig.imaging.volume_rate_hz
    return SavedSession(rig, protocol, seed, stages, extra.get("slm_link"),
                        Committed(trials.rows, trials.response), t_last + RESUME_GAP_S,
                        v_last + 1 + int(round(RESUME_GAP_S * rate)), results)


def _results(r: SessionReader, stages: list, protocol) -> dict:
    out: dict = {}
    if "targets" in stages:
        c = r.cells()
        out["cells"] = Cells(ids=c.id, position_um=c.position_um.astype(float), plane=c.plane.astype(int),
                             red=c.red, masks=[c.mask(i) for i in range(len(c))])
    if "calibration" in stages:
        out["calibration"] = holography.Calibration.from_dict(r.calibration().model)
    if "power_test" in stages:
        out["stimmable_mw"] = r.power_test().stimmable_power_mw.astype(float)
    if "tuning" in stages:
        from .stages.tuning import TuningView
        t = r.tuning()
        tuned = t.responsive & (np.nan_to_num(t.osi) > protocol.online.tuned_osi_threshold)
        out["tuning"] = TuningView(t.mean, t.responsive, t.osi, tuned)
    if "ensembles" in stages:
        out["ensembles"] = [dict(cells=[int(c) for c in e.cells], power_mw=[float(p) for p in e.power_mw])
                            for e in r.ensembles()]
        out["holograms"] = [dict(phase=r.hologram_phase(h.index), laser_power_mw=h.laser_power_mw)
                            for h in r.holograms()]
    return out


__all__ = ["SavedSession", "load"]
