"""The controller runs sessions: a dry run started, polled, paused, resumed and finished by a client, with events
on the PUB socket; pause/abort at safe points; the `holostim controller` process."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from rig.config import load_rig
from rig.controller import Controller
from rig.runner import Progress
from rig.session import SessionReader
from rig.wire import messages as m
from rig.wire import controller_messages as cm
from rig.wire.client import ReqClient
from runner_testing import write_protocol, write_rig

REPO = Path(__file__).resolve().parents[2]


class Client:
    """A test client: typed requests over REQ, events collected from the PUB socket in a thread."""

    def __init__(self, ctl: Controller):
        self.req = ReqClient(ctl.endpoint, timeout_s=10)
        self.events: list[tuple[bytes, object]] = []
        self._stop = threading.Event()
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(ctl.events_endpoint)
        self._thread = threading.Thread(target=self._listen, args=(sub,), daemon=True)
        self._thread.start()
        time.sleep(0.2)   # let the subscription reach the publisher (PUB drops messages before that)

    def _listen(self, sub) -> None:
        model = {b"event": cm.SessionEvent, b"progress": cm.SessionStatus}
        while not self._stop.is_set():
            if sub.poll(50):
                topic, body = sub.recv_multipart()
                self.events.append((topic, model[topic].model_validate_json(body)))
        sub.close(linger=0)

    def ask(self, message) -> object:
        return m.parse(cm.ControllerReply, self.req.request_parts([message.to_json()])[0])

    def wait_for(self, predicate, timeout_s: float, what: str) -> cm.SessionStatus:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.ask(m.Status())
            if predicate(status):
                return status
            time.sleep(0.02)
        pytest.fail(f"timed out waiting for {what}; last status {status}")

    def names(self) -> list[str]:
        return [e.name for topic, e in list(self.events) if topic == b"event"]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.req.close()


@pytest.fixture
def served(tmp_path, repo_root):
    rig_path = write_rig(tmp_path, repo_root)
    made = []

    def make(runners=None):
        ctl = Controller(load_rig(rig_path), rig_path.read_text(), "tcp://127.0.0.1:*", "tcp://127.0.0.1:*",
                         runners=runners, base_dir=tmp_path)
        thread = ctl.start_thread()
        client = Client(ctl)
        made.append((ctl, thread, client))
        return ctl, client

    yield make
    for ctl, thread, client in made:
        ctl.stop()
        thread.join(timeout=60)
        client.close()


@pytest.mark.slow
def test_a_dry_run_started_paused_and_resumed_by_a_client_completes_the_session(served, tmp_path):
    ctl, client = served()
    write_protocol(tmp_path)
    reply = client.ask(cm.Start(protocol_path="tiny.yaml", seed=3, out="session.h5", dry_run=True))
    assert isinstance(reply, cm.Accepted) and reply.state == "running"
    busy = client.ask(cm.Start(protocol_path="tiny.yaml", out="other.h5"))
    assert isinstance(busy, m.ErrorReply) and "running" in busy.message          # one session at a time

    client.wait_for(lambda s: s.stage == "tuning" and s.trial >= 2, 120, "tuning trials")
    assert isinstance(client.ask(cm.Pause()), cm.Accepted)
    paused = client.wait_for(lambda s: s.state == "paused", 60, "the pause")
    assert paused.stage == "tuning" and "operator" in paused.message
    with SessionReader(tmp_path / "session.h5") as r:                          # file closed, resumable
        assert [s[0] for s in r.stages()] == ["targets", "calibration", "power_test", "closed"]
        n_tuning_before = int(np.sum(r.trials()["block"] == "tuning"))
    assert n_tuning_before >= 2
    assert client.ask(m.Ping(seq=4)).seq == 4                                   # still serving

    assert client.ask(cm.Resume()).state == "running"
    done = client.wait_for(lambda s: s.state in ("done", "failed"), 120, "the end of the session")
    assert done.state == "done", done.message
    assert done.summary["ensembles"] == 3 and done.summary["stim_trials"] == 11
    with SessionReader(tmp_path / "session.h5") as r:
        assert [s[0] for s in r.stages() if s[0] != "closed"] == [
            "targets", "calibration", "power_test", "tuning", "ensembles", "holograms", "stimulation"]
        assert r.closed_cleanly
        blocks = r.trials()["block"]
        assert np.sum(blocks == "tuning") == 10 and np.sum(blocks == "stim") == 11   # none lost or repeated

    time.sleep(0.2)
    names = client.names()
    for name in ("started", "stage", "pausing", "paused", "resumed", "done"):
        assert name in names, (name, names)
    assert names.index("paused") < names.index("resumed") < names.index("done")
    progress = [e for topic, e in list(client.events) if topic == b"progress"]
    stim = [p for p in progress if p.stage == "stimulation" and p.trial > 0 and p.state == "running"]
    assert [p.trial for p in stim] == list(range(1, 12)) and {p.n_trials for p in stim} == {11}
    assert all(p.valid_fraction is None or 0 <= p.valid_fraction <= 1 for p in progress)
    assert stim[-1].time_left_s == 0


def _fake_runner(n_trials: int, log: list):
    """A stand-in for start_session/resume_session that reports trials like the runner does."""

    def run(out, *, progress: Progress, **kwargs):
        log.append(("run", str(out), kwargs.get("seed")))
        progress.stage("tuning")
        for k in range(1, n_trials + 1):
            time.sleep(0.01)
            progress.trial("tuning", k, n_trials, k, k, float(n_trials - k))
        return {"cells": 5, "ratio": float("nan")}
    return run


def test_abort_stops_at_the_next_trial_and_cannot_be_resumed(served):
    log: list = []
    ctl, client = served(runners=(_fake_runner(100_000, log), _fake_runner(1, log)))
    client.ask(cm.Start(protocol={"name": "inline", "optimizer": {"ensembles": [{"count": 3}]}}, out="a.h5"))
    client.wait_for(lambda s: s.trial >= 3, 10, "trials")
    assert client.ask(cm.Abort()).state == "aborting"
    status = client.wait_for(lambda s: s.state == "aborted", 10, "the abort")
    assert status.trial < 1000 and "aborted" in status.message
    refused = client.ask(cm.Resume())
    assert isinstance(refused, m.ErrorReply) and "aborted" in refused.message
    assert log == [("run", str(ctl._resolve("a.h5")), 0)]


def test_a_finished_session_reports_its_summary_and_a_new_one_may_start(served):
    log: list = []
    ctl, client = served(runners=(_fake_runner(4, log), _fake_runner(1, log)))
    start = cm.Start(protocol={"name": "inline", "optimizer": {"ensembles": [{"count": 3}]}}, out="b.h5", seed=9)
    client.ask(start)
    status = client.wait_for(lambda s: s.state == "done", 10, "the end")
    assert status.summary == {"cells": 5, "ratio": None} and status.trial == status.n_trials == 4
    assert status.valid_fraction == 1.0 and status.time_left_s == 0.0
    assert isinstance(client.ask(start.model_copy(update={"out": "c.h5"})), cm.Accepted)
    client.wait_for(lambda s: s.state == "done" and s.path.endswith("c.h5"), 10, "the second session")
    assert [entry[2] for entry in log] == [9, 9]


def test_a_failing_session_is_reported_and_the_controller_stays_up(served):
    def broken(out, **kwargs):
        raise RuntimeError("simulated driver failure")

    ctl, client = served(runners=(broken, broken))
    client.ask(cm.Start(protocol={"name": "inline", "optimizer": {"ensembles": [{"count": 3}]}}, out="d.h5"))
    status = client.wait_for(lambda s: s.state == "failed", 10, "the failure")
    assert "simulated driver failure" in status.message
    assert isinstance(client.ask(m.Ping()), m.Pong)


def test_the_controller_command_serves_and_stops_on_shutdown(tmp_path, repo_root):
    process = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "controller", "--rig", str(REPO / "configs/rig/sim.yaml"),
         "--endpoint", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "listening on" in line, (line, process.stderr.read() if process.poll() is not None else "")
        endpoint = line.split()[3]
        with ReqClient(endpoint, timeout_s=10) as client:
            assert m.parse(cm.ControllerReply, client.request_parts([m.Status().to_json()])[0]).state == "idle"
            reply = m.parse(cm.ControllerReply, client.request_parts([m.Shutdown().to_json()])[0])
            assert isinstance(reply, m.ShuttingDown)
        assert process.wait(timeout=20) == 0
        assert "controller stopped" in process.stdout.read()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_non_loopback_endpoint_is_refused_with_exit_code_2():
    result = subprocess.run([sys.executable, "-m", "rig.cli", "controller", "--rig",
                             str(REPO / "configs/rig/sim.yaml"), "--endpoint", "tcp://10.1.2.3:5555"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "allow_remote" in result.stderr
