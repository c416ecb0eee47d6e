"""The SLM server: the process that owns the SLM, holds the session's masks and switches on command.

It answers requests on one REP socket (``zmq.slm_server`` of the rig profile, loopback by default), one reply
per request, in the models of :mod:`rig.wire.messages`:

* ``load_masks`` (+ arrays): the session's masks, up front, as device levels or float32 phases with a LUT. They are
  checked (shape, dtype, finite) and converted *before* the SLM sees them: a mask that fails never reaches it.
* ``show`` index: the SLM shows that precomputed mask; the reply carries when the write completed.
* ``heartbeat``/``ping``/``status``: signs of life and state; ``shutdown``: reply, close the SLM, exit.

A malformed, unknown or invalid message, or a driver failure, gets an :class:`~rig.wire.messages.ErrorReply`
and the server keeps serving.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional, Sequence

import numpy as np
import zmq

from rig.hardware.errors import MaskError
from rig.hardware.masks import check_levels, phase_to_levels
from rig.hardware.protocols import SLM
from rig.wire import framing, messages as m
from rig.wire.errors import WireError

log = logging.getLogger(__name__)

#: Largest message part the server accepts, bytes (ZMQ drops the connection of a peer sending more).
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024**3


class SlmServer:
    """Serve an SLM over ZMQ.

    Parameters
    ----------
    slm : any :class:`rig.hardware.SLM` (a real driver, ``sims.MockSLM`` or :class:`rig.drivers.null_slm.NullSLM`).
    endpoint : where to bind, e.g. ``tcp://127.0.0.1:5557`` or ``tcp://127.0.0.1:*`` (a free port; see
        :attr:`endpoint` for the one bound).
    context : ZMQ context (default: the process's shared one).
    max_message_bytes : largest message part accepted, bytes.
    clock : monotonic clock, seconds.
    """

    def __init__(self, slm: SLM, endpoint: str = "tcp://127.0.0.1:5557", context: Optional[zmq.Context] = None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, clock: Callable[[], float] = time.monotonic):
        self.slm = slm
        self._clock = clock
        self._socket = (context or zmq.Context.instance()).socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, int(max_message_bytes))
        self._socket.bind(endpoint)
        self.endpoint: str = self._socket.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._started_s = clock()
        self._session_id = ""
        self._count = 0
        self._shown_count = 0
        self._last_index: Optional[int] = None
        self.errors = 0
        self.last_request_s: Optional[float] = None
        self._stop = threading.Event()
        self._handlers: dict[type, Callable] = {
            m.Ping: self._ping, m.Heartbeat: self._heartbeat, m.LoadMasks: self._load_masks,
            m.ShowMask: self._show, m.Status: self._status, m.Shutdown: self._shutdown}
        log.info("SLM server on %s (SLM %s × %s, %d-bit)", self.endpoint, *slm.shape, slm.bit_depth)

    # ------------------------------------------------------------------------------------------------- serving
    def serve(self, poll_ms: int = 100) -> None:
        """Answer requests until a ``shutdown`` request or :meth:`stop`; closes the socket (not the SLM) at the end.

        Polls with a timeout so a stop request (e.g. from a SIGINT handler) is noticed within ``poll_ms``.
        """
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if not poller.poll(poll_ms):
                    continue
                parts = self._socket.recv_multipart(copy=False)
                received_s = self._clock()
                self._socket.send_multipart(self.handle(parts, received_s))
        finally:
            self._socket.close(linger=500)  # let the last reply (e.g. to shutdown) leave
            log.info("SLM server on %s stopped", self.endpoint)

    def stop(self) -> None:
        """Ask :meth:`serve` to return (thread- and signal-safe)."""
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        """Serve in a daemon thread (tests, benchmarks, a dry run in one process)."""
        thread = threading.Thread(target=self.serve, name="slm-server", daemon=True)
        thread.start()
        return thread

    def handle(self, parts: Sequence, received_s: Optional[float] = None) -> list[bytes]:
        """One request's parts → the reply's parts. Never raises: every failure becomes an error reply."""
        received_s = self._clock() if received_s is None else received_s
        self.last_request_s = received_s
        request_type = None
        try:
            message, arrays = framing.decode(parts)
            request = m.parse(m.SlmRequest, message)
            request_type = request.type
            if arrays and not isinstance(request, m.LoadMasks):
                raise WireError(f"a {request.type!r} message carries no arrays, got {len(arrays)}", "invalid")
            reply = self._handlers[type(request)](request, arrays, received_s)
        except WireError as err:
            reply = self._error(err.kind, str(err), request_type)
        except MaskError as err:
            reply = self._error("mask_rejected", str(err), request_type)
        except Exception as err:  # noqa: BLE001 - a driver failure must not take the server down
            log.exception("request %s failed", request_type)
            kind = "slm_error" if request_type in ("load_masks", "show") else "internal"
            reply = self._error(kind, f"{type(err).__name__}: {err}", request_type)
        return [reply.to_json()]

    def _error(self, kind: str, message: str, request_type: Optional[str]) -> m.ErrorReply:
        self.errors += 1
        log.debug("error reply (%s): %s", kind, message)
        return m.ErrorReply(error=kind, message=message, request_type=request_type)

    # ------------------------------------------------------------------------------------------------ handlers
    def _ping(self, request: m.Ping, arrays, received_s: float) -> m.Pong:
        return m.Pong(seq=request.seq, server_s=received_s)

    def _heartbeat(self, request: m.Heartbeat, arrays, received_s: float) -> m.HeartbeatAck:
        return m.HeartbeatAck(peer=request.peer, seq=request.seq, sent_s=request.sent_s, server_s=received_s)

    def _load_masks(self, request: m.LoadMasks, arrays: list[np.ndarray], received_s: float) -> m.MasksLoaded:
        levels = self._levels(request, arrays)
        self.slm.load_masks(levels)
        self._session_id, self._count, self._last_index = request.session_id, int(levels.shape[0]), None
        log.info("session %r: %d masks loaded", request.session_id, self._count)
        return m.MasksLoaded(session_id=request.session_id, count=self._count, shape=tuple(levels.shape[1:]),
                             dtype=levels.dtype.name)

    def _levels(self, request: m.LoadMasks, arrays: list[np.ndarray]) -> np.ndarray:
        """Check (and for phases, convert) the masks of a load request; raises MaskError/WireError."""
        shape, bits = tuple(self.slm.shape), int(self.slm.bit_depth)
        if request.encoding == "levels":
            if len(arrays) != 1:
                raise WireError(f"load_masks with encoding 'levels' carries 1 array (the masks), got {len(arrays)}",
                                "invalid")
            return check_levels(arrays[0], shape, bits)
        if len(arrays) not in (1, 2):
            raise WireError(f"load_masks with encoding 'phase' carries the masks and optionally a LUT, "
                            f"got {len(arrays)} arrays", "invalid")
        if arrays[0].dtype != np.float32:
            raise MaskError(f"phase masks must be float32 radians, got {arrays[0].dtype}")
        return phase_to_levels(arrays[0], shape, bits, arrays[1] if len(arrays) == 2 else None)

    def _show(self, request: m.ShowMask, arrays, received_s: float) -> m.Shown:
        if self._count == 0:
            raise WireError("no masks loaded: send load_masks first", "not_loaded")
        if request.index >= self._count:
            raise WireError(f"mask index {request.index} out of range: {self._count} masks loaded", "invalid")
        shown_s = self.slm.show(request.index)
        self._shown_count += 1
        self._last_index = request.index
        return m.Shown(index=request.index, seq=request.seq, shown_s=shown_s, latency_s=shown_s - received_s)

    def _status(self, request: m.Status, arrays, received_s: float) -> m.StatusReply:
        return m.StatusReply(session_id=self._session_id, slm_shape=tuple(self.slm.shape),
                             bit_depth=int(self.slm.bit_depth), masks_loaded=self._count,
                             shown_count=self._shown_count, last_index=self._last_index,
                             uptime_s=received_s - self._started_s, errors=self.errors)

    def _shutdown(self, request: m.Shutdown, arrays, received_s: float) -> m.ShuttingDown:
        log.info("shutdown requested")
        self._stop.set()
        return m.ShuttingDown()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The session runner's child process for a dry run: an SLM server on loopback until stdin closes,
    SIGTERM/SIGINT or ``shutdown``. The SLM is a :class:`rig.drivers.null_slm.NullSLM` of the given shape: the
    simulated microscope in the runner mirrors what this server acknowledges it shows (the light path between an
    SLM and the tissue). Prints one JSON line, ``{"endpoint": …}``, once bound."""
    import argparse
    import json
    import signal

    from rig.drivers.null_slm import NullSLM
    from rig.lifeline import watch_stdin

    parser = argparse.ArgumentParser(prog="python -m rig.slm_server",
                                     description="SLM server as a child of a session runner (dry runs)")
    parser.add_argument("--shape", type=int, nargs=2, default=(1152, 1920), metavar=("ROWS", "COLS"))
    parser.add_argument("--bit-depth", type=int, choices=(8, 16), default=8)
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:*", help="REP endpoint (loopback)")
    parser.add_argument("--log-level", default="WARNING", help="logging level of this process")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="slm server: %(levelname)s %(message)s")
    if not args.endpoint.startswith(("tcp://127.0.0.1:", "tcp://localhost:", "ipc://", "inproc://")):
        raise SystemExit(f"python -m rig.slm_server binds loopback only, got {args.endpoint}; "
                         "use `holostim slm-server` for a server other computers reach")
    slm = NullSLM(tuple(args.shape), args.bit_depth)
    server = SlmServer(slm, args.endpoint)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop())
    watch_stdin(server.stop)
    print(json.dumps({"endpoint": server.endpoint}), flush=True)
    try:
        server.serve(poll_ms=20)
    finally:
        slm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
