"""Multipart framing: a JSON message, then bulk arrays as raw buffers described by a small JSON header.

A message on the wire is one ZMQ multipart message::

    part 0   the message itself, UTF-8 JSON (a model of :mod:`rig.wire.messages`)
    part 1   only when arrays follow: {"arrays": [{"dtype": "<u2", "shape": [3, 1152, 1920]}, ...]}
    part 2…  one raw, C-ordered, little-endian buffer per array, in the order of the header

Arrays are never pickled: a receiver trusts nothing but the dtype allow-list, the shape and the byte count, and
:func:`decode` rejects anything that does not add up with a :class:`~rig.wire.errors.WireError` that says what.
The MATLAB client of ScanImage (``rig/drivers/matlab``) writes the same layout.
"""
from __future__ import annotations

import json
from typing import Any, Sequence, Union

import numpy as np

from rig.wire.errors import WireError

#: Most bytes a JSON part (message or array header) may have: they are small by design.
MAX_JSON_BYTES = 64 * 1024
#: Most dimensions of an array on the wire.
MAX_NDIM = 8
#: Array dtypes allowed on the wire (numpy ``dtype.str``, little-endian or byte-order-free).
ALLOWED_DTYPES = frozenset({"|b1", "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f4", "<f8", "<c8",
                            "<c16"})

Buffer = Union[bytes, bytearray, memoryview]


def _to_bytes(part: Any) -> memoryview:
    """A read-only view of one received part (bytes, zmq.Frame or memoryview)."""
    buffer = getattr(part, "buffer", part)  # zmq.Frame exposes .buffer
    try:
        return memoryview(buffer)
    except TypeError:
        raise WireError(f"a message part must be bytes, got {type(part).__name__}") from None


def wire_dtype(dtype: np.dtype) -> np.dtype:
    """The little-endian dtype an array of ``dtype`` travels as; raises WireError for types not on the list."""
    dtype = np.dtype(dtype)
    if dtype.byteorder == ">":
        dtype = dtype.newbyteorder("<")
    if dtype.str not in ALLOWED_DTYPES:
        raise WireError(f"dtype {dtype} cannot travel on the wire; allowed: {', '.join(sorted(ALLOWED_DTYPES))}")
    return dtype


def dumps_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinity are refused (they are not JSON)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode(message: Union[bytes, dict], arrays: Sequence[np.ndarray] = ()) -> list[Buffer]:
    """Frames of one multipart message: the message JSON, then (if any) the array header and raw buffers.

    ``message`` is JSON bytes (e.g. ``model.model_dump_json().encode()``) or a dict. Arrays are sent C-ordered and
    little-endian (converted if needed, otherwise zero-copy).
    """
    head = message if isinstance(message, (bytes, bytearray)) else dumps_json(message)
    if not arrays:
        return [bytes(head)]
    specs, buffers = [], []
    for array in arrays:
        array = np.asarray(array)
        dtype = wire_dtype(array.dtype)
        if array.ndim > MAX_NDIM:
            raise WireError(f"arrays on the wire have at most {MAX_NDIM} dimensions, got {array.ndim}")
        array = array.astype(dtype, order="C", copy=False)  # keeps 0-d arrays 0-d
        specs.append({"dtype": dtype.str, "shape": list(array.shape)})
        buffers.append(memoryview(array.reshape(-1).view(np.uint8)))
    return [bytes(head), dumps_json({"arrays": specs}), *buffers]


def loads_json(part: Any, what: str = "message") -> dict:
    """Parse one JSON part into a dict, rejecting oversize, non-UTF-8, non-JSON and non-object parts."""
    view = _to_bytes(part)
    if view.nbytes > MAX_JSON_BYTES:
        raise WireError(f"the {what} is {view.nbytes} bytes; a JSON part may have at most {MAX_JSON_BYTES}")
    try:
        obj = json.loads(view.tobytes().decode("utf-8"),
                         parse_constant=lambda name: _reject_constant(name))
    except UnicodeDecodeError:
        raise WireError(f"the {what} is not UTF-8 text") from None
    except RecursionError:
        raise WireError(f"the {what} is nested too deeply") from None
    except ValueError as err:
        raise WireError(f"the {what} is not valid JSON ({err})") from None
    if not isinstance(obj, dict):
        raise WireError(f"the {what} must be a JSON object, got {type(obj).__name__}")
    return obj


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _array_specs(part: Any) -> list[tuple[np.dtype, tuple[int, ...]]]:
    header = loads_json(part, "array header")
    specs = header.get("arrays")
    if set(header) != {"arrays"} or not isinstance(specs, list):
        raise WireError('the array header must be {"arrays": [{"dtype": ..., "shape": [...]}, ...]}')
    parsed = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape"}:
            raise WireError(f"array {i}: the header entry must have exactly 'dtype' and 'shape'")
        if not isinstance(spec["dtype"], str) or spec["dtype"] not in ALLOWED_DTYPES:
            raise WireError(f"array {i}: dtype {spec['dtype']!r} is not allowed; "
                            f"use one of {', '.join(sorted(ALLOWED_DTYPES))}")
        shape = spec["shape"]
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(type(n) is int and n >= 0 for n in shape)):
            raise WireError(f"array {i}: shape must be a list of at most {MAX_NDIM} non-negative integers, "
                            f"got {shape!r}")
        parsed.append((np.dtype(spec["dtype"]), tuple(shape)))
    return parsed


def decode(parts: Sequence[Any]) -> tuple[dict, list[np.ndarray]]:
    """Inverse of :func:`encode`: the message dict and its arrays (read-only views of the received buffers).

    Raises :class:`WireError` for a missing part, a bad header, a dtype not on the list, or a buffer whose length
    does not match its dtype and shape.
    """
    if len(parts) == 0:
        raise WireError("empty message: expected a JSON part")
    message = loads_json(parts[0])
    if len(parts) == 1:
        return message, []
    specs = _array_specs(parts[1])
    buffers = parts[2:]
    if len(specs) != len(buffers):
        raise WireError(f"the array header lists {len(specs)} arrays but {len(buffers)} buffers follow")
    arrays = []
    for i, ((dtype, shape), part) in enumerate(zip(specs, buffers)):
        view = _to_bytes(part)
        expected = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        if view.nbytes != expected:
            raise WireError(f"array {i}: dtype {dtype.str} and shape {list(shape)} need {expected} bytes, "
                            f"the buffer has {view.nbytes}")
        arrays.append(np.frombuffer(view, dtype=dtype).reshape(shape))
    return message, arrays
