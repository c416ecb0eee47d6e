"""The SLM server: masks up front, switch by index, checks before the SLM, error replies, shutdown."""
from __future__ import annotations

import numpy as np
import pytest

from rig_testing import SLM_SHAPE, RecordingSLM, context, masks, slm_server  # noqa: F401 - fixtures
from rig.hardware.masks import phase_to_levels
from rig.slm_server import SlmServer
from rig.wire import framing, messages as m
from rig.wire.client import PeerError, SlmClient


def test_levels_are_loaded_and_shown_by_index(slm_server, masks):
    server, slm, client = slm_server
    loaded = client.load_masks(masks, session_id="mouse1")
    assert (loaded.count, loaded.shape, loaded.dtype) == (4, SLM_SHAPE, "uint8")
    for index in (2, 0, 3):
        shown = client.show(index, seq=index + 10)
        assert shown.index == index and shown.seq == index + 10
        np.testing.assert_array_equal(slm.current, masks[index])
        assert shown.shown_s == slm.shown[-1].shown_s and shown.latency_s >= 0
    status = client.status()
    assert (status.session_id, status.masks_loaded, status.shown_count, status.last_index) == ("mouse1", 4, 3, 3)


def test_phases_are_converted_through_the_lut(slm_server):
    server, slm, client = slm_server
    rng = np.random.default_rng(3)
    phase = rng.uniform(-np.pi, 3 * np.pi, (2, *SLM_SHAPE)).astype(np.float32)
    lut = rng.integers(0, 256, 256, dtype=np.uint8)
    client.load_masks(phase, lut=lut)
    client.show(1)
    # level of phase φ = lut[round(wrap(φ)/2π · 256)]: the nearest of the LUT's 256 phase steps
    expected = lut[np.floor(np.mod(phase[1].astype(np.float64), 2 * np.pi) / (2 * np.pi) * 256 + 0.5).astype(int) % 256]
    agree = np.mean(slm.current == expected)
    assert agree > 0.999  # float32 rounding may move a phase exactly on a bin edge
    np.testing.assert_array_equal(slm.current, phase_to_levels(phase, SLM_SHAPE, 8, lut)[1])


def test_phases_without_lut_map_linearly(slm_server):
    server, slm, client = slm_server
    phase = np.full((1, *SLM_SHAPE), np.pi, np.float32)
    client.load_masks(phase)
    client.show(0)
    assert np.all(slm.current == 128)


@pytest.mark.parametrize("bad, needle", [
    (np.zeros((2, SLM_SHAPE[0] + 1, SLM_SHAPE[1]), np.uint8), "pixels but the SLM is"),
    (np.zeros((2, *SLM_SHAPE), np.uint16), "must be uint8"),
    (np.zeros((2, *SLM_SHAPE), np.int8), "must be uint8"),
    (np.zeros((0, *SLM_SHAPE), np.uint8), "n ≥ 1"),
    (np.full((1, *SLM_SHAPE), np.nan, np.float32), "non-finite"),
    (np.zeros((1, *SLM_SHAPE), np.float64), "float32"),
])
def test_a_mask_that_fails_its_checks_never_reaches_the_slm(slm_server, masks, bad, needle):
    server, slm, client = slm_server
    client.load_masks(masks)
    with pytest.raises(PeerError) as info:
        client.load_masks(bad)
    assert info.value.kind == "mask_rejected" and needle in str(info.value)
    assert slm.load_calls == 1  # only the good stack got through
    np.testing.assert_array_equal(slm.masks, masks)
    assert client.status().masks_loaded == 4


def test_nan_hidden_in_one_pixel_is_caught(slm_server):
    server, slm, client = slm_server
    phase = np.zeros((3, *SLM_SHAPE), np.float32)
    phase[2, 5, 7] = np.inf
    with pytest.raises(PeerError, match=r"phase mask 2 .* pixel \(5, 7\)"):
        client.load_masks(phase)
    assert slm.load_calls == 0


def test_wrong_lut_is_rejected(slm_server):
    server, slm, client = slm_server
    phase = np.zeros((1, *SLM_SHAPE), np.float32)
    with pytest.raises(PeerError, match="LUT"):
        client.load_masks(phase, lut=np.arange(256, dtype=np.uint16))
    assert slm.load_calls == 0


def test_show_before_load_and_out_of_range(slm_server, masks):
    server, slm, client = slm_server
    with pytest.raises(PeerError) as info:
        client.show(0)
    assert info.value.kind == "not_loaded"
    client.load_masks(masks)
    with pytest.raises(PeerError, match="out of range: 4 masks"):
        client.show(4)
    assert slm.shown == []


def test_driver_failure_is_an_error_reply_and_the_server_stays_up(slm_server, masks):
    server, slm, client = slm_server
    client.load_masks(masks)
    slm.fail_show = True
    with pytest.raises(PeerError) as info:
        client.show(1)
    assert info.value.kind == "slm_error" and "DMA" in str(info.value)
    slm.fail_show = False
    assert client.show(1).index == 1


def test_arrays_on_a_message_that_takes_none_are_refused(slm_server):
    server, slm, client = slm_server
    reply = m.parse(m.SlmReply, client.request_parts(framing.encode(m.Ping().to_json(), [np.zeros(3)]))[0])
    assert isinstance(reply, m.ErrorReply) and reply.error == "invalid"


def test_heartbeat_and_ping_are_answered(slm_server):
    server, slm, client = slm_server
    ack = client.heartbeat("controller", seq=5)
    assert (ack.peer, ack.seq) == ("controller", 5) and ack.server_s > 0
    assert client.ping(seq=8).seq == 8


def test_shutdown_message_stops_the_server(context, masks):
    slm = RecordingSLM(SLM_SHAPE)
    server = SlmServer(slm, "tcp://127.0.0.1:*", context=context)
    thread = server.start_thread()
    with SlmClient(server.endpoint, timeout_s=5, context=context) as client:
        assert isinstance(client.shutdown(), m.ShuttingDown)
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_client_times_out_when_no_server(context):
    from rig.wire.client import PeerTimeout
    with SlmClient("tcp://127.0.0.1:1", timeout_s=0.2, context=context) as client:
        with pytest.raises(PeerTimeout, match="no reply"):
            client.ping()
