"""Heartbeat monitor: a silent peer turns the laser off first, then pauses; once per loss."""
from __future__ import annotations

import threading

import pytest

from rig.wire.heartbeat import HeartbeatMonitor, laser_off_then_pause


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_peer_is_lost_only_after_the_timeout_and_reported_once():
    clock, lost = FakeClock(), []
    monitor = HeartbeatMonitor(3.0, lambda peer, silent: lost.append((peer, silent)), clock=clock)
    monitor.watch("slm-server")
    monitor.watch("imaging")
    clock.t += 2.9
    monitor.beat("imaging")
    assert monitor.check() == [] and lost == []
    clock.t += 0.2  # slm-server silent 3.1 s, imaging 0.2 s
    assert monitor.check() == ["slm-server"]
    assert lost == [("slm-server", pytest.approx(3.1))]
    clock.t += 10
    monitor.beat("imaging")
    monitor.check()
    assert [peer for peer, _ in lost] == ["slm-server"]  # not reported again
    assert monitor.lost() == {"slm-server"}


def test_a_peer_heard_again_is_restored_and_can_be_lost_again():
    clock, lost, restored = FakeClock(), [], []
    monitor = HeartbeatMonitor(1.0, lambda p, s: lost.append(p), on_restored=restored.append, clock=clock)
    monitor.watch("a")
    clock.t += 2
    monitor.check()
    monitor.beat("a")
    assert restored == ["a"] and monitor.lost() == set()
    clock.t += 2
    monitor.check()
    assert lost == ["a", "a"]


def test_laser_goes_off_before_the_pause():
    order = []
    on_lost = laser_off_then_pause(lambda: order.append("laser off"), lambda msg: order.append(msg))
    on_lost("slm-server", 3.4)
    assert order[0] == "laser off"
    assert "lost contact with slm-server (silent for 3.4 s)" in order[1] and "laser turned off" in order[1]


def test_pause_still_happens_when_the_laser_cannot_be_turned_off():
    paused = []

    def broken_off():
        raise OSError("DAQ unplugged")

    on_lost = laser_off_then_pause(broken_off, paused.append)
    with pytest.raises(OSError):
        on_lost("imaging", 5.0)
    assert len(paused) == 1 and "could NOT be confirmed off" in paused[0]


def test_background_thread_notices_a_silent_peer():
    noticed = threading.Event()
    monitor = HeartbeatMonitor(0.05, lambda p, s: noticed.set())
    monitor.watch("controller")
    monitor.start(interval_s=0.01)
    try:
        assert noticed.wait(timeout=5.0)
    finally:
        monitor.stop()


def test_timeout_must_be_positive():
    with pytest.raises(ValueError):
        HeartbeatMonitor(0, lambda p, s: None)
