"""NI-DAQ Pockels-cell driver against a fake nidaqmx, and the volts ↔ mW calibration."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from rig.config import LaserConfig
from rig.drivers.fakes import fake_nidaqmx
from rig.drivers.nidaq_laser import NidaqLaser, import_nidaqmx
from rig.drivers.pockels_calibration import PockelsCalibration
from rig.hardware import StimulationLaser
from rig.hardware.errors import HardwareError
from rig.safety import PowerLimitError, PowerLimits


def _csv(tmp_path, text, name="cal.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_calibration_csv_interpolates_between_measurements(tmp_path):
    cal = PockelsCalibration.from_csv(_csv(tmp_path, "power_mw,volts,note\n0.4,0.0,leak\n100,1.0,\n300,2.0,\n"))
    assert cal.volts_for(100.0) == pytest.approx(1.0)
    assert cal.volts_for(200.0) == pytest.approx(1.5)
    assert cal.volts_for(0.0) == 0.0 and cal.volts_for(0.2) == 0.0  # below the leak: off
    assert cal.power_for(1.5) == pytest.approx(200.0)
    for p in np.linspace(0.4, 300, 17):
        assert cal.power_for(cal.volts_for(p)) == pytest.approx(p)


def test_calibration_rows_may_come_in_any_order(tmp_path):
    cal = PockelsCalibration.from_csv(_csv(tmp_path, "volts,power_mw\n2,300\n0,0\n1,100\n"))
    np.testing.assert_array_equal(cal.volts, [0, 1, 2])


@pytest.mark.parametrize("text, needle", [
    ("volts,power_mw\n0,0\n1,100\n2,80\n", "must rise with voltage, but it goes from 100 mW at 1 V to 80 mW at 2 V"),
    ("volts,power_mw\n0,0\n1,100\n1,120\n", "same voltage appears twice"),
    ("volts,power_mw\n0,0\n", "at least 2"),
    ("v,p\n0,0\n1,1\n", "'volts' and 'power_mw'"),
    ("volts,power_mw\n0,0\n1,abc\n", "numeric"),
    ("volts,power_mw\n0,-5\n1,10\n", "negative"),
    ("volts,power_mw\n0,0\n1,nan\n", "finite"),
])
def test_bad_calibrations_are_refused_with_what_to_fix(tmp_path, text, needle):
    with pytest.raises(HardwareError) as info:
        PockelsCalibration.from_csv(_csv(tmp_path, text))
    assert needle in str(info.value)


def test_missing_calibration_file(tmp_path):
    with pytest.raises(HardwareError, match="power_calibration_file"):
        PockelsCalibration.from_csv(tmp_path / "nope.csv")


def test_no_extrapolation_above_the_calibration():
    cal = PockelsCalibration([0, 1], [0, 100])
    with pytest.raises(PowerLimitError, match="largest calibrated power"):
        cal.volts_for(100.5)


@pytest.fixture
def laser():
    daq = fake_nidaqmx()
    cal = PockelsCalibration([0.0, 1.0, 2.0], [0.0, 500.0, 1500.0])
    return NidaqLaser("Dev1/ao0", cal, PowerLimits(130.0, 1000.0), sample_rate_hz=10_000, nidaqmx=daq), daq.device


def test_opening_writes_the_off_level_and_closes_its_task(laser):
    driver, device = laser
    assert isinstance(driver, StimulationLaser)
    assert device.voltages["Dev1/ao0"] == 0.0 and device.tasks_open == 0


def test_set_power_emits_nothing_and_pulses_follow_the_request(laser):
    driver, device = laser
    writes_before = len(device.writes)
    total = driver.set_power([100.0, 100.0, 50.0])  # 250 mW → 0.5 V
    assert total == 250.0 and len(device.writes) == writes_before
    driver.pulse(n_pulses=10, pulse_s=0.005, rate_hz=10.0)  # seed 002: 10 pulses of 5 ms at 10 Hz
    write = device.writes[-1]
    assert write["timing"] == {"rate": 10_000.0, "mode": "FINITE", "samples": 10 * 1000 + 1}
    volts = write["volts"]
    on = volts > 0
    assert on.sum() == 10 * 50                       # 10 pulses × 5 ms at 10 kHz
    starts = np.flatnonzero(np.diff(on.astype(int)) == 1) + 1
    np.testing.assert_array_equal(np.r_[0, starts], np.arange(10) * 1000)  # one every 100 ms
    assert volts[on] == pytest.approx(0.5) and volts[-1] == 0.0
    assert device.tasks_open == 0


def test_pulses_longer_than_the_period_are_refused(laser):
    driver, _ = laser
    with pytest.raises(HardwareError, match="shorter than the period"):
        driver.pulse(3, 0.2, 10.0)


def test_off_returns_to_the_off_level(laser):
    driver, device = laser
    driver.set_power([100.0])
    driver.off()
    assert device.voltages["Dev1/ao0"] == 0.0


def test_from_config_needs_channel_and_calibration(tmp_path):
    with pytest.raises(HardwareError, match="daq_channel"):
        NidaqLaser.from_config(LaserConfig(driver="nidaq"), nidaqmx=fake_nidaqmx())
    path = _csv(tmp_path, "volts,power_mw\n0,0\n2,2500\n")
    cfg = LaserConfig(driver="nidaq", daq_channel="Dev2/ao1", power_calibration_file=path,
                      max_power_per_target_mw=100, max_total_power_mw=1000)
    daq = fake_nidaqmx()
    driver = NidaqLaser.from_config(cfg, nidaqmx=daq)
    assert driver.limits == PowerLimits(100.0, 1000.0)
    assert daq.device.channel_ranges["Dev2/ao1"][1] == pytest.approx(0.8)


def test_missing_nidaqmx_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nidaqmx", None)
    with pytest.raises(HardwareError, match="pip install nidaqmx"):
        import_nidaqmx()
