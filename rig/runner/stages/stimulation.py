"""Stage ``stimulation``: the ensemble block (seed 002: randomized, interleaved trials of every ensemble plus
no-stim controls; 10 pulses at 10 Hz; each trial validated by running, motion and targeted-cell response).

The order comes from :func:`rig.schedule.stimulation_schedule` (seeded), so a resumed session regenerates it and
skips the trials already committed. All masks are loaded into the SLM up front and switched by index.
"""
from __future__ import annotations

import numpy as np

from rig.schedule import stimulation_schedule

from ..power import apply_power, laser_shares
from ..trial import TrialSpec, run_trial


def schedule(ctx):
    st = ctx.protocol.stimulation
    return stimulation_schedule(len(ctx.ensembles), st.repetitions, st.no_stim_repetitions, ctx.seed)


def period_s(protocol) -> float:
    st = protocol.stimulation
    return st.baseline_s + st.response_s + st.iti_s


def run(ctx) -> None:
    st = ctx.protocol.stimulation
    plan = schedule(ctx)
    ctx.slm.load(np.stack([h["phase"] for h in ctx.holograms]), session_id="stimulation")
    done_rows, _ = ctx.committed.block("stim")
    skip = len(done_rows)
    period = period_s(ctx.protocol)
    t0 = ctx.acq.now() + st.baseline_s + 1.0
    valid = int(done_rows["valid"].sum()) if skip else 0
    rows_of = [ctx.cells.rows_of(e["cells"]) for e in ctx.ensembles]
    shares = [laser_shares(h["laser_power_mw"], e["power_mw"]) for h, e in zip(ctx.holograms, ctx.ensembles)]
    for i, trial in enumerate(plan[skip:], start=skip):
        e = trial.ensemble

        def prepare(e=e):
            if e >= 0:
                ctx.slm.show(e)
                apply_power(ctx, shares[e])
            else:
                ctx.slm.heartbeat()

        def fire(e=e):
            if e >= 0:
                ctx.hw.laser.pulse(st.pulses, st.pulse_ms / 1000.0, st.pulse_rate_hz)

        spec = TrialSpec(key=f"st{i}", block="stim", condition=trial.condition, kind="photostim",
                         t_scheduled_s=t0 + (i - skip) * period, response_s=st.response_s, prepare=prepare,
                         fire=fire, target_rows=rows_of[e] if e >= 0 else None,
                         pipeline_targets=rows_of[e] if e >= 0 else None, ensemble=e, hologram=e,
                         event="photostim" if e >= 0 else "no_stim",
                         event_value=ctx.holograms[e]["laser_power_mw"] if e >= 0 else 0.0)
        out = run_trial(ctx, spec, prepare_lead_s=min(0.5, st.baseline_s))
        valid += int(out.valid)
        ctx.progress.trial("stimulation", i + 1, len(plan), valid, i + 1, (len(plan) - i - 1) * period)
    ctx.writer.mark_stage("stimulation", ctx.acq.now())
    ctx.summary["stim_valid"] = valid
    ctx.summary["stim_trials"] = len(plan)
