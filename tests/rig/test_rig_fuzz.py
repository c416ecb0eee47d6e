"""Message fuzz: 10,000 random and malformed messages to the SLM server. Every one gets an error reply, none
changes what the SLM holds or shows, and the server still serves valid requests after."""
from __future__ import annotations

import json

import numpy as np

from rig_testing import SLM_SHAPE, context, masks, slm_server  # noqa: F401 - fixtures
from rig.wire import framing, messages as m
from rig.wire.framing import MAX_JSON_BYTES

N_MESSAGES = 10_000


def _j(obj) -> bytes:
    return json.dumps(obj).encode()


def _array_msg(message: dict, specs: list, buffers: list) -> list[bytes]:
    return [_j(message), _j({"arrays": specs}), *buffers]


def _fuzz_cases(rng: np.random.Generator):
    """Generators of invalid messages, each a list of parts. None of them is a valid request."""
    rows, cols = SLM_SHAPE
    n_bytes = rows * cols

    def random_bytes():
        return [rng.bytes(int(rng.integers(0, 200)))]

    def random_parts():
        return [rng.bytes(int(rng.integers(0, 50))) for _ in range(int(rng.integers(2, 6)))]

    def not_an_object():
        return [_j([1, 2, 3]) if rng.random() < 0.5 else _j(rng.standard_normal())]

    def no_type():
        return [_j({"index": int(rng.integers(0, 4))})]

    def unknown_type():
        return [_j({"type": "".join(rng.choice(list("abcdefxyz_"), 8)), "index": 1})]

    def reply_as_request():
        return [m.Pong(server_s=1.0).to_json()]

    def wrong_types():
        bad = ["3", 3.5, None, [1], {"a": 1}, True, -1, 2**60][int(rng.integers(0, 8))]
        return [_j({"type": "show", "index": bad})]

    def out_of_range_index():
        return [_j({"type": "show", "index": int(rng.integers(4, 10**6))})]

    def extra_field():
        return [_j({"type": "show", "index": 1, "power_mw": 500})]

    def nan_literal():
        return [b'{"type": "heartbeat", "peer": "x", "sent_s": NaN}']

    def huge_header():
        return [b'{"type": "ping", "pad": "' + b"x" * (MAX_JSON_BYTES + int(rng.integers(1, 1000))) + b'"}']

    def truncated_json():
        raw = m.ShowMask(index=1).to_json()
        return [raw[: int(rng.integers(0, len(raw) - 1))]]

    def wrong_buffer_length():
        delta = int(rng.choice([-1, 1, -n_bytes, 7]))
        return _array_msg({"type": "load_masks"}, [{"dtype": "|u1", "shape": [1, rows, cols]}],
                          [b"\0" * max(n_bytes + delta, 0)])

    def missing_buffer():
        return _array_msg({"type": "load_masks"}, [{"dtype": "|u1", "shape": [1, rows, cols]}], [])

    def bad_dtype():
        dtype = ["|O", ">f4", "<U4", "float32", "<f2", 5][int(rng.integers(0, 6))]
        return _array_msg({"type": "load_masks"}, [{"dtype": dtype, "shape": [1]}], [b"\0" * 4])

    def bad_shape():
        shape = [[-1], [1.5], "12", [2**62, 2**62], [1] * 12][int(rng.integers(0, 5))]
        return _array_msg({"type": "load_masks"}, [{"dtype": "|u1", "shape": shape}], [b"\0"])

    def wrong_mask_shape():
        r, c = rows + int(rng.integers(1, 3)), cols
        return _array_msg({"type": "load_masks"}, [{"dtype": "|u1", "shape": [1, r, c]}], [b"\1" * (r * c)])

    def wrong_mask_dtype():
        return _array_msg({"type": "load_masks", "encoding": "levels"},
                          [{"dtype": "<u2", "shape": [1, rows, cols]}], [b"\1" * (2 * n_bytes)])

    def nan_phase():
        phase = np.zeros((1, rows, cols), np.float32)
        phase.flat[int(rng.integers(0, n_bytes))] = np.nan
        return framing.encode(m.LoadMasks(encoding="phase").to_json(), [phase])

    def too_many_arrays():
        return framing.encode(m.LoadMasks().to_json(), [np.zeros((1, rows, cols), np.uint8)] * 2)

    def arrays_on_show():
        return framing.encode(m.ShowMask(index=0).to_json(), [np.zeros(3, np.uint8)])

    def not_utf8():
        return [b'{"type": "\xff\xfe"}']

    return [random_bytes, random_parts, not_an_object, no_type, unknown_type, reply_as_request, wrong_types,
            out_of_range_index, extra_field, nan_literal, huge_header, truncated_json, wrong_buffer_length,
            missing_buffer, bad_dtype, bad_shape, wrong_mask_shape, wrong_mask_dtype, nan_phase, too_many_arrays,
            arrays_on_show, not_utf8]


def test_ten_thousand_malformed_messages_get_error_replies_and_the_server_stays_up(slm_server, masks):
    server, slm, client = slm_server
    client.load_masks(masks)
    rng = np.random.default_rng(20240101)
    cases = _fuzz_cases(rng)
    weights = np.ones(len(cases))
    weights[[i for i, c in enumerate(cases) if c.__name__ == "huge_header"]] = 0.2  # big: fewer of them
    weights /= weights.sum()
    kinds: dict[str, int] = {}
    valid_shows = 0
    for i in range(N_MESSAGES):
        case = cases[int(rng.choice(len(cases), p=weights))]
        reply = m.parse(m.SlmReply, client.request_parts(case(), timeout_s=5)[0])
        assert isinstance(reply, m.ErrorReply), f"{case.__name__} (message {i}) was not refused: {reply}"
        kinds[reply.error] = kinds.get(reply.error, 0) + 1
        if i % 1000 == 999:  # still serving valid requests in between
            assert client.show(i % 4).index == i % 4
            valid_shows += 1
    assert client.show(2).index == 2
    np.testing.assert_array_equal(slm.current, masks[2])
    assert len(slm.shown) == valid_shows + 1, "a malformed message made the SLM show something"
    assert slm.load_calls == 1, "a malformed message reached the SLM's load"
    assert server.errors == N_MESSAGES
    assert {"malformed", "unknown_type", "invalid", "mask_rejected"} <= set(kinds)
