"""ScanImage imaging bridge against a Python fake of the MATLAB user function (same wire format)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import zmq

from rig_testing import context  # noqa: F401 - fixture
from rig.drivers.scanimage_bridge import ScanImageBridge
from rig.hardware import Frame, ImagingSource
from rig.hardware.errors import HardwareError
from rig.wire import framing, messages as m

MATLAB_CLIENT = Path(__file__).resolve().parents[2] / "rig" / "drivers" / "matlab" / "holostim_scanimage_userfcn.m"


class FakeScanImage:
    """Publishes what holostim_scanimage_userfcn.m publishes. XPUB, so it can wait for the bridge to subscribe."""

    def __init__(self, context):
        self.socket = context.socket(zmq.XPUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind("tcp://127.0.0.1:*")
        self.endpoint = self.socket.getsockopt(zmq.LAST_ENDPOINT).decode()

    def wait_for_subscriber(self, timeout_s=5.0):
        assert self.socket.poll(int(timeout_s * 1000)), "the bridge never subscribed"
        assert self.socket.recv()[0] == 1

    def frame(self, counter, plane, channel, image, t=None):
        header = m.ImagingFrame(counter=counter, timestamp_s=counter / 30 if t is None else t, plane=plane,
                                channel=channel, z_um=30.0 * plane)
        self.socket.send_multipart(framing.encode(header.to_json(), [image]))

    def event(self, name, counter=0):
        self.socket.send_multipart(framing.encode(m.ImagingEvent(name=name, counter=counter).to_json()))


@pytest.fixture
def rig(context):
    scanimage = FakeScanImage(context)
    events = []
    bridge = ScanImageBridge(scanimage.endpoint, functional_channel=1, red_channel=2, context=context,
                             on_event=events.append)
    scanimage.wait_for_subscriber()
    yield scanimage, bridge, events
    bridge.close()
    scanimage.socket.close(linger=0)


def _image(counter, channel):
    rng = np.random.default_rng(counter * 10 + channel)
    return rng.integers(-200, 3000, (16, 24), dtype=np.int16)


def test_frames_arrive_with_counters_timestamps_planes_and_pixels(rig):
    scanimage, bridge, events = rig
    assert isinstance(bridge, ImagingSource)
    scanimage.event("acqModeStart")
    for counter in range(1, 7):
        for channel in (1, 2):
            scanimage.frame(counter, (counter - 1) % 3, channel, _image(counter, channel))
    scanimage.event("acqDone", counter=6)
    got = [bridge.next_frame(timeout_s=5) for _ in range(6)]
    assert all(isinstance(f, Frame) and f.channel == 1 for f in got)
    assert [f.counter for f in got] == list(range(1, 7))
    assert [f.plane for f in got] == [0, 1, 2, 0, 1, 2]
    for f in got:
        assert f.timestamp_s == pytest.approx(f.counter / 30) and f.received_s > 0 and f.z_um == 30.0 * f.plane
        np.testing.assert_array_equal(f.image, _image(f.counter, 1))
    assert bridge.next_frame(timeout_s=0.3) is None  # the acqDone event, then nothing
    assert [e.name for e in events] == ["acqModeStart", "acqDone"]
    assert bridge.dropped_frames == 0


def test_red_image_is_the_mean_of_red_frames_per_plane(rig):
    scanimage, bridge, _ = rig
    for counter in range(1, 7):
        scanimage.frame(counter, (counter - 1) % 2, 2, _image(counter, 2))
    scanimage.frame(7, 0, 1, _image(7, 1))
    assert bridge.next_frame(timeout_s=5).counter == 7
    expected = np.mean([_image(c, 2).astype(float) for c in (1, 3, 5)], axis=0)
    np.testing.assert_allclose(bridge.red_image(plane=0), expected, rtol=1e-6)
    assert bridge.red_image(0).dtype == np.float32
    with pytest.raises(HardwareError, match="no red-channel frames of plane 5"):
        bridge.red_image(plane=5)


def test_lost_frames_are_counted_from_counter_gaps(rig):
    scanimage, bridge, _ = rig
    for counter in (1, 2, 5, 6, 9):
        scanimage.frame(counter, 0, 1, _image(counter, 1))
    counters = [bridge.next_frame(timeout_s=5).counter for _ in range(5)]
    assert counters == [1, 2, 5, 6, 9] and bridge.dropped_frames == 4
    scanimage.event("acqModeStart")  # a new acquisition restarts the count
    scanimage.frame(1, 0, 1, _image(1, 1))
    assert bridge.next_frame(timeout_s=5).counter == 1 and bridge.dropped_frames == 4


def test_malformed_messages_are_dropped_and_the_bridge_keeps_going(rig):
    scanimage, bridge, _ = rig
    scanimage.socket.send_multipart([b"garbage"])
    scanimage.socket.send_multipart([m.ImagingFrame(counter=1, timestamp_s=0).to_json(),
                                     b'{"arrays":[{"dtype":"<i2","shape":[16,24]}]}', b"\0" * 10])
    scanimage.socket.send_multipart([m.ImagingFrame(counter=1, timestamp_s=0).to_json()])  # no image
    scanimage.socket.send_multipart(framing.encode(m.ImagingEvent(name="acqDone").to_json(), [np.zeros(2)]))
    scanimage.frame(2, 0, 1, _image(2, 1))
    frame = bridge.next_frame(timeout_s=5)
    assert frame.counter == 2 and bridge.rejected_messages == 4


def test_matlab_client_sends_exactly_the_fields_of_the_models():
    source = MATLAB_CLIENT.read_text()
    for model, type_name in ((m.ImagingFrame, "imaging_frame"), (m.ImagingEvent, "imaging_event")):
        call = re.search(r"struct\('type', '" + type_name + r"'(.*?)\);", source, re.S)
        assert call, f"no {type_name} struct in the MATLAB client"
        fields = {"type", *re.findall(r"'(\w+)',", call.group(1))}
        assert fields == set(model.model_fields), f"{type_name}: MATLAB sends {fields}"
    for event in ("acqModeStart", "acqDone", "frameAcquired"):
        assert event in source
    assert "zmq.core.send" in source and "'ZMQ_SNDMORE'" in source and "'<i2'" in source
