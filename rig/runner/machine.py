"""The session state machine: stages in protocol order, each skipped when the session file says it is done.

    targets → calibration → power_test → [ppsf] → tuning → ensembles → holograms → stimulation → closed

A stage's results are written to the session file when it completes (its row in ``/stages`` comes last), and every
trial is committed as it completes, so a session killed at any moment can be resumed (:func:`resume_session`):
finished stages are read back, an unfinished one is redone, and a trial block continues after its last committed
trial in the same seeded order.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np
import scipy.sparse as sp

import holography
from rig.safety import LaserGuard
from rig.session import SessionWriter
from rig.wire.heartbeat import laser_off_then_pause

from . import state as session_state
from .acquisition import Acquisition
from .context import Committed, SessionContext
from .errors import RunnerError, SessionPaused
from .hardware import build_real_hardware, build_sim_hardware
from .inline_analysis import InlineAnalysis
from .progress import Progress
from .reference import build_references
from .slm_link import MODES as SLM_LINK_MODES, SlmLink
from .stages import calibration, ensembles, holograms, power_test, ppsf, stimulation, targets, tuning

log = logging.getLogger(__name__)

#: Seed 002 measures the PPSF "after the standard power test", with each cell at its stimmable power.
STAGE_ORDER = ("targets", "calibration", "power_test", "ppsf", "tuning", "ensembles", "holograms", "stimulation")
#: Imaging with online analysis before the first trial, so baselines and noise estimates exist, s.
SETTLE_S = 10.0
_TRIAL_STAGES = ("ppsf", "power_test", "tuning", "stimulation")
_RUN = {"targets": targets.run, "calibration": calibration.run, "power_test": power_test.run, "ppsf": ppsf.run,
        "tuning": tuning.run, "ensembles": ensembles.run, "holograms": holograms.run,
        "stimulation": stimulation.run}


def _online_config(rig, protocol):
    """The protocol's online settings with the trial baseline converted from seconds to volumes and the grating
    duration for the visual response template."""
    n = max(1, int(round(protocol.stimulation.baseline_s * rig.imaging.volume_rate_hz)))
    return protocol.online.model_copy(update={"trial_baseline_frames": n,
                                              "visual_stimulus_s": protocol.tuning.stimulus_s})


def _footprints(ctx) -> tuple[list, list]:
    shape = tuple(ctx.rig.imaging.pixels)
    n_pix = shape[0] * shape[1]
    mats, rows = [], []
    for k in range(len(ctx.rig.imaging.planes_z_um)):
        mine = np.flatnonzero(ctx.cells.plane == k)
        indptr, indices, data = [0], [], []
        for r in mine:
            pixels, weights = ctx.cells.masks[r]
            indices.append(np.asarray(pixels, np.int64))
            data.append(np.asarray(weights, np.float32))
            indptr.append(indptr[-1] + len(pixels))
        if not len(mine):
            raise RunnerError(f"plane {k} has no cells; the online analysis needs cells on every imaged plane")
        mats.append(sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(len(mine), n_pix)))
        rows.append(mine)
    return mats, rows


def _ensure_imaging(ctx) -> None:
    """Start the online pipelines and acquire until motion correction and baselines are ready."""
    if ctx.acq.attached:
        return
    mats, rows = _footprints(ctx)
    config = _online_config(ctx.rig, ctx.protocol)
    ctx.progress.message(f"[imaging] building motion references ({config.reference_frames} volumes)")
    refs = build_references(ctx, config)
    ctx.acq.attach(mats, rows, tuple(ctx.rig.imaging.pixels), config, len(ctx.cells))
    ctx.acq.set_references(refs)
    warm_s = max(SETTLE_S, 3 * config.trial_baseline_frames / ctx.volume_rate_hz)
    ctx.progress.message(f"[imaging] online analysis of {len(ctx.cells)} cells; settling for {warm_s:.0f} s")
    ctx.acq.wait_until(ctx.acq.now() + warm_s)


def run_stages(ctx) -> None:
    """Run every stage not yet done, in order."""
    for name in STAGE_ORDER:
        if name in ctx.done_stages:
            continue
        if name == "ppsf" and not ctx.protocol.ppsf:
            continue
        if name in _TRIAL_STAGES:
            _ensure_imaging(ctx)
        ctx.progress.stage(name)
        _RUN[name](ctx)
        ctx.done_stages.append(name)
        ctx.writer.flush()


def _summary(ctx) -> dict:
    out = dict(ctx.summary)
    out["cells"] = len(ctx.cells) if ctx.cells is not None else 0
    if ctx.tuning is not None:
        out["responsive_fraction"] = float(np.mean(ctx.tuning.responsive)) if len(ctx.tuning.responsive) else 0.0
        out["tuned_fraction"] = float(np.mean(ctx.tuning.tuned)) if len(ctx.tuning.tuned) else 0.0
    out["stimmable"] = int(np.isfinite(ctx.stimmable_mw).sum()) if ctx.stimmable_mw is not None else 0
    out["ensembles"] = len(ctx.ensembles or [])
    out["path"] = str(ctx.writer.path)
    return out


#: Where the online analysis runs: ``process`` (the online server as a child process, over ZMQ) or ``inline``.
ONLINE_MODES = ("process", "inline")


def _analysis(online_mode: str, on_lost, timeout_s: float, hw):
    """The analysis backend of ``online_mode`` (checked by :func:`_check_online`); a child process is registered with ``hw`` so that closing the
    hardware (every exit path of a session) also stops it."""
    if online_mode == "inline":
        return InlineAnalysis()
    from .online_link import RemoteAnalysis

    analysis = RemoteAnalysis(on_lost, timeout_s)
    hw.closers.append(analysis)
    return analysis


def build_context(*, rig, protocol, seed: int, writer, hw, progress: Progress, slm_mode: str,
                  committed: Optional[Committed] = None, t_offset_s: float = 0.0,
                  volume_offset: int = 0, online_mode: str = "process") -> SessionContext:
    """Wire a context: imaging loop (and its online analysis), SLM line, laser guard and the
    laser-off-then-pause fault handler."""
    committed = committed or Committed(np.zeros(0, writer_dtype()), np.zeros((0, 0), np.float32))
    ctx_ref: dict = {}

    def pause(message: str) -> None:
        ctx = ctx_ref.get("ctx")
        if ctx is not None:
            try:
                ctx.writer.append_event("pause", ctx.acq.now(), detail=message[:96])
            except Exception:  # noqa: BLE001 - the pause must happen even if the file cannot take the event
                pass
        raise SessionPaused(message)

    on_lost = laser_off_then_pause(hw.laser.off, pause)
    acq = Acquisition(hw, writer, len(rig.imaging.planes_z_um), rig.imaging.volume_rate_hz, rig.zmq.timeout_s,
                      on_lost, t_offset_s=t_offset_s, volume_offset=volume_offset,
                      analysis=_analysis(online_mode, on_lost, rig.zmq.timeout_s, hw))
    slm = SlmLink(hw.slm, rig.slm.shape, rig.slm.bit_depth, mode=slm_mode, timeout_s=rig.zmq.timeout_s,
                  endpoint=rig.zmq.slm_server if slm_mode == "remote" else None, on_lost=on_lost,
                  lut=_lut(rig), server_clock=hw.clock.now)
    ctx = SessionContext(rig=rig, protocol=protocol, seed=int(seed), writer=writer, hw=hw, acq=acq, slm=slm,
                         guard=LaserGuard(rig.laser), geometry=holography.SLMGeometry.from_rig_slm(rig.slm),
                         progress=progress, committed=committed)
    ctx_ref["ctx"] = ctx
    return ctx


def writer_dtype():
    from rig.session.format import TRIAL_DTYPE
    return TRIAL_DTYPE


def _lut(rig):
    if rig.slm.lut_file is None:
        return None
    try:
        return holography.load_lut(rig.slm.lut_file, rig.slm.bit_depth).table
    except (holography.HologramError, AttributeError) as err:
        raise RunnerError(f"slm.lut_file {rig.slm.lut_file}: {err}") from None


def execute(ctx) -> dict:
    """Run the remaining stages; on any failure the laser goes off and the file is closed consistently."""
    try:
        run_stages(ctx)
    except BaseException as err:
        try:
            ctx.hw.laser.off()
        finally:
            kind = "pause" if isinstance(err, SessionPaused) else "error"
            if not isinstance(err, SessionPaused):
                try:
                    ctx.writer.append_event(kind, ctx.acq.now(), detail=f"{type(err).__name__}: {err}"[:96])
                except Exception:  # noqa: BLE001
                    pass
            _close(ctx)
        if isinstance(err, KeyboardInterrupt):
            raise SessionPaused("interrupted by the operator: laser off, trials so far are saved; "
                                f"continue with `holostim resume {ctx.writer.path}`") from None
        raise
    summary = _summary(ctx)
    _close(ctx)
    return summary


def _close(ctx) -> None:
    # the analysis first: a child process's last results are written before the file closes
    for closer in (ctx.acq.close, ctx.slm.close, ctx.writer.close, ctx.hw.close):
        try:
            closer()
        except Exception:  # noqa: BLE001 - close everything whatever fails
            log.exception("closing failed")


def start_session(out: Path, *, rig, protocol, seed: int, rig_text: str = "", protocol_text: str = "",
                  slm_mode: Optional[str] = None, progress: Optional[Progress] = None, overwrite: bool = False,
                  extra: Optional[dict] = None, online_mode: Optional[str] = None) -> dict:
    """Create ``out`` and run a whole session (simulated backend when the rig's backend is 'sim').

    ``online_mode``: ``process`` (default: the online server in a child process) or ``inline``; the session
    file is the same either way."""
    simulated = rig.backend == "sim"
    slm_mode = _check_slm(slm_mode or ("process" if simulated else "remote"), simulated)
    online_mode = _check_online(online_mode)
    hw = build_sim_hardware(rig, seed) if simulated else build_real_hardware(rig, slm_mode != "remote")
    try:
        writer = SessionWriter.create(out, rig=rig, protocol=protocol, seed=seed, rig_text=rig_text,
                                      protocol_text=protocol_text, overwrite=overwrite,
                                      extra_metadata={"slm_link": slm_mode, "online_link": online_mode,
                                                      **(extra or {})})
    except BaseException:
        hw.close()
        raise
    try:
        ctx = build_context(rig=rig, protocol=protocol, seed=seed, writer=writer, hw=hw,
                            progress=progress or Progress(), slm_mode=slm_mode, online_mode=online_mode)
    except BaseException:
        writer.close()
        hw.close()
        raise
    return execute(ctx)


def _check_online(online_mode: Optional[str]) -> str:
    online_mode = online_mode or "process"
    if online_mode not in ONLINE_MODES:
        raise RunnerError(f"online mode {online_mode!r} is not one of {', '.join(ONLINE_MODES)}")
    return online_mode


def _check_slm(slm_mode: str, simulated: bool) -> str:
    if slm_mode not in SLM_LINK_MODES:
        raise RunnerError(f"SLM mode {slm_mode!r} is not one of {', '.join(SLM_LINK_MODES)}")
    if slm_mode == "process" and not simulated:
        raise RunnerError("--slm process is for dry runs (the simulated microscope mirrors the child server); on a "
                          "rig, run `holostim slm-server` and use --slm remote, or --slm server / direct")
    return slm_mode


def resume_session(path: Path, *, slm_mode: Optional[str] = None, progress: Optional[Progress] = None,
                   online_mode: Optional[str] = None) -> dict:
    """Continue a session from its file: configs and seed from the file, finished stages read back."""
    online_mode = _check_online(online_mode)
    saved = session_state.load(Path(path))
    rig, protocol, seed = saved.rig, saved.protocol, saved.seed
    simulated = rig.backend == "sim"
    slm_mode = _check_slm(slm_mode or saved.slm_mode or ("process" if simulated else "remote"), simulated)
    if "stimulation" in saved.stages:
        raise RunnerError(f"{path} is complete (every stage is done); nothing to resume")
    hw = build_sim_hardware(rig, seed) if simulated else build_real_hardware(rig, slm_mode != "remote")
    try:
        writer = SessionWriter.open(path)
    except BaseException:
        hw.close()
        raise
    progress = progress or Progress()
    try:
        ctx = build_context(rig=rig, protocol=protocol, seed=seed, writer=writer, hw=hw, progress=progress,
                            slm_mode=slm_mode, committed=saved.committed, t_offset_s=saved.t_resume_s,
                            volume_offset=saved.volume_resume, online_mode=online_mode)
    except BaseException:
        writer.close()
        hw.close()
        raise
    saved.apply(ctx)
    progress.message(f"[resume] {path}: stages done {', '.join(saved.stages) or 'none'}; "
                     f"{len(saved.committed.rows)} trials committed")
    writer.append_event("resume", ctx.acq.now(), detail=f"after {len(saved.committed.rows)} trials")
    return execute(ctx)
