"""Wire messages: every model round-trips, the ``type`` field picks the model, wrong input is refused."""
from __future__ import annotations

import pytest

from rig.wire import messages as m
from rig.wire.errors import WireError

EXAMPLES = [
    (m.SlmRequest, m.Ping(seq=4)),
    (m.SlmRequest, m.Heartbeat(peer="controller", seq=2, sent_s=12.5)),
    (m.SlmRequest, m.LoadMasks(session_id="s1", encoding="phase")),
    (m.SlmRequest, m.ShowMask(index=3, seq=9)),
    (m.SlmRequest, m.Status()),
    (m.SlmRequest, m.Shutdown()),
    (m.SlmReply, m.Pong(seq=1, server_s=3.0)),
    (m.SlmReply, m.HeartbeatAck(peer="c", seq=1, sent_s=1.0, server_s=2.0)),
    (m.SlmReply, m.MasksLoaded(session_id="s", count=2, shape=(4, 5), dtype="uint8")),
    (m.SlmReply, m.Shown(index=1, seq=2, shown_s=3.0, latency_s=1e-4)),
    (m.SlmReply, m.StatusReply(session_id="", slm_shape=(2, 3), bit_depth=8, masks_loaded=0, shown_count=0,
                               last_index=None, uptime_s=1.0, errors=0)),
    (m.SlmReply, m.ShuttingDown()),
    (m.SlmReply, m.ErrorReply(error="invalid", message="x", request_type="show")),
    (m.ImagingMessage, m.ImagingFrame(counter=5, timestamp_s=0.2, plane=1, channel=2, z_um=30.0)),
    (m.ImagingMessage, m.ImagingEvent(name="acqDone", counter=9)),
]


@pytest.mark.parametrize("union, model", EXAMPLES, ids=[type(e[1]).__name__ for e in EXAMPLES])
def test_every_model_round_trips_through_json(union, model):
    parsed = m.parse(union, model.to_json())
    assert type(parsed) is type(model) and parsed == model


def test_type_names_are_unique_across_all_sockets():
    names = [t for union in (m.SlmRequest, m.SlmReply, m.ImagingMessage) for t in m.known_types(union)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("raw, kind", [
    (b'{"type": "launch"}', "unknown_type"),
    (b'{"index": 3}', "unknown_type"),
    (b'{"type": 3}', "unknown_type"),
    (b'{"type": "pong", "server_s": 1}', "unknown_type"),       # a reply is not a request
    (b'{"type": "show"}', "invalid"),
    (b'{"type": "show", "index": "3"}', "invalid"),
    (b'{"type": "show", "index": 3.0}', "invalid"),
    (b'{"type": "show", "index": true}', "invalid"),
    (b'{"type": "show", "index": -1}', "invalid"),
    (b'{"type": "show", "index": 3, "power": 1}', "invalid"),
    (b'{"type": "heartbeat", "peer": "", "sent_s": 0}', "invalid"),
    (b'{"type": "heartbeat", "peer": "a", "sent_s": 1e999}', "invalid"),
    (b'{"type": "load_masks", "encoding": "jpeg"}', "invalid"),
    (b'"show"', "malformed"),
])
def test_bad_requests_raise_wire_errors_of_the_right_kind(raw, kind):
    with pytest.raises(WireError) as info:
        m.parse(m.SlmRequest, raw)
    assert info.value.kind == kind


def test_unknown_type_error_lists_the_known_types():
    with pytest.raises(WireError, match="ping, heartbeat, load_masks, show, status, shutdown"):
        m.parse(m.SlmRequest, b'{"type": "nope"}')
