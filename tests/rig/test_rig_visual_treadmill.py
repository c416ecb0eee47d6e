"""Visual stimulus (ZMQ client, stimulus server, PsychoPy renderer) and NI-DAQ treadmill, against fakes."""
from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pytest
import zmq

from rig.config import RigProfile, VisualConfig, WheelConfig, load_rig
from rig.drivers.fakes import FakeGratingRenderer, fake_nidaqmx, fake_psychopy_visual
from rig.drivers.stimulus_server import (GratingPresenter, PsychoPyRenderer, StimulusServer, main,
                                         pixels_per_degree)
from rig.drivers.treadmill import NidaqTreadmill
from rig.drivers.visual_stimulus import GratingCommand, PsychoPyStimulus, ZmqVisualStimulus, parse_command
from rig.hardware import Treadmill, VisualStimulus
from rig.hardware.errors import HardwareError

from rig_testing import context, free_loopback_endpoint  # noqa: F401 - fixture

SEED002 = dict(spatial_frequency_cpd=0.08, temporal_frequency_hz=1.0, contrast=1.0, duration_s=1.0)


# --------------------------------------------------------------------------------------------- presenter
def test_presenter_drifts_phase_at_temporal_frequency_then_turns_grey():
    renderer = FakeGratingRenderer(frame_period_s=1 / 60)
    presenter = GratingPresenter(renderer)
    onset = presenter.start_grating(GratingCommand(direction_deg=45.0, **SEED002))
    while presenter.active:
        presenter.step()
    gratings = [f for f in renderer.frames if f[1] == "grating"]
    assert len(gratings) == 60                                   # 1 s at 60 Hz
    t = np.array([f[0] for f in gratings]) - onset
    np.testing.assert_allclose([f[4] for f in gratings], 1.0 * t, atol=1e-9)   # phase = tf × t, cycles
    assert {f[2] for f in gratings} == {45.0} and {f[3] for f in gratings} == {0.08}
    assert renderer.frames[-1][1] == "blank"
    assert presenter.history[-1] == (onset, pytest.approx(onset + 1.0), 45.0)


def test_presenter_new_grating_replaces_running_one():
    renderer = FakeGratingRenderer()
    presenter = GratingPresenter(renderer)
    first = presenter.start_grating(GratingCommand(direction_deg=0.0, **SEED002))
    presenter.step()
    second = presenter.start_grating(GratingCommand(direction_deg=90.0, **{**SEED002, "temporal_frequency_hz": 2.0}))
    presenter.step()
    assert presenter.history[0] == (first, pytest.approx(first + 1 / 60), 0.0)
    assert renderer.frames[-1][2] == 90.0 and renderer.frames[-1][4] == pytest.approx(2.0 / 60)
    assert second > first


# ---------------------------------------------------------------------------------------- PsychoPy renderer
def test_psychopy_renderer_maps_direction_frequency_and_phase_to_grating_stim():
    visual = fake_psychopy_visual(size=(2048, 1536))
    renderer = PsychoPyRenderer(monitor_index=1, distance_cm=10.0, width_cm=19.7, visual=visual)
    ppd = 10.0 * math.tan(math.radians(1)) * 2048 / 19.7
    assert renderer.px_per_deg == pytest.approx(ppd)
    renderer.draw_grating(90.0, 0.08, 1.25, 0.5)
    renderer.draw_blank()
    (drawn,), blank = visual.flips
    assert blank == []                                            # grey: nothing drawn over the mean-grey window
    assert drawn["ori"] == 270.0                                  # 90° counter-clockwise = PsychoPy −90° (clockwise)
    assert drawn["sf"] == pytest.approx(0.08 / ppd)               # cycles per pixel
    assert drawn["phase"] == pytest.approx(0.25) and drawn["contrast"] == 0.5
    assert drawn["size"][0] >= math.hypot(2048, 1536) - 1e-9      # covers the screen at any orientation
    assert visual.windows[0].screen == 1 and visual.windows[0].units == "pix"


def test_pixels_per_degree_matches_small_angle_geometry():
    # 1° at 57.3 cm is 1 cm; 100 px per cm → 100 px per degree
    assert pixels_per_degree(180 / math.pi, 10.0, 1000) == pytest.approx(100.0, rel=2e-4)  # tan 1° ≈ 1° + 0.01 %


