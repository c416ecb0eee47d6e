"""The imaging loop: frames in, per-plane online analysis, traces and running speed to the session file.

One :class:`online.OnlinePipeline` per imaging plane (footprints index that plane's cells), run by an *analysis*:
:class:`InlineAnalysis` in this process, or :class:`rig.runner.online_link.RemoteAnalysis`, the online server
(:mod:`rig.online_server`) in a child process fed over ZMQ (``--online process``, the default); both give the same
numbers. This module maps between a plane's footprint order and the session's cell rows.

Waiting is done *by acquiring*: ``wait_until`` consumes frames until the clock reaches the target. On the
simulated microscope the clock advances with the frames the scanner renders, so a dry run never sleeps; on a rig
the last few milliseconds are a sleep-then-spin on the monotonic clock (DESIGN.md, "Known traps").

Times here are *session* seconds (0 at the session start, continued across a resume); frame numbers count
imaging volumes from 0, also continued across a resume.
"""
from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Hashable, Optional, Sequence

import numpy as np

from online import OnlineConfig
from rig.wire.heartbeat import HeartbeatMonitor

from .inline_analysis import InlineAnalysis

#: On a rig, stop acquiring this long before a target time and spin the rest (frames queue meanwhile), s.
_SPIN_GUARD_S = 0.01
#: Frames the simulated scanner may render ahead of the analysis.
_QUEUE_FRAMES = 6
#: Longest single wait for a frame on a rig before the heartbeat is checked again, s.
_POLL_S = 0.02


@dataclass(frozen=True)
class TrialMeasure:
    """What the imaging loop measured for one trial, in session cell order."""

    response: np.ndarray        # per cell, ΔF/F response (NaN where not computed)
    baseline_frames: int        # fewest baseline frames over planes
    response_frames: int        # fewest response frames over planes
    max_shift_px: float         # largest registration shift in the trial's windows, pixels
    running_cm_s: np.ndarray    # running-speed samples within the trial


