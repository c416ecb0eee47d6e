"""The controller's line to the SLM: masks checked and converted first, loaded up front, switched by index.

Two ways to reach the SLM, same interface:

* ``direct`` — the SLM object is in this process (tests, a single-computer rig without a server);
* ``server`` — an :class:`rig.slm_server.SlmServer` owns the SLM in a thread of this process, and the
  controller talks to it over ZMQ with :class:`rig.wire.client.SlmClient`;
* ``process`` — a dry run's SLM server is a child process (``python -m rig.slm_server``, :mod:`rig.runner.child`)
  and ``slm`` (the simulated microscope's SLM) mirrors what it acknowledges: the masks it accepted and the mask
  it says it shows, as light from a real SLM reaches the tissue;
* ``remote`` — a separate ``holostim slm-server`` process on a rig, at the profile's ``zmq.slm_server``.

Losing the server (no reply within the profile's ``zmq.timeout_s``) calls ``on_lost`` — the session's
laser-off-then-pause.

A mask that fails its checks (:func:`rig.hardware.masks.phase_to_levels`: shape, dtype, finite phases) raises
:class:`rig.hardware.errors.MaskError` here, before anything is sent.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from rig.hardware.masks import phase_to_levels

from .errors import RunnerError


#: How the runner reaches the SLM (see the module docstring).
MODES = ("direct", "server", "process", "remote")


class SlmLink:
    """Load a stack of phase masks and show them by index. See the module docstring for ``mode``."""

    def __init__(self, slm, shape, bit_depth: int, *, mode: str = "direct", endpoint: Optional[str] = None,
                 timeout_s: float = 3.0, on_lost: Optional[Callable[[str, float], None]] = None,
                 lut: Optional[np.ndarray] = None, server_clock: Callable[[], float] = time.monotonic):
        if mode not in MODES:
            raise RunnerError(f"SLM link mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        self.slm, self.shape, self.bit_depth, self.mode = slm, tuple(shape), int(bit_depth), mode
        self.lut = lut
        self._on_lost = on_lost
        self._server = None
        self._thread = None
        self._client = None
        self._child = None
        self.n_loaded = 0
        self.switch_latency_s: list[float] = []
        self._seq = 0
        if mode in ("server", "process", "remote"):
            from rig.wire.client import SlmClient

            if mode == "process":
                from .child import ChildProcess

                self._child = ChildProcess("rig.slm_server", ["--shape", *self.shape, "--bit-depth", self.bit_depth],
                                           what="the SLM server process")
                endpoint = str(self._child.announcement().get("endpoint"))
            elif mode == "server":
                from rig.slm_server import SlmServer

                self._server = SlmServer(slm, endpoint or "tcp://127.0.0.1:*", clock=server_clock)
                self._thread = self._server.start_thread()
                endpoint = self._server.endpoint
            if endpoint is None:
                raise RunnerError("a remote SLM server needs an endpoint (the rig profile's zmq.slm_server)")
            self.endpoint = endpoint
            self._client = SlmClient(endpoint, timeout_s=timeout_s)

    def load(self, phases_rad: np.ndarray, session_id: str = "") -> None:
        """Check and convert ``phases_rad`` (n, rows, cols) float32 radians, then load them all into the SLM."""
        levels = phase_to_levels(np.asarray(phases_rad, np.float32), self.shape, self.bit_depth, self.lut)
        if self._client is None:
            self.slm.load_masks(levels)
        else:
            self._call(lambda: self._client.load_masks(levels, session_id=session_id))
            if self._child is not None:
                self.slm.load_masks(levels)      # the simulated light path: what the server accepted
        self.n_loaded = len(levels)

    def show(self, index: int) -> None:
        """Show loaded mask ``index`` (through the server when there is one)."""
        if not 0 <= int(index) < self.n_loaded:
            raise RunnerError(f"mask {index} was never loaded ({self.n_loaded} masks on the SLM)")
        start = time.perf_counter()
        if self._client is None:
            self.slm.show(int(index))
        else:
            self._seq += 1
            self._call(lambda: self._client.show(int(index), seq=self._seq))
            if self._child is not None:
                self.slm.show(int(index))        # the simulated light path: what the server says it shows
        self.switch_latency_s.append(time.perf_counter() - start)

    def heartbeat(self) -> None:
        """A sign of life from the server (nothing to do for a direct SLM)."""
        if self._client is not None:
            self._call(lambda: self._client.heartbeat("controller", seq=self._seq))

    def _call(self, request):
        from rig.wire.client import PeerTimeout

        started = time.monotonic()
        try:
            return request()
        except PeerTimeout:
            if self._on_lost is not None:
                self._on_lost("the SLM server", time.monotonic() - started)
            raise

    def close(self) -> None:
        if self._client is not None:
            if self._server is not None or self._child is not None:
                try:
                    self._client.shutdown()
                except Exception:  # noqa: BLE001 - the server may already be gone
                    pass
            self._client.close()
        if self._server is not None:
            self._server.stop()
            if self._thread is not None:
                self._thread.join(timeout=5)
        if self._child is not None:
            self._child.stop()
