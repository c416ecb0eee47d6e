"""The controller: a command server that runs sessions (``holostim controller``).

It answers requests on one REP socket (``zmq.controller`` of the rig profile, loopback unless ``allow_remote``),
one reply per request, in the models of :mod:`rig.wire.controller_messages`:

* ``start`` (protocol path or inline fields, seed, out, dry_run): a session starts in a worker thread
  (:func:`rig.runner.start_session`); ``status``: stage, trial k/n, valid fraction, time left;
* ``pause`` / ``abort``: the session stops at its next safe point — after the trial in progress is committed,
  or between stages — through the runner's own pause path (laser off, file closed consistently); ``resume``
  continues a paused session from its file (:func:`rig.runner.resume_session`);
* ``ping``, ``shutdown`` (aborts a running session first, then exits).

Events and progress are published on a PUB socket (``zmq.events``) as ``[b"event", SessionEvent]`` and
``[b"progress", SessionStatus]``. A malformed, unknown or invalid message gets an
:class:`~rig.wire.messages.ErrorReply` and the controller keeps serving. Only the serving thread touches the
sockets: the worker hands its publications over through a queue.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import zmq

from rig.runner import Progress, SessionPaused
from rig.wire import framing, messages as m
from rig.wire import controller_messages as cm
from rig.wire.errors import WireError

log = logging.getLogger(__name__)

#: Largest request part accepted, bytes: commands are small JSON; ZMQ drops a peer that sends more.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
_ACTIVE = ("running", "pausing", "aborting")


class OperatorStop(SessionPaused):
    """Raised at a safe point when the operator asked to pause or abort (the runner then stops safely)."""


class ControllerProgress(Progress):
    """The runner's progress sink: records stage and trial counts, publishes them, and stops at safe points.

    Safe points are the start of a stage (the previous one is written) and the commit of a trial of a trial
    block; a mask of the ``holograms`` stage is not one (that stage is redone as a whole on resume anyway).
    """

    def __init__(self, controller: "Controller"):
        super().__init__(enabled=False)
        self._controller = controller

    def stage(self, name: str, detail: str = "") -> None:
        self._controller._on_stage(name)
        self._controller._checkpoint()

    def trial(self, stage: str, k: int, n: int, valid: int, done: int, t_left_s: float, unit: str = "trial") -> None:
        self._controller._on_trial(stage, k, n, valid, done, t_left_s)
        if unit == "trial":
            self._controller._checkpoint()

    def message(self, text: str) -> None:
        self._controller._publish_event("message", message=text)


class Controller:
    """Serve session commands over ZMQ.

    Parameters
    ----------
    rig : the :class:`rig.config.RigProfile` sessions run on; ``rig_text`` its YAML (stored in session files).
    endpoint : REP endpoint to bind (``tcp://127.0.0.1:*`` picks a free port; see :attr:`endpoint`).
    events_endpoint : PUB endpoint to bind (see :attr:`events_endpoint`).
    runners : ``(start, resume)`` callables with the signatures of :func:`rig.runner.start_session` and
        :func:`rig.runner.resume_session` (injectable for tests).
    base_dir : relative ``protocol_path``/``out`` of a ``start`` are resolved against it (default: the cwd).
    """

    def __init__(self, rig, rig_text: str = "", endpoint: str = "tcp://127.0.0.1:5555",
                 events_endpoint: str = "tcp://127.0.0.1:5556", context: Optional[zmq.Context] = None,
                 runners: Optional[tuple[Callable, Callable]] = None, base_dir: Optional[Path] = None,
                 clock: Callable[[], float] = time.monotonic):
        context = context or zmq.Context.instance()
        self.rig, self.rig_text = rig, rig_text
        self._clock = clock
        self._base = Path(base_dir) if base_dir is not None else None
        if runners is None:
            from rig.runner import resume_session, start_session
            runners = (start_session, resume_session)
        self._start_session, self._resume_session = runners
        self._socket = context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
        self._pub = context.socket(zmq.PUB)
        self._pub.setsockopt(zmq.LINGER, 500)
        try:
            self._socket.bind(endpoint)
            self._pub.bind(events_endpoint)
        except zmq.ZMQError:
            self._socket.close(linger=0)
            self._pub.close(linger=0)
            raise
        self.endpoint: str = self._socket.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.events_endpoint: str = self._pub.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._outbox: "queue.Queue[list[bytes]]" = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pause_requested = threading.Event()
        self._abort_requested = threading.Event()
        self._worker: Optional[threading.Thread] = None
        self._started_s = clock()
        self.errors = 0
        self._state: str = "idle"
        self._path, self._stage, self._message = "", "", ""
        self._trial = self._n_trials = 0
        self._valid_fraction: Optional[float] = None
        self._time_left_s: Optional[float] = None
        self._wall_left_s: Optional[float] = None
        self._block_start: Optional[tuple[float, int]] = None
        self._summary: Optional[dict] = None
        self._handlers = {m.Ping: self._ping, m.Status: self._status, cm.Start: self._start, cm.Pause: self._pause,
                          cm.Resume: self._resume, cm.Abort: self._abort, m.Shutdown: self._shutdown}
        log.info("controller on %s, events on %s", self.endpoint, self.events_endpoint)

    # ------------------------------------------------------------------------------------------------- serving
    def serve(self, poll_ms: int = 20) -> None:
        """Answer requests and publish until ``shutdown`` or :meth:`stop`; then stop a running session at its
        next safe point, wait for it, and close the sockets."""
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if poller.poll(poll_ms):
                    parts = self._socket.recv_multipart(copy=False)
                    self._socket.send_multipart(self.handle(parts))
                self._flush()
            self._abort_requested.set()
            worker = self._worker
            if worker is not None:
                while worker.is_alive():
                    worker.join(0.05)
                    self._flush()
            self._flush()
        finally:
            self._socket.close(linger=500)
            self._pub.close(linger=500)
            log.info("controller on %s stopped", self.endpoint)

    def stop(self) -> None:
        """Ask :meth:`serve` to return (thread- and signal-safe)."""
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        """Serve in a daemon thread (tests, a controller inside another process)."""
        thread = threading.Thread(target=self.serve, name="controller", daemon=True)
        thread.start()
        return thread

    def _flush(self) -> None:
        while True:
            try:
                parts = self._outbox.get_nowait()
            except queue.Empty:
                return
            self._pub.send_multipart(parts)

    def handle(self, parts: Sequence) -> list[bytes]:
        """One request's parts → the reply's parts. Never raises: every failure becomes an error reply."""
        request_type = None
        try:
            message, arrays = framing.decode(parts)
            request = m.parse(cm.ControllerRequest, message)
            request_type = request.type
            if arrays:
                raise WireError(f"a {request.type!r} message carries no arrays, got {len(arrays)}", "invalid")
            reply = self._handlers[type(request)](request)
        except WireError as err:
            reply = self._error(err.kind, str(err), request_type)
        except Exception as err:  # noqa: BLE001 - nothing a client sends may take the controller down
            log.exception("request %s failed", request_type)
            reply = self._error("internal", f"{type(err).__name__}: {err}", request_type)
        return [reply.to_json()]

    def _error(self, kind: str, message: str, request_type: Optional[str]) -> m.ErrorReply:
        self.errors += 1
        return m.ErrorReply(error=kind, message=message[:2000], request_type=request_type)

    # ------------------------------------------------------------------------------------------------ handlers
    def _ping(self, request: m.Ping) -> m.Pong:
        return m.Pong(seq=request.seq, server_s=self._clock())

    def _status(self, request=None) -> cm.SessionStatus:
        with self._lock:
            return cm.SessionStatus(
                state=self._state, path=self._path, stage=self._stage, trial=self._trial, n_trials=self._n_trials,
                valid_fraction=self._valid_fraction, time_left_s=self._time_left_s, wall_left_s=self._wall_left_s,
                message=self._message[:2000], summary=self._summary)

    def _start(self, request: cm.Start) -> cm.Accepted:
        with self._lock:
            if self._state in _ACTIVE:
                raise WireError(f"a session is {self._state} ({self._path}); abort it or wait before starting "
                                f"another", "invalid")
        protocol, protocol_text = self._protocol(request)
        backend = "sim" if request.dry_run else "hardware"
        if self.rig.backend != backend:
            raise WireError(f"dry_run={str(request.dry_run).lower()} needs a rig with backend {backend!r}; this "
                            f"controller's rig has {self.rig.backend!r}", "invalid")
        out = self._resolve(request.out)
        if out.exists() and not request.overwrite:
            raise WireError(f"{out} exists; send overwrite=true to replace it, or another out", "invalid")

        def body():
            return self._start_session(out, rig=self.rig, protocol=protocol, seed=request.seed,
                                       rig_text=self.rig_text, protocol_text=protocol_text,
                                       progress=ControllerProgress(self), overwrite=request.overwrite,
                                       extra={"protocol_name": protocol.name, "started_by": "controller"})

        self._launch(body, str(out), "started")
        return cm.Accepted(request_type="start", state="running")

    def _protocol(self, request: cm.Start):
        """(Protocol, its YAML text) from a start request; refusals as WireError('invalid')."""
        import yaml

        from rig.config import ConfigError, load_protocol, validate_mapping
        try:
            if request.protocol_path is not None:
                path = self._resolve(request.protocol_path)
                if not path.is_file():
                    raise WireError(f"protocol_path {path} is not a file on the controller's machine", "invalid")
                return load_protocol(path), path.read_text(encoding="utf-8")
            data = dict(request.protocol)
            data.setdefault("kind", "protocol")
            return validate_mapping(data, "protocol", source="inline protocol"), yaml.safe_dump(data)
        except ConfigError as err:
            raise WireError(str(err), "invalid") from None

    def _resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() or self._base is None else self._base / p

    def _pause(self, request: cm.Pause) -> cm.Accepted:
        with self._lock:
            if self._state != "running":
                raise WireError(f"no running session to pause (state {self._state})", "invalid")
            self._state = "pausing"
        self._pause_requested.set()
        self._publish_event("pausing", message="pausing after the trial in progress")
        return cm.Accepted(request_type="pause", state="pausing")

    def _resume(self, request: cm.Resume) -> cm.Accepted:
        with self._lock:
            if self._state != "paused":
                raise WireError(f"no paused session to resume (state {self._state})", "invalid")
            path = Path(self._path)

        def body():
            return self._resume_session(path, progress=ControllerProgress(self))

        self._launch(body, str(path), "resumed")
        return cm.Accepted(request_type="resume", state="running")

    def _abort(self, request: cm.Abort) -> cm.Accepted:
        with self._lock:
            state = self._state
            if state == "paused":
                self._state = "aborted"
            elif state in ("running", "pausing"):
                self._state = "aborting"
            else:
                raise WireError(f"no session to abort (state {state})", "invalid")
            new_state = self._state
        if new_state == "aborting":
            self._abort_requested.set()
        self._publish_event(new_state, message="aborted by the operator" if new_state == "aborted"
                            else "stopping at the next safe point")
        return cm.Accepted(request_type="abort", state=new_state)

    def _shutdown(self, request: m.Shutdown) -> m.ShuttingDown:
        log.info("shutdown requested")
        self._stop.set()
        return m.ShuttingDown()

    # ------------------------------------------------------------------------------------------------- worker
    def _launch(self, body: Callable[[], dict], path: str, event: str) -> None:
        self._pause_requested.clear()
        self._abort_requested.clear()
        with self._lock:
            self._state, self._path, self._message, self._summary = "running", path, "", None
            self._stage, self._trial, self._n_trials = "", 0, 0
            self._valid_fraction = self._time_left_s = self._wall_left_s = None
        self._publish_event(event, message=path)
        self._worker = threading.Thread(target=self._run, args=(body,), name="controller-session", daemon=True)
        self._worker.start()

    def _run(self, body: Callable[[], dict]) -> None:
        """The worker: run the session and record how it ended (never raises)."""
        summary, message = None, ""
        try:
            summary = body()
            state = "done"
        except OperatorStop as err:
            state, message = ("aborted" if self._abort_requested.is_set() else "paused"), str(err)
        except SessionPaused as err:
            state, message = ("aborted" if self._abort_requested.is_set() else "paused"), str(err)
        except BaseException as err:  # noqa: BLE001 - report every failure, keep the controller up
            log.exception("session failed")
            state, message = "failed", f"{type(err).__name__}: {err}"
        with self._lock:
            self._state, self._message = state, message
            self._summary = _jsonable(summary) if summary is not None else None
        self._publish_event(state, message=message)
        self._publish_progress()

    def _checkpoint(self) -> None:
        """At a safe point: stop if the operator asked to (the runner turns the laser off and closes the file)."""
        if self._abort_requested.is_set():
            raise OperatorStop("aborted by the operator: laser off, trials so far are saved")
        if self._pause_requested.is_set():
            raise OperatorStop("paused by the operator: laser off, trials so far are saved; send 'resume' to "
                               "continue")

    def _on_stage(self, name: str) -> None:
        with self._lock:
            self._stage, self._trial, self._n_trials = name, 0, 0
            self._valid_fraction = self._time_left_s = self._wall_left_s = None
            self._block_start = None
        self._publish_event("stage")
        self._publish_progress()

    def _on_trial(self, stage: str, k: int, n: int, valid: int, done: int, t_left_s: float) -> None:
        now = time.perf_counter()
        with self._lock:
            if self._block_start is None:
                self._block_start = (now, k - 1)
            t0, k0 = self._block_start
            rate = (k - k0) / max(now - t0, 1e-9)
            self._trial, self._n_trials = int(k), int(n)
            self._valid_fraction = valid / done if done else None
            self._time_left_s = float(t_left_s) if t_left_s == t_left_s else None
            self._wall_left_s = (n - k) / rate if rate > 0 else None
        self._publish_progress()

    # ------------------------------------------------------------------------------------------------ publish
    def _publish_event(self, name: str, message: str = "") -> None:
        with self._lock:
            event = cm.SessionEvent(name=name, state=self._state, stage=self._stage, message=message[:2000],
                                    t_s=self._clock() - self._started_s)
        self._outbox.put([b"event", event.to_json()])

    def _publish_progress(self) -> None:
        self._outbox.put([b"progress", self._status().to_json()])


def _jsonable(summary: dict) -> dict:
    """The runner's summary with numpy scalars as plain numbers (and anything else as text)."""
    out = {}
    for key, value in summary.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[str(key)] = value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
    return out