class Acquisition:
    """Frames → per-plane online pipelines → traces, behaviour and trial responses.

    Parameters
    ----------
    hw : the :class:`~rig.runner.hardware.HardwareBundle`.
    writer : the session writer (traces and behaviour are queued on it).
    n_planes, volume_rate_hz : imaging geometry.
    timeout_s : imaging silent this long (s) is lost: ``on_lost(peer, silent_s)`` is called (laser off, pause).
    t_offset_s, volume_offset : session time and volume number of the stream's start (non-zero on resume).
    analysis : who runs the online pipelines: :class:`InlineAnalysis` (default) or a
        :class:`~rig.runner.online_link.RemoteAnalysis` (the online server in a child process).
    """

    def __init__(self, hw, writer, n_planes: int, volume_rate_hz: float, timeout_s: float,
                 on_lost: Callable[[str, float], None], t_offset_s: float = 0.0, volume_offset: int = 0,
                 analysis=None):
        self.hw, self.writer = hw, writer
        self.n_planes = int(n_planes)
        self.volume_rate_hz = float(volume_rate_hz)
        self.clock = hw.clock
        self._t0 = self.clock.now() - float(t_offset_s)
        self._volume_offset = int(volume_offset)
        self._counter_base: Optional[int] = None
        self.last_volume = int(volume_offset) - 1
        self.analysis = analysis if analysis is not None else InlineAnalysis()
        self.plane_rows: list[np.ndarray] = []
        self.n_cells = 0
        self._run_t: list[float] = []
        self._run_v: list[float] = []
        self.monitor = HeartbeatMonitor(timeout_s, on_lost, clock=self.clock.now)
        self.monitor.watch("imaging")
        self.frames_seen = 0

    # ------------------------------------------------------------------------------------------------ set-up
    def attach(self, footprints: Sequence, plane_rows: Sequence[np.ndarray], frame_shape, config: OnlineConfig,
               n_cells: int) -> None:
        """Start one online pipeline per plane: ``footprints[k]`` (cells × pixels, sparse) for the cells at
        session rows ``plane_rows[k]``."""
        self.plane_rows = [np.asarray(r, int) for r in plane_rows]
        self.n_cells = int(n_cells)
        self.analysis.attach(footprints, self.plane_rows, tuple(frame_shape), config, self._write_traces)

    def set_references(self, refs: Sequence[np.ndarray]) -> None:
        """Motion-correction reference of each plane (see :mod:`rig.runner.reference`)."""
        self.analysis.set_references(refs)

    @property
    def attached(self) -> bool:
        """Whether the online pipelines run (after :meth:`attach`)."""
        return self.analysis.attached

    @property
    def config(self) -> OnlineConfig:
        """The pipelines' settings (after :meth:`attach`)."""
        return self.analysis.config

    def close(self) -> None:
        """Stop the analysis (a child process is shut down, after what it still had is written)."""
        self.analysis.close()

    # ------------------------------------------------------------------------------------------------ time
    def now(self) -> float:
        """Session time, s."""
        return self.clock.now() - self._t0

    def volume_time(self, volume: int) -> float:
        """Nominal session time at which ``volume`` starts, s (from the latest volume seen)."""
        return self.now() + (volume - self.last_volume - 1) / self.volume_rate_hz

    def wait_until(self, t_s: float, analyse: bool = True) -> float:
        """Acquire (and analyse) frames until session time ``t_s``; returns the actual session time."""
        target = t_s + self._t0
        if self.hw.simulated:
            self._pump_simulated(target, analyse)
            return self.now()
        while True:
            remaining = target - self.clock.now()
            if remaining < _SPIN_GUARD_S:
                break
            self._acquire(min(remaining, _POLL_S), analyse)
        self.clock.sleep_until(target)
        return self.now()

    def _pump_simulated(self, target_hw: float, analyse: bool) -> None:
        """Simulated time: render the frames up to ``target_hw`` in a second thread while this one analyses
        them. Nothing else acts on the microscope until the target, so the frames are exactly those a
        frame-by-frame loop would produce (same order, same random numbers); the treadmill is read in the
        rendering thread, at each frame's time."""
        frames: queue.Queue = queue.Queue(maxsize=_QUEUE_FRAMES)
        stop = threading.Event()

        def produce():
            try:
                while not stop.is_set():
                    now = self.clock.now()
                    if now >= target_hw:
                        break
                    frame = self.hw.imaging.next_frame(target_hw - now)
                    speed = None
                    if frame is not None and frame.plane == self.n_planes - 1:
                        speed = float(self.hw.treadmill.speed_cm_s()[1])
                    frames.put((frame, speed))
            except BaseException as err:  # noqa: BLE001 - handed to the consumer, which raises it
                frames.put(err)
            frames.put(None)

        producer = threading.Thread(target=produce, name="sim-frames", daemon=True)
        producer.start()
        try:
            while True:
                item = frames.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                self._consume(item[0], item[1], analyse)
        finally:
            stop.set()
            while producer.is_alive():          # unblock a producer waiting on a full queue
                try:
                    frames.get(timeout=0.01)
                except queue.Empty:
                    pass
            producer.join()

    def next_frame(self, timeout_s: float = 1.0):
        """One raw frame without analysis (calibration-slide images), or None after ``timeout_s``."""
        frame = self.hw.imaging.next_frame(timeout_s)
        self._heartbeat(frame)
        if frame is not None:
            self._volume_of(frame)
        return frame

    def _heartbeat(self, frame) -> None:
        if frame is not None:
            self.monitor.beat("imaging")
        self.monitor.check()

    def _volume_of(self, frame) -> int:
        v = int(frame.counter) // self.n_planes
        if self._counter_base is None:
            self._counter_base = v
        volume = v - self._counter_base + self._volume_offset
        if frame.plane == self.n_planes - 1:
            self.last_volume = max(self.last_volume, volume)
        return volume

    def _acquire(self, timeout_s: float, analyse: bool = True) -> None:
        """Wait at most ``timeout_s`` for one frame and take it in."""
        frame = self.hw.imaging.next_frame(timeout_s)
        speed = None
        if frame is not None and frame.plane == self.n_planes - 1:
            speed = float(self.hw.treadmill.speed_cm_s()[1])
        self._consume(frame, speed, analyse)

    def _consume(self, frame, speed: Optional[float], analyse: bool) -> None:
        """One frame (or a timeout, ``None``): heartbeat, online analysis, traces and running speed."""
        self._heartbeat(frame)
        if frame is None:
            return
        self.frames_seen += 1
        volume = self._volume_of(frame)
        t = float(frame.timestamp_s) - self._t0 if self.hw.simulated else self.now()
        if analyse and self.analysis.attached:
            self.analysis.frame(int(frame.plane), frame.image, volume, t)
        if speed is not None:
            self._run_t.append(t)
            self._run_v.append(speed)
            self.writer.append_behaviour(t, volume, speed)

    def _write_traces(self, plane: int, f_cell, f_neuropil, volume, t, dy, dx) -> None:
        """One accepted frame's traces (cells; scalars) or a block of frames' (frames × cells; per-frame arrays)."""
        if len(self.plane_rows[plane]):
            f_cell, f_neuropil = np.asarray(f_cell), np.asarray(f_neuropil)
            if f_cell.ndim == 1:
                f_cell, f_neuropil = f_cell[None], f_neuropil[None]
            self.writer.append_frames(plane, f_cell, f_neuropil, np.atleast_1d(volume), np.atleast_1d(t),
                                      np.column_stack([np.atleast_1d(dy), np.atleast_1d(dx)]).astype(np.float32))

    # ------------------------------------------------------------------------------------------------ trials
    def add_trial(self, key: Hashable, kind: str, onset_volume: int, offset_volume: int, *,
                  target_rows: Optional[Sequence[int]] = None, direction_deg: Optional[float] = None,
                  ensemble: Optional[str] = None, power_mw: Optional[float] = None) -> None:
        """Announce a trial to every plane's pipeline (targets given as session rows)."""
        targets = None
        if target_rows is not None:
            target_rows = np.asarray(target_rows, int)
            targets = [np.flatnonzero(np.isin(rows, target_rows)).tolist() for rows in self.plane_rows]
        self.analysis.add_trial(key, kind, int(onset_volume), int(offset_volume), targets,
                                direction_deg=direction_deg, ensemble=ensemble, power_mw=power_mw)

    def collect(self, key: Hashable, t_start_s: float, t_end_s: float, max_wait_s: float = 30.0) -> TrialMeasure:
        """Acquire until every plane has completed trial ``key``; its responses in session cell order."""
        if self.hw.simulated:   # most of the window in one batch, then frame by frame to the trial's end
            self.wait_until(t_end_s)
        deadline = self.now() + max_wait_s
        while not self.analysis.completed(key):
            if self.now() > deadline:
                break
            self._acquire(1.0 / (self.volume_rate_hz * self.n_planes) if self.hw.simulated else _POLL_S)
        response = np.full(self.n_cells, np.nan, np.float32)
        n_base, n_resp, shift = [], [], []
        for k, rec in enumerate(self.analysis.take(key)):
            if rec is None:
                n_base.append(0)
                n_resp.append(0)
                continue
            response[self.plane_rows[k]] = rec.response
            n_base.append(rec.n_baseline_frames)
            n_resp.append(rec.n_response_frames)
            if np.isfinite(rec.max_shift_px):
                shift.append(rec.max_shift_px)
        t = np.asarray(self._run_t)
        lo, hi = np.searchsorted(t, t_start_s), np.searchsorted(t, t_end_s, side="right")
        return TrialMeasure(response, min(n_base) if n_base else 0, min(n_resp) if n_resp else 0,
                            max(shift) if shift else math.nan, np.asarray(self._run_v[lo:hi], float))

    def noise_sd(self) -> np.ndarray:
        """Per-cell ΔF/F noise s.d. in session order (NaN before any frames)."""
        out = np.full(self.n_cells, np.nan)
        for rows, sd in zip(self.plane_rows, self.analysis.noise_sd()):
            out[rows] = sd
        return out

    def report(self) -> list[dict]:
        """Each pipeline's :meth:`~online.OnlinePipeline.report`."""
        return self.analysis.report()