def test_psychopy_missing_gives_install_hint(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_psychopy(name, *args, **kwargs):
        if name.startswith("psychopy"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psychopy)
    with pytest.raises(HardwareError, match="pip install psychopy"):
        PsychoPyRenderer()


# ------------------------------------------------------------------------------------------ server + client
@pytest.fixture
def server(context):
    remote_clock = lambda: time.monotonic() + 1000.0  # noqa: E731 - another computer's clock
    renderer = FakeGratingRenderer(frame_period_s=1 / 120, clock=remote_clock)
    srv = StimulusServer("tcp://127.0.0.1:*", renderer, context=context, clock=remote_clock)
    thread = threading.Thread(target=srv.serve, daemon=True)
    thread.start()
    yield srv, renderer
    srv.stop()
    thread.join(5)


def test_client_returns_onset_on_local_clock_and_server_draws_grating(server):
    srv, renderer = server
    client = ZmqVisualStimulus.from_config(VisualConfig(endpoint=srv.endpoint))
    assert isinstance(client, VisualStimulus)
    before = time.monotonic()
    onset = client.show_grating(180.0, 0.08, 1.0, 1.0, 0.1)
    after = time.monotonic()
    assert before - 0.005 <= onset <= after + 0.005           # mapped from the server clock (+1000 s)
    assert client.last_server_onset_s == pytest.approx(onset + 1000.0, abs=0.01)
    time.sleep(0.2)
    blank_onset = client.blank()
    assert blank_onset > onset + 0.1 - 0.01
    kinds = [f[1] for f in renderer.frames]
    first = kinds.index("grating")
    n_grating = kinds[first:].index("blank")
    assert n_grating == pytest.approx(12, abs=3)              # 0.1 s at 120 Hz (± frames a loaded machine drops), then grey
    assert all(f[2] == 180.0 for f in renderer.frames[first:first + n_grating])
    client.close()


def test_server_refuses_bad_commands_and_keeps_serving(server, context):
    srv, renderer = server
    sock = context.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(srv.endpoint)
    for bad, needle in [(b"not json", "JSON"),
                        (json.dumps({"type": "grating", "direction_deg": 400, "spatial_frequency_cpd": 0.08,
                                     "temporal_frequency_hz": 1, "contrast": 1, "duration_s": 1}).encode(),
                         "direction_deg"),
                        (json.dumps({"type": "launch"}).encode(), "launch")]:
        sock.send(bad)
        assert sock.poll(2000)
        reply = json.loads(sock.recv())
        assert reply["type"] == "error" and needle in reply["message"]
    sock.send(json.dumps({"type": "ping"}).encode())
    assert sock.poll(2000) and json.loads(sock.recv())["type"] == "pong"
    renderer.fail_next = True
    sock.send(json.dumps({"type": "blank"}).encode())
    assert sock.poll(2000) and "display went away" in json.loads(sock.recv())["message"]
    sock.close(linger=0)


def test_client_validates_before_sending():
    client = ZmqVisualStimulus("tcp://127.0.0.1:1", timeout_s=0.05)
    with pytest.raises(HardwareError, match="direction_deg"):
        client.show_grating(360.0, 0.08, 1.0, 1.0, 1.0)
    with pytest.raises(HardwareError, match="contrast"):
        client.show_grating(0.0, 0.08, 1.0, 1.5, 1.0)
    client.close()


def test_timeout_is_a_clear_error_and_client_recovers_when_server_starts(context):
    ctx = context
    endpoint = free_loopback_endpoint()
    with pytest.raises(HardwareError, match=r"did not answer a 'ping' request within 0.2 s.*stimulus_server"):
        ZmqVisualStimulus.from_config(VisualConfig(endpoint=endpoint, timeout_s=0.2))
    client = ZmqVisualStimulus(endpoint, timeout_s=0.2, context=ctx)
    with pytest.raises(HardwareError, match="'blank'"):
        client.blank()
    srv = StimulusServer(endpoint, FakeGratingRenderer(clock=time.monotonic), context=ctx)
    thread = threading.Thread(target=srv.serve, daemon=True)
    thread.start()
    client.timeout_s = 2.0
    assert client.blank() <= time.monotonic()                   # the rebuilt socket works
    client.shutdown_server()
    thread.join(5)
    assert not thread.is_alive()
    client.close()


def test_in_process_psychopy_stimulus_runs_the_server_in_a_thread():
    renderer = FakeGratingRenderer(frame_period_s=1 / 60, clock=time.monotonic)
    stim = PsychoPyStimulus(VisualConfig(), renderer_factory=lambda: renderer)
    t0 = time.monotonic()
    onset = stim.show_grating(315.0, **{**SEED002, "duration_s": 0.05})
    assert t0 - 1e-3 <= onset <= time.monotonic() + 1e-3
    assert abs(stim.clock_offset_s) < 0.01                       # same clock
    stim.close()
    assert renderer.closed and not stim._thread.is_alive()
    assert any(f[1] == "grating" and f[2] == 315.0 for f in renderer.frames)


def test_in_process_stimulus_reports_a_renderer_that_cannot_open():
    def broken():
        raise HardwareError("the visual stimulus needs PsychoPy")

    with pytest.raises(HardwareError, match="needs PsychoPy"):
        PsychoPyStimulus(VisualConfig(), renderer_factory=broken)


def test_server_entry_point_runs_with_an_injected_renderer(context):
    for _attempt in range(5):          # another process may take the free port before the server binds it
        renderer = FakeGratingRenderer(clock=time.monotonic)
        endpoint = free_loopback_endpoint()
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault("rc", main(
            ["--endpoint", endpoint], renderer=renderer)), daemon=True)
        thread.start()
        thread.join(0.5)
        if result.get("rc") != 2:      # 2: could not bind; anything else is still serving (or a failure below)
            break
    client = ZmqVisualStimulus(endpoint, timeout_s=3.0, context=context)
    client.ping()
    client.shutdown_server()
    thread.join(5)
    assert result == {"rc": 0} and renderer.closed
    client.close()


