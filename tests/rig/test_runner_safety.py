"""Safety of the session runner: power through the guard, masks checked before any SLM, and a lost SLM server
or imaging stream turns the laser off first, then pauses."""
import numpy as np
import pytest

from rig.config import LaserConfig
from rig.drivers.null_slm import NullSLM
from rig.hardware.errors import MaskError
from rig.runner.acquisition import Acquisition
from rig.runner.errors import SessionPaused
from rig.runner.hardware import HardwareBundle
from rig.runner.power import apply_power, laser_shares
from rig.runner.slm_link import SlmLink
from rig.safety import LaserGuard, PowerLimitError, PowerLimits
from rig.wire.heartbeat import laser_off_then_pause

SHAPE = (24, 40)


class RecordingLaser:
    """Records what reaches it, in order, with the rig's own second-line check."""

    def __init__(self, log):
        self.limits = PowerLimits(130.0, 2000.0)
        self._guard = LaserGuard(self.limits)
        self.log = log

    def set_power(self, powers_mw):
        self._guard.check(powers_mw)
        self.log.append(("set_power", float(np.sum(powers_mw))))
        return float(np.sum(powers_mw))

    def pulse(self, n, pulse_s, rate_hz):
        self.log.append(("pulse", n))
        return 0.0

    def off(self):
        self.log.append(("off",))

    def close(self):
        pass


class Ctx:
    def __init__(self, log):
        self.guard = LaserGuard(LaserConfig(max_power_per_target_mw=130.0, max_total_power_mw=500.0))
        self.hw = type("HW", (), {"laser": RecordingLaser(log)})()


def test_power_above_a_limit_never_reaches_the_laser():
    log = []
    ctx = Ctx(log)
    assert apply_power(ctx, [100.0, 120.0, 90.0]) == pytest.approx(310.0)
    with pytest.raises(PowerLimitError):
        apply_power(ctx, [100.0, 131.0, 90.0])          # one target over 130 mW
    with pytest.raises(PowerLimitError):
        apply_power(ctx, [125.0] * 5)                  # total 625 mW over 500
    with pytest.raises(PowerLimitError):
        apply_power(ctx, [np.nan, 10.0, 10.0])
    assert log == [("set_power", 310.0)]


def test_laser_shares_split_the_laser_power_in_proportion_to_the_requests():
    shares = laser_shares(600.0, [10.0, 20.0, 30.0])
    np.testing.assert_allclose(shares, [100.0, 200.0, 300.0])
    assert shares.sum() == pytest.approx(600.0)


@pytest.mark.parametrize("mode", ["direct", "server", "process"])
def test_a_bad_mask_never_reaches_the_slm(mode):
    slm = NullSLM(SHAPE, 8)
    link = SlmLink(slm, SHAPE, 8, mode=mode, timeout_s=2.0)
    try:
        bad = np.zeros((2,) + SHAPE, np.float32)
        bad[1, 3, 4] = np.nan
        with pytest.raises(MaskError):
            link.load(bad)
        with pytest.raises(MaskError):
            link.load(np.zeros((2, 10, 10), np.float32))     # wrong shape
        assert slm.masks is None
        good = np.random.default_rng(0).uniform(0, 2 * np.pi, (3,) + SHAPE).astype(np.float32)
        link.load(good)
        link.show(2)
        assert slm.masks.shape == (3,) + SHAPE and slm.shown[-1].index == 2
    finally:
        link.close()


def test_losing_the_slm_server_turns_the_laser_off_then_pauses():
    log = []
    laser = RecordingLaser(log)

    def pause(message):
        log.append(("pause", message))
        raise SessionPaused(message)

    slm = NullSLM(SHAPE, 8)
    link = SlmLink(slm, SHAPE, 8, mode="server", timeout_s=0.3,
                   on_lost=laser_off_then_pause(laser.off, pause))
    link.load(np.zeros((2,) + SHAPE, np.float32))
    link.show(1)
    link._server.stop()                                 # the server goes away mid-session
    link._thread.join(timeout=5)
    with pytest.raises(SessionPaused, match="SLM server"):
        link.show(0)
    kinds = [entry[0] for entry in log]
    assert kinds == ["off", "pause"]                    # laser off first, then the pause
    link._server = None
    link.close()


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t

    def sleep_until(self, target):
        self.t = max(self.t, target)
        return self.t


class SilentImaging:
    """An imaging source whose stream has stopped: every wait times out (and lets the clock run)."""

    def __init__(self, clock):
        self.clock = clock

    def next_frame(self, timeout_s):
        self.clock.t += min(timeout_s, 0.25)
        return None

    def red_image(self, plane=0):
        return np.zeros(SHAPE, np.float32)

    def close(self):
        pass


def test_losing_the_imaging_stream_turns_the_laser_off_then_pauses():
    log = []
    clock = FakeClock()
    laser = RecordingLaser(log)
    hw = HardwareBundle(slm=NullSLM(SHAPE, 8), laser=laser, imaging=SilentImaging(clock), visual=None,
                        treadmill=None, clock=clock, simulated=True)

    def pause(message):
        log.append(("pause", message))
        raise SessionPaused(message)

    acq = Acquisition(hw, writer=None, n_planes=3, volume_rate_hz=6.0, timeout_s=3.0,
                      on_lost=laser_off_then_pause(laser.off, pause))
    with pytest.raises(SessionPaused, match="imaging"):
        acq.wait_until(60.0)
    assert 3.0 < clock.t < 4.0                          # noticed within the timeout, not at the target time
    assert [entry[0] for entry in log] == ["off", "pause"]
