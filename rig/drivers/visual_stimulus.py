"""Drifting gratings on the stimulus display: the command schema, the ZMQ client, and the in-process driver.

``visual_stimulus: zmq`` — :class:`ZmqVisualStimulus` is a REQ client of the stimulus server
(``python -m rig.drivers.stimulus_server``, usually on the computer that drives the display). Each request is one
UTF-8 JSON object validated by the pydantic models below before it is sent (and again by the server):

* ``{"type": "grating", "direction_deg", "spatial_frequency_cpd", "temporal_frequency_hz", "contrast",
  "duration_s"}`` → ``{"type": "onset", "onset_s", "reply_s"}`` once the first frame is on screen;
* ``{"type": "blank"}`` → ``onset`` (grey screen); ``{"type": "ping"}`` → ``{"type": "pong", "reply_s"}``;
* ``{"type": "shutdown"}`` → ``pong``, then the server exits. A bad request gets ``{"type": "error", "message"}``.

The server's times are on its own monotonic clock. The client maps them onto this computer's clock with the
offset between the server's ``reply_s`` and the midpoint of the request's send and receive times (NTP-style; the
error is at most half the round trip, well under a display frame on a LAN).

``visual_stimulus: psychopy`` — :class:`PsychoPyStimulus` runs the same server (and renderer) in a thread of this
process over an ``inproc://`` endpoint, so both modes share one code path.
"""
from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from typing import Annotated, Any, Callable, Literal, Optional, Union

import zmq
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from rig.hardware.errors import HardwareError

log = logging.getLogger(__name__)

SERVER_HINT = "start it on the stimulus computer with `python -m rig.drivers.stimulus_server --endpoint {endpoint}`"


# -------------------------------------------------------------------------------------------------- messages
class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, allow_inf_nan=False)


class GratingCommand(_Message):
    """A full-screen drifting sinusoidal grating (seed 002: 1 s, 1 Hz, 0.08 cpd, 100 % contrast).

    ``direction_deg`` is the direction of drift, counter-clockwise from rightward, in [0, 360)."""

    type: Literal["grating"] = "grating"
    direction_deg: float = Field(ge=0, lt=360)
    spatial_frequency_cpd: float = Field(gt=0, le=2.0)
    temporal_frequency_hz: float = Field(ge=0, le=60.0)
    contrast: float = Field(gt=0, le=1)
    duration_s: float = Field(gt=0, le=3600.0)


class BlankCommand(_Message):
    type: Literal["blank"] = "blank"


class PingCommand(_Message):
    type: Literal["ping"] = "ping"


class ShutdownCommand(_Message):
    type: Literal["shutdown"] = "shutdown"


class OnsetReply(_Message):
    type: Literal["onset"] = "onset"
    onset_s: float
    reply_s: float


class PongReply(_Message):
    type: Literal["pong"] = "pong"
    reply_s: float


class ErrorReply(_Message):
    type: Literal["error"] = "error"
    message: str


StimulusCommand = Annotated[Union[GratingCommand, BlankCommand, PingCommand, ShutdownCommand],
                            Field(discriminator="type")]
StimulusReply = Annotated[Union[OnsetReply, PongReply, ErrorReply], Field(discriminator="type")]
COMMANDS: TypeAdapter = TypeAdapter(StimulusCommand)
REPLIES: TypeAdapter = TypeAdapter(StimulusReply)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json().encode("utf-8")


def parse_command(raw: bytes):
    """A command from the wire; raises ValueError with a readable message if it is not one."""
    try:
        return COMMANDS.validate_python(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"not a UTF-8 JSON object: {err}") from None
    except ValidationError as err:
        raise ValueError(_describe(err)) from None


def _describe(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']} (got {e.get('input')!r})"
                     for e in err.errors())


