"""Messages of the controller (``holostim controller``) and the online server (``holostim online serve``).

Same rules as :mod:`rig.wire.messages` (whose ``Ping``, ``Pong``, ``Status``, ``Shutdown``, ``ShuttingDown`` and
``ErrorReply`` are reused): JSON objects with a ``type`` field, unknown fields refused, parsed with
:func:`rig.wire.messages.parse` against a discriminated union.

Controller, REQ/REP on ``zmq.controller``: requests :data:`ControllerRequest`, replies :data:`ControllerReply`.
Controller, PUB on ``zmq.events``: ``[b"event", SessionEvent]`` and ``[b"progress", SessionStatus]``.
Online server, PULL on ``zmq.online``: :data:`OnlineInput` (frames carry one raw array, see
:mod:`rig.wire.framing`). Online server, PUB on ``zmq.online_results``: ``[topic, JSON, array header, buffers…]``
with topics ``dff``, ``trial``, ``tuning``, ``report`` (see :mod:`rig.online_server`).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, model_validator

from rig.wire.messages import (ErrorReply, Ping, Pong, Shutdown, ShuttingDown, Status, WireModel,
                               _INT)

_PATH = Annotated[str, Field(min_length=1, max_length=4096)]
_NAME = Annotated[str, Field(max_length=200)]

#: States of the controller's session slot.
SessionState = Literal["idle", "running", "pausing", "paused", "aborting", "aborted", "done", "failed"]


# ------------------------------------------------------------------------------------------ controller requests
class Start(WireModel):
    """Start a session: the protocol as a YAML path (on the controller's machine) or inline (a mapping of the
    protocol's fields), the seed, and the session file to write. ``dry_run`` asks for the simulated microscope
    (the controller's rig must then have ``backend: sim``); otherwise the rig must be a real one."""

    type: Literal["start"] = "start"
    protocol_path: Optional[_PATH] = None
    protocol: Optional[dict[str, Any]] = None
    seed: _INT = 0
    out: _PATH
    dry_run: bool = True
    overwrite: bool = False

    @model_validator(mode="after")
    def _one_protocol(self) -> "Start":
        if (self.protocol_path is None) == (self.protocol is None):
            raise ValueError("give exactly one of protocol_path (a YAML path) or protocol (inline fields)")
        return self


class Pause(WireModel):
    """Pause the running session at its next safe point (after the trial in progress, or between stages)."""

    type: Literal["pause"] = "pause"


class Resume(WireModel):
    """Continue a paused session from its file (same seeded order, after its last committed trial)."""

    type: Literal["resume"] = "resume"


class Abort(WireModel):
    """Stop the session at its next safe point (laser off, file closed); the controller will not resume it."""

    type: Literal["abort"] = "abort"


ControllerRequest = Annotated[Union[Ping, Status, Start, Pause, Resume, Abort, Shutdown],
                              Field(discriminator="type")]


# ------------------------------------------------------------------------------------------- controller replies
class SessionStatus(WireModel):
    """Where the controller's session stands (the reply to ``status``, and every ``progress`` publication).

    ``trial``/``n_trials`` count the current trial block (0/0 outside one); ``valid_fraction`` is over the
    block's trials so far (None before any); ``time_left_s`` is the block's remaining experiment time (None when
    unknown); ``wall_left_s`` the wall-clock estimate from the recent trial rate.
    """

    type: Literal["session_status"] = "session_status"
    state: SessionState
    path: str = ""
    stage: str = ""
    trial: _INT = 0
    n_trials: _INT = 0
    valid_fraction: Optional[float] = None
    time_left_s: Optional[float] = None
    wall_left_s: Optional[float] = None
    message: str = ""
    summary: Optional[dict[str, Any]] = None


class Accepted(WireModel):
    """A ``start``/``pause``/``resume``/``abort`` request was accepted; ``state`` is the state it led to."""

    type: Literal["accepted"] = "accepted"
    request_type: str
    state: SessionState


ControllerReply = Annotated[Union[Pong, SessionStatus, Accepted, ShuttingDown, ErrorReply],
                            Field(discriminator="type")]


class SessionEvent(WireModel):
    """Published on ``zmq.events`` (topic ``event``): ``name`` is what happened (``started``, ``stage``,
    ``message``, ``pausing``, ``paused``, ``resumed``, ``aborting``, ``aborted``, ``done``, ``failed``)."""

    type: Literal["session_event"] = "session_event"
    name: _NAME
    state: SessionState
    stage: str = ""
    message: str = ""
    t_s: float = 0.0


# ----------------------------------------------------------------------------------------- online server inputs
class Configure(WireModel):
    """Set up (or replace) the analysis. ``online`` holds :class:`online.OnlineConfig` fields.

    Arrays that follow, per imaging plane: with ``encoding='dense'`` one footprint stack, cells × rows × cols
    (weights or booleans); with ``encoding='csr'`` the three arrays ``data, indices, indptr`` of a sparse
    cells × pixels matrix over ``frame_shape`` (row-major pixels), as the session runner holds them.
    ``traces`` asks for a ``traces`` publication per accepted frame (raw cell and neuropil fluorescence); with
    ``traces_batch`` N > 1, one ``traces_block`` publication per N accepted frames of a plane instead (and before
    every ``sync`` answer and trial response, so nothing is held back at a barrier);
    ``tuning: false`` turns the live ``tuning`` publications off (the session runner computes tuning from the trial
    responses itself; a live fit costs ~0.1 s per plane after every grating trial)."""

    type: Literal["configure"] = "configure"
    online: dict[str, Any] = Field(default_factory=dict)
    encoding: Literal["dense", "csr"] = "dense"
    frame_shape: Optional[tuple[Annotated[int, Field(ge=1, le=65536)], Annotated[int, Field(ge=1, le=65536)]]] = None
    traces: bool = False
    traces_batch: int = Field(1, ge=1, le=1024)
    tuning: bool = True

    @model_validator(mode="after")
    def _csr_shape(self) -> "Configure":
        if self.encoding == "csr" and self.frame_shape is None:
            raise ValueError("encoding 'csr' needs frame_shape [rows, cols]")
        return self


class OnlineFrame(WireModel):
    """One registered-to-be frame of one plane. Array that follows: the image, rows × cols (integer or float).
    ``frame_index`` counts that plane's frames (volumes) from 0; gaps mean dropped frames."""

    type: Literal["frame"] = "frame"
    plane: _INT = 0
    frame_index: _INT
    t_s: Optional[float] = None


class TrialOn(WireModel):
    """A trial starts at volume ``onset_frame`` (every plane). ``targets`` are cell indices over all planes
    (plane 0's cells first); ``kind`` is ``grating``, ``blank`` or ``photostim``."""

    type: Literal["trial_on"] = "trial_on"
    trial: Union[_INT, _NAME]
    kind: Literal["grating", "blank", "photostim"]
    onset_frame: _INT
    offset_frame: Optional[_INT] = None
    direction_deg: Optional[float] = None
    ensemble: Optional[_NAME] = None
    targets: Optional[list[_INT]] = Field(None, max_length=100_000)
    power_mw: Optional[float] = None


class TrialOff(WireModel):
    """The trial's stimulus ended at volume ``offset_frame`` (when its ``trial_on`` had none)."""

    type: Literal["trial_off"] = "trial_off"
    trial: Union[_INT, _NAME]
    offset_frame: _INT


class ReportRequest(WireModel):
    """Publish the counters now (topic ``report``)."""

    type: Literal["report"] = "report"


class Reference(WireModel):
    """Use this motion-correction reference for ``plane`` from now on. Array that follows: the image, rows × cols
    (the session runner aligns each plane's reference onto its red-channel image before the first trial)."""

    type: Literal["reference"] = "reference"
    plane: _INT = 0


class Sync(WireModel):
    """A barrier: answered on topic ``sync`` after everything sent before it was handled (the input is one
    ordered channel), with ``seq`` echoed, per-plane frame counters and the per-cell noise s.d. of every plane."""

    type: Literal["sync"] = "sync"
    seq: _INT = 0


OnlineInput = Annotated[Union[Configure, OnlineFrame, TrialOn, TrialOff, ReportRequest, Reference, Sync, Shutdown],
                        Field(discriminator="type")]
