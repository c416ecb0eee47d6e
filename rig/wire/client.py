"""Request/reply clients: a generic one with timeouts, and the SLM server's client.

A client never blocks forever: every request waits at most ``timeout_s`` (ZMQ poll) and then raises
:class:`PeerTimeout`, after which the socket is usable again (REQ_RELAXED + REQ_CORRELATE). An error reply from
the server raises :class:`PeerError` with the server's message.
"""
from __future__ import annotations

import time
from typing import Optional, Sequence

import numpy as np
import zmq

from rig.wire import framing, messages as m
from rig.wire.errors import WireError


class PeerTimeout(WireError):
    """A peer did not reply in time."""

    def __init__(self, message: str):
        super().__init__(message, "timeout")


class PeerError(WireError):
    """A peer answered with an error reply; ``reply`` is the :class:`~rig.wire.messages.ErrorReply`."""

    def __init__(self, reply: m.ErrorReply):
        super().__init__(f"{reply.request_type or 'request'} refused ({reply.error}): {reply.message}", reply.error)
        self.reply = reply


class ReqClient:
    """A REQ socket that sends multipart requests and waits at most ``timeout_s`` for each reply."""

    def __init__(self, endpoint: str, timeout_s: float = 2.0, context: Optional[zmq.Context] = None):
        self.endpoint = endpoint
        self.timeout_s = float(timeout_s)
        self._socket = (context or zmq.Context.instance()).socket(zmq.REQ)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.REQ_RELAXED, 1)
        self._socket.setsockopt(zmq.REQ_CORRELATE, 1)
        self._socket.connect(endpoint)

    def request_parts(self, parts: Sequence, timeout_s: Optional[float] = None) -> list[bytes]:
        """Send raw parts, return the reply's parts; raises :class:`PeerTimeout` after ``timeout_s``."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        self._socket.send_multipart(list(parts), copy=False)
        if not self._socket.poll(int(timeout_s * 1000), zmq.POLLIN):
            raise PeerTimeout(f"no reply from {self.endpoint} within {timeout_s:g} s; is the server running?")
        return self._socket.recv_multipart()

    def close(self) -> None:
        self._socket.close(linger=0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SlmClient(ReqClient):
    """Client of :class:`rig.slm_server.SlmServer`. Every method returns the typed reply or raises."""

    def request(self, message: m.WireModel, arrays: Sequence[np.ndarray] = (),
                timeout_s: Optional[float] = None) -> m.WireModel:
        parts = self.request_parts(framing.encode(message.to_json(), arrays), timeout_s)
        reply = m.parse(m.SlmReply, parts[0])
        if isinstance(reply, m.ErrorReply):
            raise PeerError(reply)
        return reply

    def ping(self, seq: int = 0) -> m.Pong:
        return self.request(m.Ping(seq=seq))

    def heartbeat(self, peer: str, seq: int = 0) -> m.HeartbeatAck:
        return self.request(m.Heartbeat(peer=peer, seq=seq, sent_s=time.monotonic()))

    def load_masks(self, masks: np.ndarray, lut: Optional[np.ndarray] = None, session_id: str = "",
                   timeout_s: Optional[float] = None) -> m.MasksLoaded:
        """Send the session's masks: device levels (uint8/uint16) or float32 phases (radians) with optional LUT.

        Large stacks take time to send and convert: the timeout defaults to the client's plus 1 s per 100 MB.
        """
        masks = np.asarray(masks)
        encoding = "phase" if masks.dtype.kind == "f" else "levels"
        arrays = [masks] if lut is None else [masks, np.asarray(lut)]
        if timeout_s is None:
            timeout_s = self.timeout_s + masks.nbytes / 1e8
        return self.request(m.LoadMasks(session_id=session_id, encoding=encoding), arrays, timeout_s)

    def show(self, index: int, seq: int = 0) -> m.Shown:
        return self.request(m.ShowMask(index=index, seq=seq))

    def status(self) -> m.StatusReply:
        return self.request(m.Status())

    def shutdown(self) -> m.ShuttingDown:
        return self.request(m.Shutdown())