# ---------------------------------------------------------------------------------------------------- client
class ZmqVisualStimulus:
    """A :class:`rig.hardware.VisualStimulus` that commands a stimulus server over ZMQ REQ/REP.

    Parameters
    ----------
    endpoint : the server's REP endpoint (``visual.endpoint`` of the rig profile).
    timeout_s : longest wait for a reply, s; longer raises :class:`HardwareError` (the socket is then rebuilt,
        so the next request can succeed once the server is back).
    clock : this computer's monotonic clock, s; onset times are returned on it.
    """

    def __init__(self, endpoint: str, timeout_s: float = 2.0, context: Optional[zmq.Context] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.endpoint = endpoint
        self.timeout_s = float(timeout_s)
        self._context = context or zmq.Context.instance()
        self._clock = clock
        self._socket: Optional[zmq.Socket] = None
        #: the last grating/blank onset on the server's clock, and server clock − local clock (s)
        self.last_server_onset_s: Optional[float] = None
        self.clock_offset_s: Optional[float] = None
        self._connect()

    @classmethod
    def from_config(cls, visual, check: bool = True, **kwargs) -> "ZmqVisualStimulus":
        """The client of ``visual`` (a :class:`rig.config.VisualConfig`); ``check`` pings the server now."""
        client = cls(visual.endpoint, visual.timeout_s, **kwargs)
        if check:
            try:
                client.ping()
            except HardwareError:
                client.close()
                raise
        return client

    def show_grating(self, direction_deg: float, spatial_frequency_cpd: float, temporal_frequency_hz: float,
                     contrast: float, duration_s: float) -> float:
        """Start a drifting grating; returns the monotonic time (s, this computer) its first frame was shown."""
        command = _validated(GratingCommand, direction_deg=direction_deg, spatial_frequency_cpd=spatial_frequency_cpd,
                             temporal_frequency_hz=temporal_frequency_hz, contrast=contrast, duration_s=duration_s)
        return self._onset(command)

    def blank(self) -> float:
        """Grey screen; returns its onset time (monotonic s, this computer)."""
        return self._onset(BlankCommand())

    def ping(self) -> float:
        """Round-trip time to the server, s (also refreshes the clock offset)."""
        sent = self._clock()
        self._request(PingCommand(), PongReply)
        return self._clock() - sent

    def shutdown_server(self) -> None:
        """Ask the server to exit."""
        self._request(ShutdownCommand(), PongReply)

    def close(self) -> None:
        self._close_socket()

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    # ------------------------------------------------------------------------------------------ internals
    def _onset(self, command) -> float:
        reply = self._request(command, OnsetReply)
        self.last_server_onset_s = reply.onset_s
        return reply.onset_s - self.clock_offset_s

    def _request(self, command, expected: type):
        if self._socket is None:
            raise HardwareError("the visual stimulus client is closed")
        sent_s = self._clock()
        self._socket.send(encode(command))
        if not self._socket.poll(int(self.timeout_s * 1000), zmq.POLLIN):
            self._connect()  # a REQ socket without its reply cannot send again: start over
            raise HardwareError(f"the stimulus server at {self.endpoint} did not answer a {command.type!r} request "
                                f"within {self.timeout_s:g} s; is it running? "
                                + SERVER_HINT.format(endpoint=self.endpoint))
        raw = self._socket.recv()
        received_s = self._clock()
        try:
            reply = REPLIES.validate_python(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as err:
            raise HardwareError(f"the stimulus server at {self.endpoint} sent a malformed reply: {err}") from None
        if isinstance(reply, ErrorReply):
            raise HardwareError(f"the stimulus server refused {command.type!r}: {reply.message}")
        if not isinstance(reply, expected):
            raise HardwareError(f"the stimulus server answered {command.type!r} with {reply.type!r}")
        self.clock_offset_s = reply.reply_s - 0.5 * (sent_s + received_s)
        return reply

    def _connect(self) -> None:
        self._close_socket()
        self._socket = self._context.socket(zmq.REQ)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(self.endpoint)


def _validated(model: type, **values):
    try:
        return model(**values)
    except ValidationError as err:
        raise HardwareError(f"invalid {model.__name__}: {_describe(err)}") from None


# --------------------------------------------------------------------------------------------- in-process
class PsychoPyStimulus(ZmqVisualStimulus):
    """``visual_stimulus: psychopy``: the stimulus server with its renderer in a thread of this process.

    ``renderer_factory`` builds the renderer inside that thread (OpenGL contexts belong to the thread that made
    them); by default a :class:`rig.drivers.stimulus_server.PsychoPyRenderer` for ``visual``.
    """

    _ids = itertools.count()

    def __init__(self, visual, renderer_factory: Optional[Callable[[], Any]] = None, start_timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        from rig.drivers.stimulus_server import PsychoPyRenderer, StimulusServer  # noqa: PLC0415 - no cycle

        context = zmq.Context.instance()
        endpoint = f"inproc://holostim-visual-{next(self._ids)}"
        factory = renderer_factory or (lambda: PsychoPyRenderer.from_config(visual, clock=clock))
        ready, failure = threading.Event(), []

        def run() -> None:
            try:
                server = StimulusServer(endpoint, factory(), context=context, clock=clock)
            except BaseException as err:  # noqa: BLE001 - reported to the opening thread
                failure.append(err)
                ready.set()
                return
            ready.set()
            server.serve()

        self._thread = threading.Thread(target=run, name="holostim-visual", daemon=True)
        self._thread.start()
        if not ready.wait(start_timeout_s):
            raise HardwareError(f"the in-process stimulus window did not open within {start_timeout_s:g} s")
        if failure:
            err = failure[0]
            raise err if isinstance(err, HardwareError) else HardwareError(f"cannot open the stimulus window: {err}")
        super().__init__(endpoint, timeout_s=visual.timeout_s, context=context, clock=clock)

    @classmethod
    def from_config(cls, visual, **kwargs) -> "PsychoPyStimulus":
        return cls(visual, **kwargs)

    def close(self) -> None:
        if self._socket is not None and self._thread.is_alive():
            try:
                self.shutdown_server()
            except HardwareError as err:
                log.warning("stimulus thread did not stop cleanly: %s", err)
        super().close()
        self._thread.join(timeout=5.0)