def test_parse_command_round_trip():
    cmd = GratingCommand(direction_deg=50.0, **SEED002)
    assert parse_command(cmd.model_dump_json().encode()) == cmd
    with pytest.raises(ValueError, match="colour: Extra inputs"):
        parse_command(b'{"type": "blank", "colour": "red"}')


# ------------------------------------------------------------------------------------------------ treadmill
class _FakeTime:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _wheel(decoding="x4", invert=False, window_s=0.25, start_count=0.0):
    daq, clock = fake_nidaqmx(), _FakeTime()
    daq.device.counts["Dev1/ctr0"] = start_count
    wheel = NidaqTreadmill("Dev1/ctr0", wheel_diameter_cm=20.0, counts_per_revolution=4096, window_s=window_s,
                           decoding=decoding, invert=invert, nidaqmx=daq, clock=clock)
    return wheel, daq, clock


def _run(daq, clock, speed_cm_s, duration_s, dt_s=0.01, cpr=4096, diameter_cm=20.0):
    """Advance the fake wheel at ``speed_cm_s`` in steps of ``dt_s``, yielding after each step."""
    for _ in range(int(round(duration_s / dt_s))):
        clock.t += dt_s
        daq.device.counts["Dev1/ctr0"] += speed_cm_s * dt_s / (math.pi * diameter_cm) * cpr
        yield


def test_constant_running_speed_is_measured():
    wheel, daq, clock = _wheel()
    assert isinstance(wheel, Treadmill)
    assert daq.device.counter_channels["Dev1/ctr0"] == {"kind": "encoder", "decoding": "X_4", "units": "TICKS",
                                                        "pulses_per_rev": 1024}
    for _ in _run(daq, clock, 12.0, 1.0):
        t, speed = wheel.speed_cm_s()
    assert t == pytest.approx(1.0)
    assert speed == pytest.approx(12.0, rel=0.01)               # 1/4096 of a 62.8 cm turn is 0.015 cm


def test_speed_follows_a_step_within_the_window_and_backwards_is_negative():
    wheel, daq, clock = _wheel(window_s=0.25)
    for _ in _run(daq, clock, 20.0, 1.0):
        wheel.speed_cm_s()
    speeds = [wheel.speed_cm_s()[1] for _ in _run(daq, clock, 0.0, 0.5)]
    assert speeds[9] == pytest.approx(20.0 * 0.15 / 0.25, rel=0.03)   # 0.1 s still of the 0.25 s window
    assert speeds[-1] == 0.0                                          # after the window: stopped
    for _ in _run(daq, clock, -8.0, 0.5):
        speed = wheel.speed_cm_s()[1]
    assert speed == pytest.approx(-8.0, rel=0.02)


def test_sparse_calls_average_since_the_previous_reading():
    wheel, daq, clock = _wheel(window_s=0.1)
    for _ in _run(daq, clock, 30.0, 1.0):
        pass                                                   # no reading for 1 s (10 windows)
    assert wheel.speed_cm_s()[1] == pytest.approx(30.0, rel=0.01)


