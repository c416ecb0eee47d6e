"""Laser-power safety: the guard's limits, and no call path reaching the DAQ with more than the limits."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rig.config import LaserConfig
from rig.drivers.fakes import fake_nidaqmx
from rig.drivers.nidaq_laser import NidaqLaser
from rig.drivers.pockels_calibration import PockelsCalibration
from rig.safety import LaserGuard, PowerLimitError, PowerLimits

LIMITS = PowerLimits(max_per_target_mw=130.0, max_total_mw=1000.0)
# A Pockels calibration reaching 3 W at 2 V: well above the limits, so only the guard stops excess power.
CAL = PockelsCalibration([0.0, 0.5, 1.0, 1.5, 2.0], [0.5, 200.0, 900.0, 1800.0, 3000.0])


def test_limits_come_from_the_rig_profile():
    guard = LaserGuard(LaserConfig(max_power_per_target_mw=50, max_total_power_mw=400))
    assert guard.limits == PowerLimits(50.0, 400.0)


def test_request_within_limits_is_returned_unchanged_and_read_only():
    powers = LaserGuard(LIMITS).check([10.0, 130.0, 0.0])
    np.testing.assert_array_equal(powers, [10.0, 130.0, 0.0])
    assert not powers.flags.writeable


@pytest.mark.parametrize("powers, needle", [
    ([10.0, 130.5], "per-target limit of 130 mW (target 1: 130.5 mW)"),
    ([100.0] * 11, "total power 1100 mW over 11 targets exceeds the limit of 1000 mW"),
    ([10.0, float("nan")], "target 1: power nan mW is not a valid power"),
    ([float("inf")], "not a valid power"),
    ([-1.0], "not a valid power"),
    ([[1.0, 2.0]], "1-D"),
    (["ten"], "numbers in mW"),
])
def test_requests_over_the_limits_or_invalid_raise_with_the_numbers(powers, needle):
    with pytest.raises(PowerLimitError) as info:
        LaserGuard(LIMITS).check(powers)
    assert needle in str(info.value)
    assert PowerLimitError.exit_code == 2


def test_limits_must_be_consistent():
    with pytest.raises(PowerLimitError):
        PowerLimits(200.0, 100.0)
    with pytest.raises(PowerLimitError):
        PowerLimits(float("nan"), 100.0)


@given(st.lists(st.one_of(st.floats(-10.0, 200.0), st.floats(allow_nan=True, allow_infinity=True)), max_size=30))
@settings(max_examples=300, deadline=None)
def test_guard_passes_only_requests_within_limits(powers):
    try:
        checked = LaserGuard(LIMITS).check(powers)
    except PowerLimitError:
        arr = np.asarray(powers, dtype=float)
        assert (~np.isfinite(arr)).any() or (arr < 0).any() or (arr > 130.0).any() or arr.sum() > 1000.0
        return
    assert np.all(checked >= 0) and np.all(checked <= 130.0) and checked.sum() <= 1000.0


def _laser():
    daq = fake_nidaqmx()
    return NidaqLaser("Dev1/ao0", CAL, LIMITS, sample_rate_hz=10_000, nidaqmx=daq), daq.device


@given(requests=st.lists(st.lists(st.floats(0, 400), min_size=0, max_size=15), min_size=1, max_size=6))
@settings(max_examples=80, deadline=None)
def test_no_call_path_writes_more_than_the_limits_to_the_daq(requests):
    laser, device = _laser()
    ceiling_v = CAL.volts_for(LIMITS.max_total_mw)
    for powers in requests:
        try:
            laser.set_power(powers)
        except PowerLimitError:
            pass
        laser.pulse(2, 0.005, 10.0)
    for write in device.writes:
        assert write["volts"].max() <= ceiling_v + 1e-12
        assert CAL.power_for(write["volts"].max()) <= LIMITS.max_total_mw + 1e-9
    assert device.voltages["Dev1/ao0"] == CAL.off_volts  # every train ends dark


def test_a_refused_request_keeps_the_previous_safe_level():
    laser, device = _laser()
    laser.set_power([100.0, 100.0, 100.0])
    level = laser.level_volts
    with pytest.raises(PowerLimitError):
        laser.set_power([129.0] * 8)  # 1032 mW > 1000 mW total
    assert laser.level_volts == level and laser.total_mw == 300.0


def test_the_daq_channel_itself_is_capped_at_the_ceiling():
    laser, device = _laser()
    low, high = device.channel_ranges["Dev1/ao0"]
    assert high == pytest.approx(CAL.volts_for(1000.0))
    laser.level_volts = 1.9  # tampering past the guard: the last gate before the DAQ refuses it
    with pytest.raises(PowerLimitError, match="refusing to write"):
        laser.pulse(1, 0.005, 10.0)
    assert all(w["volts"].max() <= high for w in device.writes)


def test_calibration_below_the_limit_caps_at_the_calibration():
    cal = PockelsCalibration([0.0, 1.0], [0.0, 500.0])
    laser = NidaqLaser("Dev1/ao0", cal, LIMITS, nidaqmx=fake_nidaqmx())
    with pytest.raises(PowerLimitError, match="largest calibrated power"):
        laser.set_power([120.0] * 5)  # 600 mW: within limits, beyond what the calibration knows
