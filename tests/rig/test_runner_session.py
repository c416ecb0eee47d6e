"""End to end: a dry run of every stage on the simulated microscope, read back with SessionReader and checked
against the simulator's ground truth."""
from collections import Counter

import numpy as np

import holography
import pytest

import sims
from rig.config import load_protocol, load_rig
from rig.runner import Progress, start_session
from rig.schedule import stimulation_schedule
from rig.session import SessionReader
from runner_testing import SEED, write_protocol, write_rig

pytestmark = pytest.mark.slow
_KILLED: dict = {}


@pytest.fixture(scope="module")
def session(tmp_path_factory, repo_root):
    """The tiny protocol run uninterrupted in this process while, in parallel (2 cores), a subprocess runs the
    same session and is SIGKILLed in the middle of its stimulation block (see the resume test)."""
    folder = tmp_path_factory.mktemp("dry")
    rig_path, protocol_path = write_rig(folder, repo_root), write_protocol(folder)
    rig, protocol = load_rig(rig_path), load_protocol(protocol_path)
    killer = _start_and_kill(folder, repo_root, min_stim_trials=3)
    out = folder / "session.h5"
    summary = start_session(out, rig=rig, protocol=protocol, seed=SEED, rig_text=rig_path.read_text(),
                            protocol_text=protocol_path.read_text(), progress=Progress(enabled=False))
    killer.join(timeout=180)
    _KILLED["thread"] = killer
    truth = sims.build_microscope(rig, seed=SEED)   # same rig + seed: the same hidden tissue and mapping
    return out, summary, rig, protocol, truth


def test_every_stage_is_written_and_the_file_closed_cleanly(session):
    out, summary, *_ = session
    with SessionReader(out) as r:
        names = [s[0] for s in r.stages()]
        assert names == ["targets", "calibration", "power_test", "tuning", "ensembles", "holograms",
                         "stimulation", "closed"]
        assert r.closed_cleanly
        assert len(r.cells()) == summary["cells"] > 300
        assert r.calibration() is not None and r.power_test() is not None and r.tuning() is not None
        assert len(r.ensembles()) == summary["ensembles"] == 3
        assert len(r.holograms()) == 3
        for k in range(r.n_planes):
            tr = r.traces(k)
            assert tr.F.shape[1] == np.sum(r.cells().plane == k) and len(tr.frame) > 100


def test_targets_are_the_red_nuclei_of_the_simulated_tissue(session):
    out, _, _, _, truth = session
    pop = truth.population
    with SessionReader(out) as r:
        cells = r.cells()
    found = cells.position_um
    opsin = pop.xyz_um[pop.opsin]
    d = np.linalg.norm(found[:, None, :2] - opsin[None, :, :2], axis=2).min(axis=1)
    assert np.median(d) < 1.0 and np.mean(d < 3.0) > 0.95          # every detection is an opsin+ nucleus
    assert len(cells) > 0.9 * pop.opsin.sum()                        # and nearly every nucleus is found


def test_calibration_recovers_the_hidden_mapping(session):
    out, _, _, _, truth = session
    with SessionReader(out) as r:
        cal = holography.Calibration.from_dict(r.calibration().model)
        xyz = r.cells().position_um.astype(float)
    err = np.linalg.norm(cal.apply(xyz) - truth.mapping.to_slm(xyz), axis=1)
    assert np.sqrt(np.mean(err ** 2)) < 1.5, err.max()               # distortion is ~4 µm + 5 µm offsets


def test_stimmable_power_tracks_the_cells_true_threshold(session):
    out, _, _, _, truth = session
    pop = truth.population
    with SessionReader(out) as r:
        pt = r.power_test()
        xyz = r.cells().position_um
    tested = np.isfinite(pt.response).any(axis=1)
    stim = pt.stimmable_power_mw
    assert tested.sum() >= 30 and np.isfinite(stim[tested]).sum() >= 15
    nearest = np.linalg.norm(xyz[tested, None, :] - pop.xyz_um[None, :, :], axis=2).argmin(axis=1)
    true = pop.stimmable_power_mw[nearest]
    found = stim[tested]
    ok = np.isfinite(found)
    # a cell that responded at P mW cannot truly need much more than P (spikes fall off as (P/threshold)^4)
    assert np.mean(true[ok] <= 1.5 * found[ok]) > 0.9, np.column_stack([found[ok], true[ok]])
    # and the cells that responded at the lowest power are the easy ones
    easy = found == pt.powers_mw[0]
    assert easy.sum() >= 3 and np.median(true[easy]) < pt.powers_mw[0]


