"""Heartbeat monitoring: notice a silent peer and act, laser off first.

A :class:`HeartbeatMonitor` is told when each peer was last heard from (:meth:`~HeartbeatMonitor.beat`); when a
peer has been silent longer than ``timeout_s`` it calls ``on_lost(peer, silent_s)`` once, and ``on_restored`` when
the peer is heard again. :func:`laser_off_then_pause` builds the ``on_lost`` a controller uses: it turns the
stimulation laser off before anything else, then pauses the session with a message naming the peer.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

log = logging.getLogger(__name__)

LostCallback = Callable[[str, float], None]


class HeartbeatMonitor:
    """Track peers' last sign of life; call ``on_lost`` once per loss (silent > ``timeout_s``).

    Parameters
    ----------
    timeout_s : a peer silent longer than this, in seconds, is lost.
    on_lost : called as ``on_lost(peer, silent_s)`` when a peer is lost.
    on_restored : optional, called as ``on_restored(peer)`` when a lost peer is heard again.
    clock : the monotonic clock, seconds (injectable for tests).
    """

    def __init__(self, timeout_s: float, on_lost: LostCallback,
                 on_restored: Optional[Callable[[str], None]] = None,
                 clock: Callable[[], float] = time.monotonic):
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self._on_lost = on_lost
        self._on_restored = on_restored
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()

    def watch(self, peer: str) -> None:
        """Start watching ``peer`` from now (it has ``timeout_s`` to show life)."""
        self.beat(peer)

    def beat(self, peer: str) -> None:
        """Record a sign of life from ``peer`` now."""
        with self._lock:
            self._last[peer] = self._clock()
            restored = peer in self._lost
            self._lost.discard(peer)
        if restored:
            log.info("peer %s is back", peer)
            if self._on_restored is not None:
                self._on_restored(peer)

    def forget(self, peer: str) -> None:
        """Stop watching ``peer``."""
        with self._lock:
            self._last.pop(peer, None)
            self._lost.discard(peer)

    def lost(self) -> set[str]:
        """Peers currently lost."""
        with self._lock:
            return set(self._lost)

    def check(self) -> list[str]:
        """Call ``on_lost`` for every peer newly silent longer than ``timeout_s``; return those peers."""
        now = self._clock()
        newly = []
        with self._lock:
            for peer, last in self._last.items():
                if peer not in self._lost and now - last > self.timeout_s:
                    self._lost.add(peer)
                    newly.append((peer, now - last))
        for peer, silent_s in newly:
            log.warning("peer %s silent for %.2f s (timeout %.2f s)", peer, silent_s, self.timeout_s)
            self._on_lost(peer, silent_s)
        return [peer for peer, _ in newly]

    def start(self, interval_s: Optional[float] = None) -> None:
        """Check in a daemon thread every ``interval_s`` (default ``timeout_s / 10``)."""
        if self._thread is not None:
            return
        interval_s = self.timeout_s / 10 if interval_s is None else interval_s
        self._stop.clear()

        def loop():
            while not self._stop.wait(interval_s):
                try:
                    self.check()
                except Exception:  # noqa: BLE001 - a failing callback must not stop the watching
                    log.exception("heartbeat callback failed")

        self._thread = threading.Thread(target=loop, name="heartbeat-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the checking thread (if started)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def laser_off_then_pause(laser_off: Callable[[], None], pause: Callable[[str], None]) -> LostCallback:
    """An ``on_lost`` callback: turn the laser off first, then pause with a clear message.

    The pause happens even if turning the laser off fails (its error is then raised after pausing, and the
    pause message says the laser could not be confirmed off).
    """

    def on_lost(peer: str, silent_s: float) -> None:
        message = (f"lost contact with {peer} (silent for {silent_s:.1f} s): stimulation laser turned off, "
                   f"session paused; check that {peer} is running, then resume")
        try:
            laser_off()
        except BaseException:
            pause(f"lost contact with {peer} (silent for {silent_s:.1f} s) and the laser could NOT be confirmed "
                  f"off: check the laser shutter now; session paused")
            raise
        pause(message)

    return on_lost
