"""Every message of the rig's ZMQ wire format, as pydantic models: the one source of truth.

Each model has a ``type`` field that names it; a union of models per socket is discriminated by that field, so a
receiver parses any message of its socket with one :func:`parse` call. Bulk arrays (masks, LUTs, frames) are not
in these models: they travel as raw buffers after the message (see :mod:`rig.wire.framing`), and each model's
docstring says which arrays follow it.

Times: ``*_s`` fields are seconds on the sender's ``time.monotonic()`` clock unless the field says otherwise.
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from rig.wire.errors import WireError
from rig.wire.framing import dumps_json, loads_json

_INT = Annotated[int, Field(ge=0, le=2**53)]


class WireModel(BaseModel):
    """Base of every message: unknown fields are an error, NaN/inf are refused, messages are immutable."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


# ---------------------------------------------------------------------------------------- SLM server: requests
class Ping(WireModel):
    """Is the server there? Replied with :class:`Pong`."""

    type: Literal["ping"] = "ping"
    seq: _INT = 0


class Heartbeat(WireModel):
    """A peer's periodic sign of life; replied with :class:`HeartbeatAck`, which is the server's sign of life."""

    type: Literal["heartbeat"] = "heartbeat"
    peer: str = Field(min_length=1, max_length=200)
    seq: _INT = 0
    sent_s: float = 0.0


class LoadMasks(WireModel):
    """The session's masks, sent up front. Replaces any masks loaded before.

    Arrays that follow: ``masks`` of shape (n, rows, cols), then for ``encoding='phase'`` optionally a ``lut``.

    * ``encoding='levels'``: masks are device levels, uint8 for an 8-bit SLM, uint16 for a 16-bit one.
    * ``encoding='phase'``: masks are float32 phases in radians (wrapped to [0, 2π) by the server); the optional
      1-D ``lut`` (uint8/uint16) gives the device level of phase ``2π·k/len(lut)``; without it, a linear map onto
      the device's full level range.
    """

    type: Literal["load_masks"] = "load_masks"
    session_id: str = Field("", max_length=200)
    encoding: Literal["levels", "phase"] = "levels"


class ShowMask(WireModel):
    """Show the precomputed mask number ``index``; replied with :class:`Shown` once it is on the SLM."""

    type: Literal["show"] = "show"
    index: _INT
    seq: _INT = 0


class Status(WireModel):
    """What the server holds and has shown; replied with :class:`StatusReply`."""

    type: Literal["status"] = "status"


class Shutdown(WireModel):
    """Stop serving and close the SLM; replied with :class:`ShuttingDown` before the server exits."""

    type: Literal["shutdown"] = "shutdown"


SlmRequest = Annotated[Union[Ping, Heartbeat, LoadMasks, ShowMask, Status, Shutdown], Field(discriminator="type")]


# ------------------------------------------------------------------------------------------ SLM server: replies
class Pong(WireModel):
    type: Literal["pong"] = "pong"
    seq: _INT = 0
    server_s: float


class HeartbeatAck(WireModel):
    type: Literal["heartbeat_ack"] = "heartbeat_ack"
    peer: str
    seq: _INT
    sent_s: float
    server_s: float


class MasksLoaded(WireModel):
    type: Literal["masks_loaded"] = "masks_loaded"
    session_id: str
    count: _INT
    shape: tuple[_INT, _INT]
    dtype: str


class Shown(WireModel):
    """Mask ``index`` is on the SLM: ``shown_s`` is when the driver reported the write complete (server clock);
    ``latency_s`` is from the request's arrival to then."""

    type: Literal["shown"] = "shown"
    index: _INT
    seq: _INT
    shown_s: float
    latency_s: float


class StatusReply(WireModel):
    type: Literal["status_reply"] = "status_reply"
    session_id: str
    slm_shape: tuple[_INT, _INT]
    bit_depth: _INT
    masks_loaded: _INT
    shown_count: _INT
    last_index: Optional[int]
    uptime_s: float
    errors: _INT


class ShuttingDown(WireModel):
    type: Literal["shutting_down"] = "shutting_down"


ErrorKind = Literal["malformed", "unknown_type", "invalid", "mask_rejected", "not_loaded", "slm_error", "internal"]


class ErrorReply(WireModel):
    """The request was refused; the server is still up. ``message`` says what to change."""

    type: Literal["error"] = "error"
    error: ErrorKind
    message: str
    request_type: Optional[str] = None


SlmReply = Annotated[Union[Pong, HeartbeatAck, MasksLoaded, Shown, StatusReply, ShuttingDown, ErrorReply],
                     Field(discriminator="type")]


# ------------------------------------------------------------------------------------- imaging (ScanImage) → rig
class ImagingFrame(WireModel):
    """One frame of one channel. Array that follows: the image, shape (rows, cols), as acquired (e.g. int16).

    ``counter`` is ScanImage's frame number in the acquisition mode (1-based, all planes counted); ``timestamp_s``
    is ScanImage's frame timestamp (seconds from the acquisition's start trigger); ``plane`` is the 0-based
    index of the imaging plane; ``channel`` is ScanImage's 1-based channel number.
    """

    type: Literal["imaging_frame"] = "imaging_frame"
    counter: _INT
    timestamp_s: float
    plane: _INT = 0
    channel: Annotated[int, Field(ge=1, le=64)] = 1
    z_um: float = 0.0


class ImagingEvent(WireModel):
    """An acquisition event of ScanImage's user-function interface."""

    type: Literal["imaging_event"] = "imaging_event"
    name: Literal["acqModeStart", "acqStart", "acqDone", "acqModeDone", "acqAbort"]
    counter: _INT = 0
    timestamp_s: float = 0.0


ImagingMessage = Annotated[Union[ImagingFrame, ImagingEvent], Field(discriminator="type")]

_ADAPTERS: dict[object, TypeAdapter] = {}


def _adapter(union) -> TypeAdapter:
    if union not in _ADAPTERS:
        _ADAPTERS[union] = TypeAdapter(union)
    return _ADAPTERS[union]


def known_types(union) -> list[str]:
    """The ``type`` values a union accepts."""
    members = union.__origin__.__args__ if hasattr(union, "__origin__") else ()
    return [m.model_fields["type"].default for m in members]


def parse(union, part) -> WireModel:
    """Parse one JSON message part into the model its ``type`` names, from the models of ``union``.

    Raises :class:`WireError` with kind ``malformed`` (not a JSON object), ``unknown_type`` (missing or unknown
    ``type``, listing the known ones) or ``invalid`` (fields wrong; the message lists each).
    """
    if isinstance(part, dict):
        data, raw = part, dumps_json(part)
    else:
        data, raw = loads_json(part), bytes(getattr(part, "buffer", part))
    allowed = known_types(union)
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in allowed:
        raise WireError(f"unknown message type {kind!r}; this socket accepts: {', '.join(allowed)}", "unknown_type")
    try:
        return _adapter(union).validate_json(raw, strict=True)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or '(message)'}: {e['msg']}"
                             for e in err.errors(include_url=False))
        raise WireError(f"invalid {kind!r} message: {problems}", "invalid") from None
