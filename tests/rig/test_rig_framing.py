"""Framing of arrays on the wire: round trips and the rejection of malformed parts."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rig.wire.errors import WireError
from rig.wire.framing import MAX_JSON_BYTES, decode, encode


def _round_trip(message, arrays):
    parts = [bytes(p) for p in encode(message, arrays)]  # what a socket would deliver
    return decode(parts)


@pytest.mark.parametrize("dtype, shape", [
    (np.uint8, (3, 24, 40)), (np.uint16, (2, 5)), (np.float32, (7,)), (np.float64, (2, 3, 4, 5)),
    (np.int16, (512, 512)), (np.complex64, (4, 4)), (np.bool_, (3, 3)), (np.int64, ()), (np.float32, (0, 5)),
])
def test_round_trip_keeps_dtype_shape_and_values(dtype, shape):
    rng = np.random.default_rng(1)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    message, arrays = _round_trip({"type": "x", "n": 1}, [array])
    assert message == {"type": "x", "n": 1}
    assert arrays[0].dtype == np.dtype(dtype) and arrays[0].shape == shape
    np.testing.assert_array_equal(arrays[0], array)


def test_round_trip_several_arrays_non_contiguous_and_big_endian():
    a = np.arange(60, dtype=np.float32).reshape(6, 10)[:, ::3]          # not contiguous
    b = np.arange(5, dtype=">u2")                                      # big-endian: sent little-endian
    message, (ra, rb) = _round_trip(b'{"type":"y"}', [a, b])
    np.testing.assert_array_equal(ra, a)
    np.testing.assert_array_equal(rb, b)
    assert rb.dtype == np.dtype("<u2")


def test_message_without_arrays_is_one_part():
    parts = encode({"type": "ping"})
    assert len(parts) == 1
    assert decode(parts) == ({"type": "ping"}, [])


@given(shape=st.lists(st.integers(0, 6), min_size=0, max_size=4),
       dtype=st.sampled_from(["|u1", "<u2", "<i4", "<f4", "<f8"]), seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_round_trip_property(shape, dtype, seed):
    array = np.random.default_rng(seed).integers(0, 200, size=shape).astype(dtype)
    _, (back,) = _round_trip({"type": "z"}, [array])
    assert back.shape == array.shape and back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def _header(*specs):
    return json.dumps({"arrays": list(specs)}).encode()


@pytest.mark.parametrize("parts, needle", [
    ([], "empty"),
    ([b"\xff\xfe"], "UTF-8"),
    ([b"not json"], "not valid JSON"),
    ([b"[1, 2]"], "JSON object"),
    ([b'{"a": NaN}'], "not valid JSON"),
    ([b"[" * 100_000], "bytes"),
    ([b'{"a":' * 5000 + b"1" + b"}" * 5000], "nested too deeply"),
    ([b"{}", _header({"dtype": "<f4", "shape": [2]}), b"\0" * 7], "need 8 bytes"),
    ([b"{}", _header({"dtype": "|O", "shape": [1]}), b"\0" * 8], "not allowed"),
    ([b"{}", _header({"dtype": ">f4", "shape": [1]}), b"\0" * 4], "not allowed"),
    ([b"{}", _header({"dtype": "<f4", "shape": [-1]}), b""], "non-negative"),
    ([b"{}", _header({"dtype": "<f4", "shape": [1.5]}), b""], "non-negative"),
    ([b"{}", _header({"dtype": "<f4", "shape": [True]}), b"\0" * 4], "non-negative"),
    ([b"{}", _header({"dtype": "<f4", "shape": [1] * 9}), b"\0" * 4], "at most 8"),
    ([b"{}", _header({"dtype": "<f4", "shape": [2**40, 2**40]}), b"\0" * 4], "need"),
    ([b"{}", _header({"dtype": "<f4", "shape": [1]})], "1 arrays but 0 buffers"),
    ([b"{}", _header({"dtype": "<f4"}), b"\0" * 4], "exactly 'dtype' and 'shape'"),
    ([b"{}", b'{"arrays": 3}', b""], "array header must be"),
    ([b"{}", b'{"arrays": [], "x": 1}'], "array header must be"),
])
def test_malformed_parts_are_rejected_with_a_clear_error(parts, needle):
    with pytest.raises(WireError) as info:
        decode(parts)
    assert needle in str(info.value)


def test_json_part_size_limit_is_inclusive():
    body = b'{"a":"' + b"x" * (MAX_JSON_BYTES - 8) + b'"}'
    assert len(body) == MAX_JSON_BYTES
    assert decode([body])[0]["a"].startswith("x")
    with pytest.raises(WireError):
        decode([body[:-2] + b'x"}'])


def test_encode_refuses_object_arrays():
    with pytest.raises(WireError, match="cannot travel"):
        encode({"type": "x"}, [np.array([object()])])
