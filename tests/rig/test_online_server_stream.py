"""The online server: frames and trial events in over PUSH, ΔF/F, trial responses, tuning and counters out over
SUB; bad messages and frames are counted, never fatal; the `holostim online serve` process."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from online import OnlineConfig
from rig.online_server import OnlineServer
from rig.wire import framing
from rig.wire import controller_messages as cm

REPO = Path(__file__).resolve().parents[2]
SHAPE = (48, 48)
CENTRES = [(10, 10), (10, 36), (36, 10), (36, 36), (24, 24)]
# The frames below step a cell's brightness up and down (no indicator kinetics), so trial responses are window
# means; the matched estimator, which expects GCaMP's rise and decay, is tested in tests/online.
CONFIG = OnlineConfig(reference_frames=5, trial_baseline_frames=5, response_extra_frames=0,
                      neuropil_coefficient=0.0, visual_response_estimator="window")


def _footprints() -> np.ndarray:
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    return np.stack([(yy - r) ** 2 + (xx - c) ** 2 <= 9 for r, c in CENTRES]).astype(np.float32)


def _frame(rng, fp, active: dict) -> np.ndarray:
    """Baseline 100 everywhere, cells at 200, an active cell at 200 × (1 + gain); Gaussian noise s.d. 2."""
    image = 100 + 100 * fp.max(axis=0) + rng.normal(0, 2, SHAPE)
    for cell, gain in active.items():
        image += 200 * gain * fp[cell]
    return image.astype(np.uint16)


class Peer:
    def __init__(self, server: OnlineServer):
        ctx = zmq.Context.instance()
        self.push = ctx.socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, 0)
        self.push.connect(server.endpoint)
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(server.results_endpoint)
        time.sleep(0.2)  # the subscription must reach the publisher first

    def send(self, message, arrays=()):
        self.push.send_multipart(framing.encode(message.to_json() if hasattr(message, "to_json") else message,
                                                arrays))

    def send_raw(self, parts):
        self.push.send_multipart(parts)

    def collect(self, until, timeout_s: float = 20.0) -> list:
        """Messages (topic, head, arrays) until ``until(messages)`` holds."""
        out, deadline = [], time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.sub.poll(100):
                topic, *parts = self.sub.recv_multipart()
                head, arrays = framing.decode(parts)
                out.append((topic, head, arrays))
                if until(out):
                    return out
        pytest.fail(f"timed out; got {len(out)} messages: {[t for t, *_ in out][-10:]}")

    def close(self):
        self.push.close()
        self.sub.close()


@pytest.fixture
def served():
    made = []

    def make(**kwargs):
        server = OnlineServer("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", config=CONFIG, **kwargs)
        thread = server.start_thread()
        peer = Peer(server)
        made.append((server, thread, peer))
        return server, peer

    yield make
    for server, thread, peer in made:
        server.stop()
        thread.join(timeout=10)
        peer.close()


def _report_after(peer, n_frames_seen: int) -> dict:
    peer.send(cm.ReportRequest())
    msgs = peer.collect(lambda ms: ms[-1][0] == b"report"
                        and ms[-1][1]["planes"][0]["counts"].get("frames_received", 0) >= n_frames_seen)
    return msgs[-1][1]


def test_frames_and_trials_in_responses_and_tuning_out(served):
    fp = _footprints()
    server, peer = served()
    peer.send(cm.Configure(), [fp])
    rng = np.random.default_rng(0)
    # cell 0 prefers 0°/180° (horizontal orientation), cell 1 prefers 90°/270°
    prefers = {0: (0.0, 180.0), 1: (90.0, 270.0)}
    directions = [0.0, 90.0, 180.0, 270.0] * 3
    frame, trials = 0, []
    for _ in range(20):
        peer.send(cm.OnlineFrame(frame_index=frame), [_frame(rng, fp, {})])
        frame += 1
    for t, d in enumerate(directions):
        onset = frame + 5
        peer.send(cm.TrialOn(trial=t, kind="grating", onset_frame=onset, direction_deg=d))
        trials.append((t, d))
        for i in range(15):
            active = {c: 0.5 for c, ds in prefers.items() if d in ds} if onset <= frame < onset + 5 else {}
            peer.send(cm.OnlineFrame(frame_index=frame, t_s=frame / 30), [_frame(rng, fp, active)])
            frame += 1
            if frame == onset + 5:
                peer.send(cm.TrialOff(trial=t, offset_frame=onset + 5))
    msgs = peer.collect(lambda ms: sum(t == b"trial" for t, *_ in ms) == len(directions)
                        and sum(t == b"dff" for t, *_ in ms) == frame)

    dff = [(h, a) for t, h, a in msgs if t == b"dff"]
    assert len(dff) == frame and [h["frame_index"] for h, _ in dff] == list(range(frame))
    assert all(a[0].shape == (len(CENTRES),) and a[0].dtype == np.float32 for _, a in dff)
    responses = {h["trial"]: a[0] for t, h, a in msgs if t == b"trial"}
    assert sorted(responses) == list(range(len(directions)))
    for t, d in trials:
        r = responses[t]
        for cell, ds in prefers.items():
            if d in ds:
                assert r[cell] > 0.3, (t, d, r)          # doubled brightness → ΔF/F well above baseline
            else:
                assert abs(r[cell]) < 0.1, (t, d, r)
        assert np.all(np.abs(r[2:]) < 0.1)
    tuning = [(h, a) for t, h, a in msgs if t == b"tuning"]
    assert tuning
    head, (po, osi, gosi, responsive, mean) = tuning[-1]
    assert head["n_trials"] == len(directions) and mean.shape == (len(CENTRES), 4)
    assert abs(((po[0] + 90) % 180) - 90) < 15 and abs(po[1] - 90) < 15   # orientations 0° and 90°
    assert osi[0] > 0.5 and osi[1] > 0.5 and responsive[:2].all()


def test_bad_messages_and_frames_are_counted_and_never_stop_the_server(served):
    fp = _footprints()
    server, peer = served()
    rng = np.random.default_rng(1)
    peer.send(cm.OnlineFrame(frame_index=0), [_frame(rng, fp, {})])            # before configure
    peer.send(cm.Configure(), [fp])
    peer.send(cm.OnlineFrame(frame_index=0), [_frame(rng, fp, {})])
    peer.send(cm.OnlineFrame(frame_index=1), [np.zeros((10, 10), np.uint16)])  # wrong shape
    nan = _frame(rng, fp, {}).astype(np.float32)
    nan[3, 3] = np.nan
    peer.send(cm.OnlineFrame(frame_index=2), [nan])                            # non-finite pixels
    peer.send(cm.OnlineFrame(frame_index=3, plane=4), [_frame(rng, fp, {})])   # no such plane
    peer.send(cm.OnlineFrame(frame_index=3), [])                                # no image
    peer.send_raw([b"\xff not json"])                                           # garbage
    peer.send_raw([json.dumps({"type": "frame", "frame_index": 4}).encode(),    # header/buffer mismatch
                   json.dumps({"arrays": [{"dtype": "<u2", "shape": list(SHAPE)}]}).encode(), b"\0" * 7])
    peer.send_raw([json.dumps({"type": "launch"}).encode()])                   # unknown type
    peer.send_raw([json.dumps({"type": "trial_on", "trial": 1}).encode()])     # missing fields
    peer.send(cm.TrialOn(trial=9, kind="photostim", onset_frame=50, targets=[99]))  # no such cell
    peer.send(cm.Configure(online={"reference_frames": -3}), [fp])             # invalid settings
    peer.send(cm.OnlineFrame(frame_index=5), [_frame(rng, fp, {})])            # still working
    report = _report_after(peer, 4)
    counts, plane = report["counts"], report["planes"][0]["counts"]
    assert counts["messages_before_configure"] == 1
    assert counts["frames_unknown_plane"] == 1 and counts["frames_without_image"] == 1
    assert counts["messages_malformed"] == 2 and counts["messages_unknown_type"] == 1
    assert counts["messages_invalid"] == 2 and counts["events_invalid"] == 1
    assert plane["wrong_shape"] == 1 and plane["non_finite"] == 1
    assert plane["frames_accepted"] == 2 and plane["frames_dropped"] == 2      # 3 and 4 never arrived intact
    assert report["planes"][0]["last_frame"] == 5


def test_two_planes_map_global_targets_to_each_plane(served):
    fp = _footprints()
    server, peer = served(footprints=[fp, fp[:3]])
    peer.send(cm.TrialOn(trial="s0", kind="photostim", onset_frame=40, offset_frame=45, ensemble="A",
                         targets=[1, 6]))
    peer.send(cm.ReportRequest())
    peer.collect(lambda ms: ms[-1][0] == b"report")
    assert server.pipelines[0].aligner.pending["s0"].targets == (1,)
    assert server.pipelines[1].aligner.pending["s0"].targets == (1,)             # global 6 = plane 1's cell 1


def test_the_online_serve_command_serves_and_stops(tmp_path):
    path = tmp_path / "fp.npy"
    np.save(path, _footprints())
    process = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "online", "serve", "--rig", str(REPO / "configs/rig/sim.yaml"),
         "--footprints", str(path), "--endpoint", "tcp://127.0.0.1:*", "--results", "tcp://127.0.0.1:*"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "listening on" in line, (line, process.stderr.read() if process.poll() is not None else "")
        words = line.split()
        ctx = zmq.Context.instance()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"report")
        sub.connect(words[-1])
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)       # a message the killed server never took must not block exit
        push.connect(words[4])
        time.sleep(0.3)
        push.send_multipart(framing.encode(cm.ReportRequest().to_json()))
        assert sub.poll(10_000), "no report"
        topic, body = sub.recv_multipart()
        assert json.loads(body)["planes"][0]["counts"] == {}
        push.send_multipart(framing.encode(b'{"type": "shutdown"}'))
        assert process.wait(timeout=20) == 0
        push.close(linger=0)
        sub.close(linger=0)
    finally:
        process.kill()
        process.wait(timeout=10)


def test_traces_in_blocks_are_the_per_frame_traces_and_all_arrive_before_a_sync_answer(served):
    fp = _footprints()
    frames = [_frame(np.random.default_rng(k), fp, {0: 0.3 * (k % 3)}) for k in range(11)]
    per_frame, blocks = {}, {}
    for batch, out in ((1, per_frame), (4, blocks)):
        server, peer = served(dff_every=0)
        peer.send(cm.Configure(traces=True, traces_batch=batch, tuning=False), [fp])
        for k, image in enumerate(frames):
            peer.send(cm.OnlineFrame(frame_index=k, t_s=k / 30.0), [image])
        peer.send(cm.Sync(seq=7))
        msgs = peer.collect(lambda ms: ms[-1][0] == b"sync")
        out["msgs"], out["sync"] = msgs[:-1], msgs[-1][1]
    assert [t for t, *_ in per_frame["msgs"] if t.startswith(b"traces")] == [b"traces"] * 11
    # 11 frames in blocks of 4: two full blocks as they fill, the last 3 flushed before the sync answer
    topics = [(t, len(h["frame_index"])) for t, h, _ in blocks["msgs"] if t.startswith(b"traces")]
    assert topics == [(b"traces_block", 4), (b"traces_block", 4), (b"traces_block", 3)]
    assert per_frame["sync"]["traces"] == blocks["sync"]["traces"] == [11]
    single = [(h, a) for t, h, a in per_frame["msgs"] if t == b"traces"]
    block = [(h, a) for t, h, a in blocks["msgs"] if t == b"traces_block"]
    np.testing.assert_array_equal(np.concatenate([a[0] for _, a in block]), np.stack([a[0] for _, a in single]))
    np.testing.assert_array_equal(np.concatenate([a[1] for _, a in block]), np.stack([a[1] for _, a in single]))
    assert sum((h["frame_index"] for h, _ in block), []) == [h["frame_index"] for h, _ in single] == list(range(11))
    assert sum((h["dy"] for h, _ in block), []) == [h["dy"] for h, _ in single]
