"""The stimulus server: full-screen drifting sinusoidal gratings on the display computer, commanded over ZMQ.

Run on the computer that drives the stimulus display (seed 002: an iPad LCD 10 cm from the mouse)::

    python -m rig.drivers.stimulus_server --endpoint tcp://0.0.0.0:5561 --monitor 1 \\
        --distance-cm 10 --width-cm 19.7

It binds a REP socket and answers the JSON commands of :mod:`rig.drivers.visual_stimulus`. Between requests it
keeps drawing: a grating drifts frame by frame (phase = temporal frequency × time since onset) until its duration
is over, then the screen turns grey. The reply to ``grating``/``blank`` is sent after the first frame's flip, with
that flip's time. Drawing goes through a renderer (:class:`PsychoPyRenderer`; tests inject
:class:`rig.drivers.fakes.FakeGratingRenderer`) with three calls: ``draw_grating(direction_deg, cycles_per_deg,
phase_cycles, contrast) -> flip_s``, ``draw_blank() -> flip_s``, ``close()``, and ``frame_period_s``.
"""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from typing import Any, Callable, Optional

import zmq

from rig.drivers.visual_stimulus import (BlankCommand, ErrorReply, GratingCommand, OnsetReply, PingCommand,
                                         PongReply, ShutdownCommand, encode, parse_command)
from rig.hardware.errors import HardwareError

log = logging.getLogger(__name__)


def import_psychopy() -> Any:
    try:
        from psychopy import visual  # noqa: PLC0415 - only on the stimulus computer
    except ImportError:
        raise HardwareError("the visual stimulus needs PsychoPy on the computer that drives the display: "
                            "pip install psychopy") from None
    return visual


def pixels_per_degree(distance_cm: float, width_cm: float, width_px: int) -> float:
    """Pixels spanning one visual degree at the centre of a flat screen ``distance_cm`` from the eye."""
    return distance_cm * math.tan(math.radians(1.0)) * width_px / width_cm


class PsychoPyRenderer:
    """Full-screen sinusoidal gratings with PsychoPy (``psychopy.visual``, lazily imported).

    A :class:`GratingStim` in pixel units covers the whole window at any orientation (its side is the window's
    diagonal). PsychoPy's ``ori`` turns the grating clockwise and a rising ``phase`` moves it toward +x at
    ``ori = 0``, so drift direction θ (counter-clockwise from rightward) is ``ori = −θ`` with phase rising in
    time. Spatial frequency is converted at the screen centre (:func:`pixels_per_degree`); at 10 cm the periphery
    of a flat screen sees a higher frequency in degrees, as with the original Psychtoolbox stimulus.
    """

    def __init__(self, monitor_index: int = 1, distance_cm: float = 10.0, width_cm: float = 19.7,
                 fullscreen: bool = True, visual: Any = None, clock: Callable[[], float] = time.monotonic):
        self._visual = visual if visual is not None else import_psychopy()
        self._clock = clock
        self.window = self._visual.Window(fullscr=fullscreen, screen=monitor_index, units="pix", color=(0, 0, 0),
                                          colorSpace="rgb", allowGUI=False, waitBlanking=True)
        width_px, height_px = (int(v) for v in self.window.size)
        self.px_per_deg = pixels_per_degree(distance_cm, width_cm, width_px)
        side = math.hypot(width_px, height_px)
        self.grating = self._visual.GratingStim(self.window, tex="sin", mask=None, units="pix", size=(side, side),
                                                sf=0.01, ori=0.0, phase=0.0, contrast=1.0)
        period = getattr(self.window, "monitorFramePeriod", None)
        self.frame_period_s = float(period) if period else 1.0 / 60.0

    @classmethod
    def from_config(cls, visual_config, **kwargs) -> "PsychoPyRenderer":
        return cls(visual_config.monitor_index, visual_config.screen_distance_cm, visual_config.screen_width_cm,
                   **kwargs)

    def draw_grating(self, direction_deg: float, cycles_per_deg: float, phase_cycles: float, contrast: float) -> float:
        g = self.grating
        g.ori = (-direction_deg) % 360.0
        g.sf = cycles_per_deg / self.px_per_deg
        g.phase = phase_cycles % 1.0
        g.contrast = contrast
        g.draw()
        return self._flip()

    def draw_blank(self) -> float:
        return self._flip()  # the window's colour (0, 0, 0) is mean grey in PsychoPy's rgb space

    def close(self) -> None:
        self.window.close()

    def _flip(self) -> float:
        self.window.flip()  # waitBlanking: returns at the vertical retrace that shows the frame
        return self._clock()


