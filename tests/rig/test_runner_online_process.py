"""The online analysis as a child process (``--online process``): the same numbers as in-process pipelines, and
the child supervised — its loss turns the laser off then pauses, and it never outlives the runner."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import scipy.sparse as sp

from online import OnlineConfig
from rig.online_server import OnlineServer
from rig.runner.inline_analysis import InlineAnalysis
from rig.runner.errors import SessionPaused
from rig.runner.online_link import OnlineChild, RemoteAnalysis
from rig.wire import controller_messages as cm
from rig.wire import framing
from rig.wire.heartbeat import laser_off_then_pause

SHAPE = (48, 64)


def _footprints(rng, n_cells):
    """Sparse cells × pixels disks (radius 3 px) at random places."""
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    data, indices, indptr = [], [], [0]
    for _ in range(n_cells):
        cy, cx = rng.uniform(6, SHAPE[0] - 6), rng.uniform(6, SHAPE[1] - 6)
        pix = np.flatnonzero(((yy - cy) ** 2 + (xx - cx) ** 2 <= 9).ravel())
        data.append(np.full(len(pix), 1.0, np.float32))
        indices.append(pix)
        indptr.append(indptr[-1] + len(pix))
    return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr),
                         shape=(n_cells, SHAPE[0] * SHAPE[1]))


def _stream(seed=0, n_volumes=70):
    """Two planes (5 + 4 cells), their references, and a scripted stream of frames and trial events."""
    rng = np.random.default_rng(seed)
    fps = [_footprints(rng, 5), _footprints(rng, 4)]
    rows = [np.array([0, 2, 4, 6, 8]), np.array([1, 3, 5, 7])]
    base = [200 + 50 * rng.random(SHAPE) for _ in fps]
    refs = [b.astype(np.float32) for b in base]
    events = {10: ("g0", "grating", 12, 16, None, dict(direction_deg=90.0, ensemble=None, power_mw=None)),
              20: ("s0", "photostim", 22, 26, [[1, 2], [0]], dict(direction_deg=None, ensemble="0", power_mw=None)),
              30: ("p0", "photostim", 32, 35, [[0], []], dict(direction_deg=None, ensemble=None, power_mw=50.0)),
              40: ("b0", "blank", 41, 45, None, dict(direction_deg=None, ensemble=None, power_mw=None))}
    frames = []
    for v in range(n_volumes):
        for k, fp in enumerate(fps):
            activity = rng.gamma(2.0, 20.0, fp.shape[0]) * (1 + 3 * (12 <= v < 16 or 22 <= v < 26))
            image = base[k] + (fp.T @ activity).reshape(SHAPE) + rng.normal(0, 5, SHAPE)
            shifted = np.roll(image, (int(v % 7 == 3), 0), axis=(0, 1))      # a little motion
            frames.append((v, k, np.clip(shifted, 0, 32767).astype(np.int16)))
    return fps, rows, refs, events, frames


def _run(analysis, stream, config):
    """Feed ``analysis`` the stream; returns what it wrote and what it answered, step by step."""
    fps, rows, refs, events, frames = stream
    written, answers = [], []
    def write(plane, f_cell, f_neuropil, volume, t, dy, dx):
        if np.ndim(f_cell) == 2:                     # a block of frames (the child's traces_block): row by row
            written.extend(zip([plane] * len(f_cell), f_cell, f_neuropil, volume, t, dy, dx))
        else:
            written.append((plane, f_cell, f_neuropil, volume, t, dy, dx))

    analysis.attach(fps, rows, SHAPE, config, write)
    analysis.set_references(refs)
    keys = []
    for v, k, image in frames:
        if k == 0 and v in events:
            key, kind, onset, offset, targets, extra = events[v]
            analysis.add_trial(key, kind, onset, offset, targets, **extra)
            keys.append(key)
        analysis.frame(k, image, v, v / 6.0 + k / 12.0)
        if k == 1 and v % 5 == 4:                    # ask the questions the runner asks, now and then
            answers.append([analysis.completed(key) for key in keys])
            answers.append(np.concatenate(analysis.noise_sd()))
    records = {key: analysis.take(key) for key in keys}
    analysis.flush()
    # per plane in frame order (the child sends each plane's traces in blocks; the file keeps planes apart)
    written.sort(key=lambda row: (row[0], int(row[3])))
    return written, answers, records


def _same(a, b):
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    if hasattr(a, "response"):                         # PlaneRecord
        return (np.array_equal(a.response, b.response, equal_nan=True) and a.n_baseline_frames == b.n_baseline_frames
                and a.n_response_frames == b.n_response_frames
                and np.array_equal(a.max_shift_px, b.max_shift_px, equal_nan=True))
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind == "f")


def _never_lost(peer, silent_s):
    raise AssertionError(f"{peer} reported lost after {silent_s:.1f} s")


def test_the_child_process_computes_exactly_what_inline_pipelines_compute():
    config = OnlineConfig(reference_frames=5, trial_baseline_frames=4, history_frames=200)
    stream = _stream()
    inline = _run(InlineAnalysis(), stream, config)
    remote_analysis = RemoteAnalysis(_never_lost, timeout_s=30.0)
    try:
        remote = _run(remote_analysis, stream, config)
    finally:
        remote_analysis.close()
    assert remote_analysis.child.proc.poll() is not None                 # closing stops the child
    written, answers, records = inline
    assert len(written) == 2 * 70 and len(records) == 4
    assert all(r is not None for recs in records.values() for r in recs)  # every trial completed on both planes
    assert any(np.isfinite(a).all() for a in answers if isinstance(a, np.ndarray))
    for got, want, what in zip(remote, inline, ("traces", "answers", "records")):
        assert _same(got, want), what


class _Laser:
    def __init__(self, log):
        self.log = log

    def off(self):
        self.log.append("off")


def _paused_analysis(log, timeout_s):
    def pause(message):
        log.append(("pause", message))
        raise SessionPaused(message)
    return RemoteAnalysis(laser_off_then_pause(_Laser(log).off, pause), timeout_s=timeout_s)


def _attach(analysis):
    """Configure ``analysis`` with a short stream's footprints; returns that stream's frames."""
    fps, rows, refs, events, frames = _stream(n_volumes=8)
    analysis.attach(fps, rows, SHAPE, OnlineConfig(reference_frames=5), lambda *row: None)
    return frames


def test_a_dead_online_process_turns_the_laser_off_then_pauses():
    log = []
    analysis = _paused_analysis(log, timeout_s=5.0)
    try:
        frames = _attach(analysis)
        analysis.frame(0, frames[0][2], 0, 0.0)
        os.kill(analysis.child.pid, signal.SIGKILL)
        analysis.child.proc.wait(timeout=10)
        with pytest.raises(SessionPaused, match="online analysis"):
            analysis.completed("t0")
    finally:
        analysis.close()
    assert log[0] == "off" and log[1][0] == "pause" and len(log) == 2


def test_a_stuck_online_process_is_lost_after_the_timeout():
    log = []
    analysis = _paused_analysis(log, timeout_s=0.6)
    try:
        frames = _attach(analysis)
        os.kill(analysis.child.pid, signal.SIGSTOP)
        analysis.frame(0, frames[0][2], 0, 0.0)               # queued: the child takes it when it runs again
        started = time.monotonic()
        with pytest.raises(SessionPaused, match="online analysis"):
            analysis.noise_sd()
        assert 0.6 <= time.monotonic() - started < 5.0
    finally:
        os.kill(analysis.child.pid, signal.SIGCONT)
        analysis.close()
    assert [entry if entry == "off" else entry[0] for entry in log] == ["off", "pause"]
    assert analysis.child.proc.poll() is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_online_process_does_not_outlive_a_killed_runner(tmp_path):
    script = tmp_path / "runner.py"
    script.write_text(textwrap.dedent("""
        import time
        from rig.runner.online_link import OnlineChild
        child = OnlineChild()
        child.endpoints()
        print(child.pid, flush=True)
        time.sleep(120)
    """))
    runner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    try:
        pid = int(runner.stdout.readline())
        assert _running(pid)
        runner.send_signal(signal.SIGKILL)                   # like a kill -9 of the runner: no clean-up runs
        runner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(pid)
    finally:
        if runner.poll() is None:
            runner.kill()


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] not in "ZX"     # a zombie has exited
    except FileNotFoundError:
        return False


def test_the_child_prints_loopback_endpoints_and_stops_on_stdin_eof():
    child = OnlineChild()
    try:
        endpoint, results = child.endpoints()
        assert endpoint.startswith("tcp://127.0.0.1:") and results.startswith("tcp://127.0.0.1:")
        child.proc.stdin.close()
        assert child.proc.wait(timeout=10) == 0
    finally:
        child.stop()


def test_the_server_checks_sparse_footprints_and_answers_a_sync_with_the_noise():
    server = OnlineServer("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
    fp = _footprints(np.random.default_rng(1), 3)
    good = [fp.data, fp.indices, fp.indptr]
    head = cm.Configure(encoding="csr", frame_shape=SHAPE, traces=True).to_json()
    try:
        bad = [fp.data, fp.indices + SHAPE[0] * SHAPE[1], fp.indptr]          # pixels outside the frame
        assert server.handle(framing.encode(head, bad)) == [] and server.counts["messages_invalid"] == 1
        assert server.handle(framing.encode(head, good[:2])) == [] and server.counts["messages_invalid"] == 2
        server.handle(framing.encode(head, good))
        assert len(server.pipelines) == 1 and server.pipelines[0].n_cells == 3
        frame = np.full(SHAPE, 100, np.int16)
        out = server.handle(framing.encode(cm.OnlineFrame(frame_index=0, t_s=0.5).to_json(), [frame]))
        traces = [p for p in out if p[0] == b"traces"]
        assert len(traces) == 1
        t_head, (f_cell, f_neuropil) = framing.decode(traces[0][1:])
        assert t_head["t_s"] == 0.5 and f_cell.shape == (3,)
        np.testing.assert_allclose(f_cell, 100.0, rtol=1e-5)                # a flat frame: every pixel is 100
        (sync,) = server.handle(framing.encode(cm.Sync(seq=7).to_json()))
        s_head, noise = framing.decode(sync[1:])
        assert sync[0] == b"sync" and s_head["seq"] == 7 and s_head["frames"] == [1] and s_head["traces"] == [1]
        assert len(noise) == 1 and noise[0].shape == (3,) and noise[0].dtype == np.float64
    finally:
        server.stop()
        server._pull.close(linger=0)
        server._pub.close(linger=0)
