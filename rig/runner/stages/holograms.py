"""Stage ``holograms``: one phase mask per ensemble with per-cell power (seed 002: "each cell receives a distinct
power based on its stimmability and the diffraction efficiencies of each spot"), its laser power checked against
the rig's limits, each mask written to the session file as it is made (a resumed session continues after the last
one written)."""
from __future__ import annotations

import numpy as np

from rig.safety import PowerLimitError

from ..errors import RunnerError
from ..power import laser_shares, make_holograms, plan_power

#: Gerchberg–Saxton iterations per ensemble mask. On the default SLM, ten-target masks reach the same
#: efficiency (0.80) and uniformity (> 0.999) after 10 iterations as after 30, at a third of the time.
ITERATIONS = 10


def run(ctx) -> None:
    ctx.holograms = ctx.holograms or []
    start = len(ctx.holograms)
    todo = range(start, len(ctx.ensembles))
    jobs = [(ctx.cells.position_um[ctx.cells.rows_of(ctx.ensembles[e]["cells"])],
             np.asarray(ctx.ensembles[e]["power_mw"], float), ctx.stage_seed("holograms", e)) for e in todo]
    for e, (xyz, requests, _), hol in zip(todo, jobs, make_holograms(ctx, jobs, ITERATIONS)):
        rows = ctx.cells.rows_of(ctx.ensembles[e]["cells"])
        plan = plan_power(ctx, hol, requests)
        try:  # refuse now, not in the middle of the stimulation block
            ctx.guard.check(laser_shares(plan.laser_power_mw, requests))
        except PowerLimitError as err:
            raise RunnerError(f"ensemble {e}: its hologram needs more laser power than the rig allows: {err}") \
                from None
        # a mask that is not finite is never stored (SlmLink.load checks every mask again before the SLM)
        if hol.phase.shape != tuple(ctx.geometry.shape) or not np.isfinite(hol.phase).all():
            raise RunnerError(f"ensemble {e}: the hologram engine returned an invalid mask; not stored or sent")
        ctx.writer.append_hologram(hol.phase, ensemble=e, n_targets=len(rows), laser_power_mw=plan.laser_power_mw,
                                   efficiency=hol.efficiency, uniformity=hol.uniformity)
        ctx.holograms.append(dict(phase=hol.phase, laser_power_mw=float(plan.laser_power_mw)))
        ctx.progress.trial("holograms", e + 1, len(ctx.ensembles), 0, 0, float("nan"), unit="mask")
    ctx.writer.mark_stage("holograms", ctx.acq.now())
    total = [h["laser_power_mw"] for h in ctx.holograms]
    ctx.progress.message(f"[holograms] {len(total)} masks, laser power {min(total):.0f}–{max(total):.0f} mW")