class GratingPresenter:
    """Which frame comes next: a drifting grating until its duration is over, then grey."""

    def __init__(self, renderer):
        self.renderer = renderer
        self.grating: Optional[GratingCommand] = None
        self.onset_s = self.last_flip_s = 0.0
        #: (onset_s, offset_s, direction_deg) of every grating shown, offsets as flip times of the grey frame
        self.history: list[tuple[float, Optional[float], float]] = []

    @property
    def active(self) -> bool:
        return self.grating is not None

    def start_grating(self, command: GratingCommand) -> float:
        """First frame of ``command`` (phase 0); returns its flip time."""
        self._end_history(None)
        self.grating = command
        self.onset_s = self.last_flip_s = self.renderer.draw_grating(
            command.direction_deg, command.spatial_frequency_cpd, 0.0, command.contrast)
        self.history.append((self.onset_s, None, command.direction_deg))
        return self.onset_s

    def blank(self) -> float:
        self.last_flip_s = self.renderer.draw_blank()
        self._end_history(self.last_flip_s)
        self.grating = None
        return self.last_flip_s

    def step(self) -> None:
        """Draw the next frame of the running grating, or grey once the next flip would reach its end."""
        g = self.grating
        if g is None:
            return
        next_flip_s = self.last_flip_s + self.renderer.frame_period_s
        if next_flip_s >= self.onset_s + g.duration_s - 1e-6:
            self.blank()
            return
        phase = g.temporal_frequency_hz * (next_flip_s - self.onset_s)
        self.last_flip_s = self.renderer.draw_grating(g.direction_deg, g.spatial_frequency_cpd, phase, g.contrast)

    def _end_history(self, offset_s: Optional[float]) -> None:
        if self.history and self.history[-1][1] is None:
            on, _, d = self.history[-1]
            self.history[-1] = (on, offset_s if offset_s is not None else self.last_flip_s, d)


class StimulusServer:
    """REP server that draws through ``renderer``. ``serve`` runs until a ``shutdown`` request or :meth:`stop`."""

    def __init__(self, endpoint: str, renderer, context: Optional[zmq.Context] = None,
                 clock: Callable[[], float] = time.monotonic, idle_poll_s: float = 0.005):
        self.presenter = GratingPresenter(renderer)
        self._clock = clock
        self._idle_poll_ms = max(1, int(idle_poll_s * 1000))
        self._stop = threading.Event()
        self._socket = (context or zmq.Context.instance()).socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        try:
            self._socket.bind(endpoint)
        except zmq.ZMQError:
            self._socket.close(linger=0)   # a socket left open would block the context's termination
            raise
        self.endpoint = self._socket.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.requests = 0
        self.presenter.blank()

    def serve(self) -> None:
        try:
            while not self._stop.is_set():
                self.presenter.step()  # blocks for one frame while a grating runs
                timeout = 0 if self.presenter.active else self._idle_poll_ms
                if self._socket.poll(timeout, zmq.POLLIN):
                    self._handle(self._socket.recv())
        finally:
            self._socket.close(linger=0)
            self.presenter.renderer.close()

    def stop(self) -> None:
        self._stop.set()

    def _handle(self, raw: bytes) -> None:
        self.requests += 1
        try:
            command = parse_command(raw)
        except ValueError as err:
            self._socket.send(encode(ErrorReply(message=str(err))))
            return
        try:
            if isinstance(command, GratingCommand):
                reply = OnsetReply(onset_s=self.presenter.start_grating(command), reply_s=self._clock())
            elif isinstance(command, BlankCommand):
                reply = OnsetReply(onset_s=self.presenter.blank(), reply_s=self._clock())
            elif isinstance(command, (PingCommand, ShutdownCommand)):
                reply = PongReply(reply_s=self._clock())
                if isinstance(command, ShutdownCommand):
                    self._stop.set()
        except Exception as err:  # noqa: BLE001 - a drawing failure is reported, the server keeps serving
            log.exception("drawing failed")
            reply = ErrorReply(message=f"drawing failed: {err}")
        self._socket.send(encode(reply))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rig.drivers.stimulus_server",
                                description="Draw drifting gratings for holostim on this computer's display.")
    p.add_argument("--endpoint", default="tcp://127.0.0.1:5561",
                   help="REP endpoint to bind (tcp://0.0.0.0:5561 to accept the rig computer over the network)")
    p.add_argument("--monitor", type=int, default=1, help="display index of the stimulus screen")
    p.add_argument("--distance-cm", type=float, default=10.0, help="eye to screen, cm (seed 002: 10)")
    p.add_argument("--width-cm", type=float, default=19.7, help="visible screen width, cm")
    p.add_argument("--windowed", action="store_true", help="a window instead of full screen (for checking)")
    return p


def main(argv: Optional[list[str]] = None, renderer=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        renderer = renderer or PsychoPyRenderer(args.monitor, args.distance_cm, args.width_cm,
                                                fullscreen=not args.windowed)
        server = StimulusServer(args.endpoint, renderer)
    except (HardwareError, zmq.ZMQError) as err:
        print(f"stimulus server: {err}", file=sys.stderr)
        return 2
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: server.stop())
    print(f"stimulus server listening on {server.endpoint}", flush=True)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
