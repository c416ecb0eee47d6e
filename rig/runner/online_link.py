"""The online analysis in a child process: the session runner's side of :mod:`rig.online_server`.

``--online process`` (the default) starts ``python -m rig.online_server`` (:class:`OnlineChild`: the
:class:`~rig.online_server.OnlineServer` behind ``holostim online serve``, on free loopback ports) and
:class:`RemoteAnalysis` feeds it over ZMQ::

    runner PUSH ──configure, reference, frame, trial_on, sync, shutdown──▶ PULL child   (one ordered channel)
    runner SUB  ◀──────────── traces, trial, sync, report ──────────────── PUB  child

Frames travel as raw uint16 buffers with a dtype/shape header (:mod:`rig.wire.framing`), never pickle. Trial
events go on the same channel as the frames, so the child sees them in exactly the order the in-process pipelines
would. Results come back asynchronously and are drained whenever the runner sends; where the runner must know
what the analysis has seen (is trial *k* complete? the noise s.d. now?) it sends a ``sync`` barrier and reads
until that ``sync`` comes back: the child answers it only after everything sent before, and its publications are
ordered, so at that point every trace and trial response of the frames sent so far has arrived. Because the
runner takes exactly the same decisions at the same frames as with in-process pipelines (the simulated
microscope renders the same frames), the session file is the same in both modes.

Supervision: the child's death (``poll()``), a send the child does not take within ``timeout_s``, or silence
while the runner waits for an answer (no message for ``timeout_s``; the child publishes a report every second)
call ``on_lost("online analysis", silent_s)``: the runner's laser-off-then-pause. The child exits by itself when
its standard input closes (the runner is gone, even after ``kill -9``) and is started in its own session, so a
Ctrl-C reaches only the runner, which turns the laser off before it stops the child (:meth:`OnlineChild.stop`:
``shutdown``, stdin closed, SIGTERM, SIGKILL, each after a grace period).
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Hashable, Optional, Sequence

import numpy as np
import zmq

from online import OnlineConfig
from rig.wire import controller_messages as cm
from rig.wire import framing, messages as m

from .child import STARTUP_TIMEOUT_S, ChildProcess
from .errors import RunnerError
from .inline_analysis import PlaneRecord, TraceWriter

log = logging.getLogger(__name__)

PEER = "the online analysis process"
#: Frames of traces per publication from the child (one message and one session-file write per block, not per
#: frame); every trace arrives before the answer to a ``sync``, so nothing waits on a partial block.
TRACES_BATCH = 16
#: Frames queued on the runner's side before it waits for the child (the child queues 32 more; a frame is 0.5 MB).
_SEND_HWM = 32
#: Check that the child is alive every this many frames sent.
_CHECK_EVERY = 32
#: Longest single wait on a socket before the child's liveness is checked again, s.
_SLICE_S = 0.1


class OnlineChild(ChildProcess):
    """``python -m rig.online_server`` as a child process of the runner (see the module docstring)."""

    def __init__(self):
        super().__init__("rig.online_server", what=PEER)

    def endpoints(self, timeout_s: float = STARTUP_TIMEOUT_S) -> tuple[str, str]:
        """(frames endpoint, results endpoint) the child bound; RunnerError if it does not start."""
        announced = self.announcement(timeout_s)
        try:
            return str(announced["endpoint"]), str(announced["results"])
        except KeyError:
            self.stop()
            raise RunnerError(f"{PEER} announced {announced!r}, without its endpoints") from None


class RemoteAnalysis:
    """The online pipelines in the online server, over ZMQ; same interface as
    :class:`~rig.runner.inline_analysis.InlineAnalysis`.

    Parameters
    ----------
    on_lost : ``on_lost(peer, silent_s)``, the laser-off-then-pause handler; called once when the server is lost.
    timeout_s : a server silent this long while the runner waits for it, or not taking a frame, is lost, s.
    child : the :class:`OnlineChild` to talk to (started now, so it loads while the first stages run);
        ``None`` starts one.
    """

    def __init__(self, on_lost: Callable[[str, float], None], timeout_s: float,
                 child: Optional[OnlineChild] = None, context: Optional[zmq.Context] = None):
        self._on_lost = on_lost
        self.timeout_s = float(timeout_s)
        self.child = child or OnlineChild()
        self._context = context or zmq.Context.instance()
        self._push = self._sub = None
        self._config: Optional[OnlineConfig] = None
        self._offsets = np.zeros(1, np.int64)
        self._write: Optional[TraceWriter] = None
        self._records: list[dict] = []
        self._noise: list[np.ndarray] = []
        self._report: list[dict] = []
        self._sent: list[int] = []
        self._traces: list[int] = []
        self._seq = 0
        self._dirty = True
        self._lost = False
        self._closed = False
        self._frames_answered: list[int] = []
        self._traces_expected: list[int] = []
        self._last_heard = time.monotonic()

    # ------------------------------------------------------------------------------------------------ set-up
    @property
    def attached(self) -> bool:
        return self._config is not None

    @property
    def config(self) -> OnlineConfig:
        return self._config

    def attach(self, footprints: Sequence, plane_rows: Sequence[np.ndarray], frame_shape, config: OnlineConfig,
               write: TraceWriter) -> None:
        """Connect, wait for the child, and configure its pipelines with the runner's sparse footprints."""
        endpoint, results = self.child.endpoints()
        self._push = self._context.socket(zmq.PUSH)
        self._push.setsockopt(zmq.LINGER, 0)
        self._push.setsockopt(zmq.SNDHWM, _SEND_HWM)
        self._push.connect(endpoint)
        self._sub = self._context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, 0)                     # never drop a trace or a response
        for topic in (b"traces", b"trial", b"sync", b"report"):      # b"traces" also matches b"traces_block"
            self._sub.setsockopt(zmq.SUBSCRIBE, topic)
        self._sub.connect(results)
        self._handshake()
        arrays = []
        for fp in footprints:
            csr = fp.tocsr()
            arrays += [csr.data, csr.indices, csr.indptr]
        message = cm.Configure(online=config.model_dump(mode="json"), encoding="csr",
                               frame_shape=tuple(int(n) for n in frame_shape), traces=True,
                               traces_batch=TRACES_BATCH,
                               tuning=False)     # the tuning stage fits tuning from the responses itself
        self._send(framing.encode(message.to_json(), arrays), STARTUP_TIMEOUT_S)
        self._write = write
        self._records = [dict() for _ in footprints]
        self._sent = [0] * len(footprints)
        self._traces = [0] * len(footprints)
        self._offsets = np.cumsum([0] + [fp.shape[0] for fp in footprints])
        self._config = config
        self.sync(STARTUP_TIMEOUT_S)                             # the pipelines exist (and how many) before frames
        if len(self._noise) != len(footprints):
            raise RunnerError(f"the online analysis configured {len(self._noise)} planes, expected "
                              f"{len(footprints)}")

    def _handshake(self) -> None:
        """Send ``sync`` until one comes back: the subscription is then live (PUB drops what is published
        before a subscriber has joined)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            self._seq += 1
            self._send(framing.encode(cm.Sync(seq=self._seq).to_json()), STARTUP_TIMEOUT_S)
            if self._sub.poll(200):
                while self._sub.poll(0):
                    topic, head, _ = self._decode(self._sub.recv_multipart())
                    if topic == b"sync" and head.get("seq") == self._seq:
                        return
            self._check_child()
        raise RunnerError(f"the online analysis process did not answer within {STARTUP_TIMEOUT_S:g} s")

    def set_references(self, refs: Sequence[np.ndarray]) -> None:
        for plane, ref in enumerate(refs):
            self._send(framing.encode(cm.Reference(plane=plane).to_json(), [np.asarray(ref)]))
        self._dirty = True

    # ------------------------------------------------------------------------------------------------ stream
    def frame(self, plane: int, image, volume: int, t: float) -> None:
        head = cm.OnlineFrame(plane=plane, frame_index=int(volume), t_s=float(t)).to_json()
        # zero-copy: the image is a fresh array per frame that nothing modifies after it is acquired
        self._send(framing.encode(head, [np.asarray(image)]), copy=False)
        self._sent[plane] += 1
        self._dirty = True
        if sum(self._sent) % _CHECK_EVERY == 0:
            self._check_child()
        self._drain()

    def add_trial(self, key: Hashable, kind: str, onset: int, offset: int, targets: Optional[list], *,
                  direction_deg, ensemble, power_mw) -> None:
        """``targets`` per plane as that plane's footprint indices → the server's indices over all planes."""
        glob = None
        if targets is not None:
            glob = [int(self._offsets[k] + t) for k, local in enumerate(targets) for t in local]
        message = cm.TrialOn(trial=key, kind=kind, onset_frame=int(onset), offset_frame=int(offset),
                             direction_deg=direction_deg, ensemble=ensemble, targets=glob, power_mw=power_mw)
        self._send(framing.encode(message.to_json()))
        self._dirty = True

    def completed(self, key: Hashable) -> bool:
        self.sync()
        return all(key in r for r in self._records)

    def take(self, key: Hashable) -> list[Optional[PlaneRecord]]:
        return [r.pop(key, None) for r in self._records]

    def noise_sd(self) -> list[np.ndarray]:
        if self._dirty:
            self.sync()
        return list(self._noise)

    def report(self) -> list[dict]:
        self._send(framing.encode(cm.ReportRequest().to_json()))
        self.sync()
        return self._report

    def flush(self) -> None:
        if self._dirty and self.attached:
            self.sync()

    # ------------------------------------------------------------------------------------------------ barrier
    def sync(self, timeout_s: Optional[float] = None) -> None:
        """Send a ``sync`` and take in everything the server published until it answers it."""
        self._seq += 1
        self._send(framing.encode(cm.Sync(seq=self._seq).to_json()))
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        self._last_heard = time.monotonic()
        while True:
            if not self._sub.poll(int(_SLICE_S * 1000)):
                self._check_child()
                silent = time.monotonic() - self._last_heard
                if silent > timeout_s:
                    self._lose(silent)
                continue
            while self._sub.poll(0):
                if self._take(self._sub.recv_multipart(copy=False)) == self._seq:
                    sent, got = self._sent, self._frames_answered
                    if got != sent or self._traces_expected != self._traces:
                        raise RunnerError(f"the online analysis lost results: frames sent {sent}, analysed {got}; "
                                          f"traces published {self._traces_expected}, received {self._traces}")
                    self._dirty = False
                    return

    def _drain(self) -> None:
        """Take in whatever the server has published (never waits)."""
        while self._sub.poll(0):
            self._take(self._sub.recv_multipart(copy=False))

    @staticmethod
    def _decode(parts) -> tuple[bytes, dict, list[np.ndarray]]:
        topic = bytes(getattr(parts[0], "buffer", parts[0]))
        head, arrays = framing.decode(parts[1:])
        return topic, head, arrays

    def _take(self, parts) -> Optional[int]:
        """Handle one publication; returns the ``seq`` of a ``sync`` answer, else None."""
        self._last_heard = time.monotonic()
        topic, head, arrays = self._decode(parts)
        if topic == b"traces_block":
            plane = int(head["plane"])
            self._traces[plane] += len(head["frame_index"])
            self._write(plane, arrays[0], arrays[1], np.asarray(head["frame_index"], np.int64),
                        np.asarray(head["t_s"], np.float64), np.asarray(head["dy"]), np.asarray(head["dx"]))
        elif topic == b"traces":
            plane = int(head["plane"])
            self._traces[plane] += 1
            self._write(plane, arrays[0], arrays[1], int(head["frame_index"]), float(head["t_s"]),
                        float(head["dy"]), float(head["dx"]))
        elif topic == b"trial":
            shift = head["max_shift_px"]
            self._records[int(head["plane"])][head["trial"]] = PlaneRecord(
                arrays[0].copy(), int(head["n_baseline_frames"]), int(head["n_response_frames"]),
                float("nan") if shift is None else float(shift))
        elif topic == b"report":
            self._report = head.get("planes", [])
        elif topic == b"sync":
            if head["seq"] == self._seq:
                self._noise = [a.copy() for a in arrays]
                self._frames_answered = list(head["frames"])
                self._traces_expected = list(head["traces"])
            return int(head["seq"])
        return None

    # ------------------------------------------------------------------------------------------------ faults
    def _send(self, parts: list, timeout_s: Optional[float] = None, copy: bool = True) -> None:
        """Send one message; the child not taking it within ``timeout_s`` (or dead) is lost."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        start = time.monotonic()
        while True:
            try:
                self._push.send_multipart(parts, flags=zmq.NOBLOCK, copy=copy)
                return
            except zmq.Again:
                pass
            self._check_child()
            waited = time.monotonic() - start
            if waited > timeout_s:
                self._lose(waited)
            self._push.poll(int(_SLICE_S * 1000), zmq.POLLOUT)

    def _check_child(self) -> None:
        if not self.child.alive():
            self._lose(time.monotonic() - self._last_heard, f"exit code {self.child.proc.returncode}")

    def _lose(self, silent_s: float, why: str = "") -> None:
        """Laser off and pause (``on_lost``); if that returns, stop the session anyway."""
        if not self._lost and not self._closed:          # closing: the runner has already stopped the laser
            self._lost = True
            log.error("online analysis process lost%s", f" ({why})" if why else "")
            self._on_lost(PEER, silent_s)
        raise RunnerError(f"lost the online analysis process{f' ({why})' if why else ''}")

    # ------------------------------------------------------------------------------------------------ close
    def close(self, drain_s: float = 5.0) -> None:
        """Take in the results still on the way (when the child is healthy), then stop the child."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.attached and not self._lost and self.child.alive():
                try:
                    self.sync(drain_s)
                except Exception:  # noqa: BLE001 - closing goes on; the runner has already stopped the laser
                    log.warning("online analysis: results of the last frames could not be collected")
            if self._push is not None and self.child.alive():
                try:
                    self._push.send_multipart([m.Shutdown().to_json()], flags=zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass
        finally:
            for sock in (self._push, self._sub):
                if sock is not None:
                    sock.close(linger=0)
            self.child.stop()