def test_ensembles_use_eligible_cells_and_holograms_respect_the_limits(session):
    out, _, rig, protocol, _ = session
    with SessionReader(out) as r:
        stim = r.power_test().stimmable_power_mw
        ids = r.cells().id
        for e, h in zip(r.ensembles(), r.holograms()):
            rows = np.searchsorted(ids, e.cells)
            assert len(e.cells) == 10 and np.all(np.isfinite(stim[rows]))
            np.testing.assert_allclose(e.power_mw, stim[rows] * protocol.power_test.power_margin, rtol=1e-5)
            assert h.laser_power_mw <= rig.laser.max_total_power_mw
            shares = h.laser_power_mw * e.power_mw / e.power_mw.sum()
            assert shares.max() <= rig.laser.max_power_per_target_mw
            phase = r.hologram_phase(h.index)
            assert phase.shape == tuple(rig.slm.shape) and np.all((phase >= 0) & (phase < 2 * np.pi))


def test_stimulation_follows_the_seeded_schedule_on_time(session):
    out, _, _, protocol, _ = session
    st = protocol.stimulation
    with SessionReader(out) as r:
        t = r.trials()
    stim = t["block"] == "stim"
    plan = stimulation_schedule(3, st.repetitions, st.no_stim_repetitions, SEED)
    assert list(t["ensemble"][stim]) == [p.ensemble for p in plan]
    assert list(t["condition"][stim]) == [p.condition for p in plan]
    # simulated time: every trial starts exactly when scheduled, and the schedule is a fixed grid
    np.testing.assert_allclose(t["t_start_s"], t["t_scheduled_s"], atol=1e-9)
    np.testing.assert_allclose(np.diff(t["t_scheduled_s"][stim]), st.baseline_s + st.response_s + st.iti_s)
    assert np.all(np.diff(t["trial"]) == 1)


def test_trial_validity_follows_the_exclusion_rules(session):
    out, _, _, protocol, _ = session
    ex = protocol.exclusion
    with SessionReader(out) as r:
        t = r.trials()
    flags = t["invalid_flags"]
    assert np.array_equal(t.valid, flags == 0)
    assert np.all((t["max_running_cm_s"] > ex.max_running_cm_s) == ((flags & 1) > 0))
    assert np.all((t["max_shift_px"] > ex.max_motion_px) == ((flags & 2) > 0))
    ens = (t["block"] == "stim") & (t["condition"] == "ensemble")
    low = t["responding_fraction"][ens] < ex.min_responding_fraction
    assert np.array_equal(low, (flags[ens] & 4) > 0)
    assert np.all(np.isnan(t["responding_fraction"][t["condition"] == "no_stim"]))
    assert t.valid[t["block"] == "stim"].mean() > 0.4


def test_excluded_tuning_trials_are_retaken(session):
    """Every condition reaches the protocol's repetitions in valid trials unless the retakes ran out; retakes
    come after the scheduled block and only for conditions that lacked valid trials."""
    out, _, _, protocol, _ = session
    tu = protocol.tuning
    with SessionReader(out) as r:
        t = r.trials()
    block = t["block"] == "tuning"
    conditions = [(c, d if c == "grating" else None) for c, d in zip(t["condition"][block], t["direction_deg"][block])]
    valid = t.valid[block]
    planned = len(tu.directions_deg) * tu.repetitions + (tu.repetitions if tu.blank else 0)
    retaken = len(conditions) - planned
    assert 0 <= retaken <= round(tu.retake_fraction * planned)
    assert retaken >= min(int((~valid[:planned]).sum()), round(tu.retake_fraction * planned))   # the first round
    counts = Counter(c for c, ok in zip(conditions, valid) if ok)
    if retaken < round(tu.retake_fraction * planned):
        assert all(counts[c] >= tu.repetitions for c in set(conditions))
    lacking = Counter(c for c, ok in zip(conditions[:planned], valid[:planned]) if not ok)
    assert set(conditions[planned:]) <= set(lacking)