def test_counter_wrap_and_invert_and_edge_counting():
    wheel, daq, clock = _wheel(decoding="edges", invert=True, start_count=2 ** 32 - 200)
    assert daq.device.counter_channels["Dev1/ctr0"]["kind"] == "edges"
    readings = [wheel.speed_cm_s() for _ in _run(daq, clock, 15.0, 0.5)]   # crosses 2³² → 0 at t ≈ 0.2 s
    assert daq.device.counts["Dev1/ctr0"] > 2 ** 32
    full_window = [speed for t, speed in readings if t >= 0.25 - 1e-9]
    np.testing.assert_allclose(full_window, -15.0, rtol=0.02)
    wheel.close()
    assert daq.device.tasks_open == 0 and "Dev1/ctr0" not in daq.device.counter_channels
    with pytest.raises(HardwareError, match="closed"):
        wheel.speed_cm_s()


def test_treadmill_config_errors_say_what_to_set():
    with pytest.raises(HardwareError, match="running_wheel.counter_channel"):
        NidaqTreadmill.from_config(WheelConfig(), nidaqmx=fake_nidaqmx())
    with pytest.raises(HardwareError, match="decoding"):
        NidaqTreadmill("Dev1/ctr0", 20.0, 4096, decoding="x3", nidaqmx=fake_nidaqmx())
    daq = fake_nidaqmx()
    first = NidaqTreadmill("Dev1/ctr0", 20.0, 4096, nidaqmx=daq)
    with pytest.raises(HardwareError, match="cannot start the wheel counter Dev1/ctr0: .*reserved"):
        NidaqTreadmill("Dev1/ctr0", 20.0, 4096, nidaqmx=daq)
    assert daq.device.tasks_open == 1
    first.close()


# ------------------------------------------------------------------------------------------- wiring + config
def test_config_sections_have_defaults_and_template_loads():
    rig = RigProfile()
    assert rig.visual.screen_distance_cm == 10.0 and rig.running_wheel.counter_channel is None
    template = load_rig("configs/rig/meadowlark-3dshot.yaml")
    assert template.visual.endpoint.startswith("tcp://") and template.running_wheel.counter_channel
    with pytest.raises(ValueError, match="allow_remote"):
        VisualConfig(endpoint="tcp://192.168.1.20:5561")
    assert VisualConfig(endpoint="tcp://192.168.1.20:5561", allow_remote=True)


def test_open_named_builds_the_real_drivers(server, monkeypatch):
    import sys

    from rig.runner.hardware import _open_named

    srv, _ = server
    rig = RigProfile(backend="hardware", slm={"driver": "meadowlark"}, laser={"driver": "nidaq"},
                     imaging={"driver": "scanimage"}, visual_stimulus="zmq", treadmill="nidaq",
                     visual={"endpoint": srv.endpoint}, running_wheel={"counter_channel": "Dev2/ctr1"})
    visual = _open_named("visual_stimulus", "zmq", rig)
    assert isinstance(visual, ZmqVisualStimulus) and visual.clock_offset_s == pytest.approx(1000.0, abs=0.01)
    visual.close()
    daq = fake_nidaqmx()
    monkeypatch.setitem(sys.modules, "nidaqmx", daq)
    wheel = _open_named("treadmill", "nidaq", rig)
    assert isinstance(wheel, NidaqTreadmill) and "Dev2/ctr1" in daq.device.counter_channels
    wheel.close()
    monkeypatch.setitem(sys.modules, "psychopy", None)         # not installed → clear error
    with pytest.raises(HardwareError, match="PsychoPy"):
        _open_named("visual_stimulus", "psychopy", rig)


def test_a_device_that_fails_to_open_closes_the_ones_already_open(monkeypatch):
    import rig.runner.hardware as hw
    from rig.config import RigProfile
    from rig.hardware import HardwareError

    closed = []

    class Device:
        def __init__(self, name):
            self.name = name

        def close(self):
            closed.append(self.name)

    def fail(what, name, rig):
        raise HardwareError(f"{what}: cannot open")

    monkeypatch.setattr(hw, "_open_laser", lambda rig: Device("laser"))
    monkeypatch.setattr(hw, "_open_imaging", lambda rig: Device("imaging"))
    monkeypatch.setattr(hw, "_open_named", fail)
    rig = RigProfile(backend="hardware", slm={"driver": "meadowlark"}, laser={"driver": "nidaq"},
                     imaging={"driver": "scanimage"}, visual_stimulus="zmq", treadmill="nidaq")
    with pytest.raises(HardwareError, match="visual_stimulus: cannot open"):
        hw.build_real_hardware(rig)
    assert closed == ["laser", "imaging"]