def test_targeted_cells_respond_to_their_ensemble(session):
    out, *_ = session
    with SessionReader(out) as r:
        t = r.trials()
        ids = r.cells().id
        ensembles = r.ensembles()
    stim = (t["block"] == "stim")
    for e in ensembles:
        rows = np.searchsorted(ids, e.cells)
        on = stim & (t["ensemble"] == e.index)
        off = stim & (t["condition"] == "no_stim")
        assert np.nanmean(t.response[on][:, rows]) > np.nanmean(t.response[off][:, rows]) + 0.2


# ------------------------------------------------------------------------------------------- kill -9 and resume
def _start_and_kill(folder, repo_root, min_stim_trials):
    """Start a dry run in a subprocess and SIGKILL it, from a thread, once its file (read live through SWMR)
    holds ``min_stim_trials`` committed stimulation trials. The thread's ``result`` says what happened."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    from rig.session import SessionError

    killed = folder / "killed.h5"
    cmd = [sys.executable, "-m", "rig.cli", "-q", "dry-run", "--rig", str(folder / "rig.yaml"), "--protocol",
           str(folder / "tiny.yaml"), "--seed", str(SEED), "--out", str(killed), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def watch():
        deadline = time.monotonic() + 170
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if killed.exists():
                    try:
                        with SessionReader(killed) as r:
                            r.refresh()
                            if np.sum(r.trials()["block"] == "stim") >= min_stim_trials:
                                os.kill(proc.pid, signal.SIGKILL)
                                thread.result = "killed"
                                break
                    except (SessionError, OSError, KeyError):
                        pass
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            thread.stderr = proc.stderr.read().decode()[-2000:]

    thread = threading.Thread(target=watch, daemon=True)
    thread.result, thread.stderr, thread.path = "not killed", "", killed
    thread.start()
    return thread


def test_kill_mid_stimulation_then_resume_continues_the_same_order(session):
    from rig.runner import resume_session
    from runner_testing import datasets, same

    out, _, _, protocol, _ = session
    killer = _KILLED["thread"]
    assert killer.result == "killed", killer.stderr
    killed = killer.path
    with SessionReader(killed) as r:                   # a crashed file still opens (SWMR fallback)
        before = r.trials()
        assert not r.closed_cleanly and "stimulation" not in [s[0] for s in r.stages()]
    n_before = int(np.sum(before["block"] == "stim"))
    assert n_before >= 3

    summary = resume_session(killed, progress=Progress(enabled=False))
    assert summary["ensembles"] == 3

    with SessionReader(killed) as r, SessionReader(out) as full:
        assert r.closed_cleanly
        assert [s[0] for s in r.stages() if s[0] != "closed"][-1] == "stimulation"
        t, u = r.trials(), full.trials()
        stim_t, stim_u = t["block"] == "stim", u["block"] == "stim"
        # the same randomized order as the uninterrupted run, no trial lost or repeated
        assert list(t["ensemble"][stim_t]) == list(u["ensemble"][stim_u])
        assert stim_t.sum() == stim_u.sum() == len(stimulation_schedule(3, protocol.stimulation.repetitions,
                                                                          protocol.stimulation.no_stim_repetitions,
                                                                          SEED))
        # trials committed before the kill are exactly those of the uninterrupted run (same seed, same file)
        first = np.flatnonzero(stim_t)[:n_before]
        first_u = np.flatnonzero(stim_u)[:n_before]
        for col in ("ensemble", "t_start_s", "valid", "invalid_flags"):
            assert np.array_equal(t[col][first], u[col][first_u]), col
        np.testing.assert_array_equal(t.response[first], u.response[first_u])
        # the resumed trials come after the kill, on the session clock
        assert np.all(np.diff(t["t_start_s"]) > 0)
        assert "resume" in set(r.events()["kind"])
    # every stage before the stimulation block is identical to the uninterrupted run (another process)
    a, b = datasets(killed), datasets(out)
    for name in ("cells/id", "cells/position_um", "cells/mask_pixels", "calibration/model_json",
                 "power_test/stimmable_power_mw", "power_test/response", "tuning/mean", "tuning/osi",
                 "ensembles/table", "ensembles/targets", "holograms/table", "holograms/phase"):
        assert same(a[name], b[name]), name
