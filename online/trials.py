"""Trial alignment: events → frame windows → one response per cell per trial, computed as trials complete.

A trial's baseline window is the ``trial_baseline_frames`` frames before ``onset_frame``; its response window runs
from ``onset_frame`` up to (not including) ``offset_frame + response_extra_frames``. The trial response is the
mean ΔF/F in the response window minus the mean in the baseline window (frames that were dropped or rejected are
left out of both means). For the kinds in ``decay_corrected_kinds`` (gratings and blanks by default) the
indicator model is used once the frame rate is known: with ``estimator="matched"`` (the pipeline's default) the
response is the matched-filter amplitude of the expected response on the deconvolved trace
(:func:`online.indicator.matched_response`), which ignores the previous trial's decaying tail and most of the
spontaneous transients; with ``estimator="window"`` the window mean is kept but the baseline is carried into the
response window as a decay instead of as a constant (:meth:`TrialAligner._decay_ratio`). Seed 002's motion
exclusion applies per trial: the largest registration shift within the two windows must not exceed
``max_trial_motion_px`` (3 px).
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Hashable, Optional, Sequence

import numpy as np

from .indicator import decay_factor, matched_response, settle_frames

KINDS = ("grating", "blank", "photostim")


@dataclass(frozen=True)
class TrialEvent:
    """One trial as the rig announces it. ``offset_frame`` may come later (:meth:`TrialAligner.end`).

    ``direction_deg`` is the grating's direction of motion in [0, 360) (``grating`` only); ``ensemble`` names the
    hologram (``photostim``; empty for a no-stimulation control), ``targets`` are the footprint indices it
    targets and ``power_mw`` the per-cell power of a power-test trial.
    """

    trial: Hashable
    kind: str
    onset_frame: int
    offset_frame: Optional[int] = None
    direction_deg: Optional[float] = None
    ensemble: Optional[str] = None
    targets: Optional[tuple[int, ...]] = None
    power_mw: Optional[float] = None


def validate_event(event: TrialEvent, n_cells: int) -> Optional[str]:
    """Why ``event`` cannot be used, or None when it can."""
    if event.kind not in KINDS:
        return f"trial {event.trial!r}: kind {event.kind!r} is not one of {KINDS}"
    if event.onset_frame is None or event.onset_frame < 0:
        return f"trial {event.trial!r}: onset_frame must be a frame index ≥ 0, got {event.onset_frame}"
    if event.offset_frame is not None and event.offset_frame <= event.onset_frame:
        return f"trial {event.trial!r}: offset_frame {event.offset_frame} is not after onset {event.onset_frame}"
    if event.kind == "grating" and (event.direction_deg is None or not math.isfinite(event.direction_deg)):
        return f"trial {event.trial!r}: a grating needs direction_deg"
    if event.targets is not None and any(not 0 <= t < n_cells for t in event.targets):
        return f"trial {event.trial!r}: targets must be footprint indices 0 … {n_cells - 1}"
    if event.power_mw is not None and not (math.isfinite(event.power_mw) and event.power_mw >= 0):
        return f"trial {event.trial!r}: power_mw must be a finite power ≥ 0, got {event.power_mw}"
    return None


@dataclass
class TrialRecord:
    """A completed trial: its event, response per cell (ΔF/F units) and quality flags."""

    event: TrialEvent
    response: np.ndarray          # evoked ΔF/F per cell: window mean − baseline, or the matched-filter amplitude
    baseline: np.ndarray          # mean ΔF/F in the baseline window, per cell
    max_shift_px: float           # largest registration shift within the windows (NaN if none)
    n_baseline_frames: int
    n_response_frames: int
    motion_excluded: bool
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Usable: not excluded for motion and both windows had frames."""
        return not self.motion_excluded and self.n_baseline_frames > 0 and self.n_response_frames > 0


class FrameHistory:
    """The last ``length`` frames' ΔF/F (cells × frames ring, NaN where a frame is missing) and shift sizes."""

    def __init__(self, n_cells: int, length: int):
        self.length = int(length)
        self._dff = np.full((self.length, n_cells), np.nan, np.float32)
        self._shift = np.full(self.length, np.nan, np.float32)
        self._have = np.full(self.length, -1, np.int64)  # frame index held in each slot
        self.latest = -1

    def put(self, index: int, dff: Optional[np.ndarray], shift_px: float) -> None:
        """Store frame ``index`` (``dff`` None for a rejected frame); frames skipped in between become missing."""
        slot = index % self.length
        if dff is None:
            self._dff[slot] = np.nan
        else:
            self._dff[slot] = dff
        self._shift[slot] = shift_px
        self._have[slot] = index
        self.latest = max(self.latest, index)

    def oldest_available(self) -> int:
        return max(0, self.latest - self.length + 1)

    def window(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(ΔF/F frames × cells, shifts) for frames ``start … stop-1`` that are held; missing ones dropped."""
        dff, shifts, _ = self.window_frames(start, stop)
        return dff, shifts

    def window_frames(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`window`, plus the frame index of every ΔF/F row returned."""
        idx = np.arange(max(start, 0), stop)
        slots = idx % self.length
        held = self._have[slots] == idx
        slots, idx = slots[held], idx[held]
        dff = self._dff[slots]
        finite = np.isfinite(dff[:, 0]) if dff.shape[1] else np.ones(len(slots), bool)
        return dff[finite], self._shift[slots], idx[finite]


class TrialAligner:
    """Pending trials, completed in order of their window end as frames arrive."""

    def __init__(self, baseline_frames: int, extra_frames: int, max_motion_px: float,
                 decay_kinds: Sequence[str] = (), estimator: str = "window", resting_level_frames: int = 0):
        if estimator not in ("window", "matched"):
            raise ValueError(f"estimator must be 'window' or 'matched', got {estimator!r}")
        self.baseline_frames, self.extra_frames = int(baseline_frames), int(extra_frames)
        self.max_motion_px = float(max_motion_px)
        self.decay_kinds = frozenset(decay_kinds)
        self.estimator = estimator
        #: indicator decay time constant in frames, set once the frame rate is known (None: plain baseline)
        self.decay_frames: Optional[float] = None
        #: indicator rise time constant in frames (0: instantaneous rise), for the matched estimator
        self.rise_frames: float = 0.0
        #: stimulus duration in frames for the matched estimator's template (None: onset → offset_frame)
        self.stimulus_frames: Optional[float] = None
        #: frames before a window's end searched for quiet frames (the matched estimator's resting level; 0: none)
        self.resting_level_frames = int(resting_level_frames)
        self._spans: list[tuple[int, int]] = []   # evoked spans [onset, stop) of finished trials
        self.pending: dict[Hashable, TrialEvent] = {}
        self._queue: list[tuple[int, int, Hashable]] = []  # (end frame, order, trial)
        self._order = 0

    def end_frame(self, event: TrialEvent) -> int:
        """First frame after the response window."""
        return int(event.offset_frame) + self.extra_frames

    def add(self, event: TrialEvent) -> None:
        self.pending[event.trial] = event
        if event.offset_frame is not None:
            heapq.heappush(self._queue, (self.end_frame(event), self._order, event.trial))
            self._order += 1

    def set_offset(self, trial: Hashable, offset_frame: int) -> TrialEvent:
        old = self.pending[trial]
        event = TrialEvent(**{**old.__dict__, "offset_frame": int(offset_frame)})
        self.add(event)
        return event

    def due(self, latest_frame: int) -> list[TrialEvent]:
        """Trials whose response window ended at or before ``latest_frame`` (removed from pending)."""
        done = []
        while self._queue and self._queue[0][0] - 1 <= latest_frame:
            _, _, trial = heapq.heappop(self._queue)
            event = self.pending.get(trial)
            if event is not None and event.offset_frame is not None and self.end_frame(event) - 1 <= latest_frame:
                done.append(self.pending.pop(trial))
                self._spans.append((int(event.onset_frame), self._evoked_stop(event)))
        return done

    def _evoked_stop(self, event: TrialEvent) -> int:
        """First frame after which ``event`` evokes nothing in the decay-filtered trace: its stimulus (the matched
        template's duration, or onset → offset) plus the settling of the indicator's rise."""
        return int(event.onset_frame + math.ceil(self._stimulus_frames(event))) + settle_frames(self.rise_frames)

    def quiet(self, frames: np.ndarray) -> np.ndarray:
        """Which ``frames`` lie outside every known trial's evoked span. A pending trial without an offset yet
        counts as evoking from its onset for ``resting_level_frames`` frames."""
        ok = np.ones(len(frames), bool)
        if not len(frames):
            return ok
        pending = [(int(e.onset_frame), self._evoked_stop(e) if e.offset_frame is not None
                    else int(e.onset_frame) + self.resting_level_frames) for e in self.pending.values()]
        for onset, stop in self._spans + pending:
            ok &= (frames < onset) | (frames >= stop)
        return ok

    def compute(self, event: TrialEvent, history: FrameHistory) -> TrialRecord:
        """The trial's response from the frames in ``history``."""
        onset, end = int(event.onset_frame), self.end_frame(event)
        base, base_shift, base_idx = history.window_frames(onset - self.baseline_frames, onset)
        resp, resp_shift, resp_idx = history.window_frames(onset, end)
        notes = []
        if base.shape[0] == 0:
            notes.append("no baseline frames")
        if resp.shape[0] == 0:
            notes.append("no response frames")
        n_cells = base.shape[1]
        base_mean = base.mean(axis=0) if base.shape[0] else np.full(n_cells, np.nan, np.float32)
        shifts = np.concatenate([base_shift, resp_shift])
        shifts = shifts[np.isfinite(shifts)]
        max_shift = float(shifts.max()) if shifts.size else math.nan
        if self._matched(event.kind) and resp.shape[0]:
            response = self._matched_response(event, history, (base, base_idx), (resp, resp_idx))
        else:
            resp_mean = resp.mean(axis=0) if resp.shape[0] else np.full(n_cells, np.nan, np.float32)
            response = resp_mean - base_mean * self._decay_ratio(event.kind, base_idx - onset, resp_idx - onset)
        return TrialRecord(event, response.astype(np.float32), base_mean.astype(np.float32),
                           max_shift, int(base.shape[0]), int(resp.shape[0]),
                           bool(shifts.size and max_shift > self.max_motion_px), notes)

    def _matched(self, kind: str) -> bool:
        return self.estimator == "matched" and self.decay_frames is not None and kind in self.decay_kinds

    def _stimulus_frames(self, event: TrialEvent) -> float:
        """The stimulus duration the matched template assumes: ``stimulus_frames`` for the matched kinds when set,
        otherwise the event's onset → offset."""
        if self._matched(event.kind) and self.stimulus_frames is not None:
            return float(self.stimulus_frames)
        return float(event.offset_frame - event.onset_frame)

    def _matched_response(self, event: TrialEvent, history: FrameHistory, base: tuple, resp: tuple) -> np.ndarray:
        """:func:`~online.indicator.matched_response` over the frame before onset (the baseline window's last) and
        the response window, both as (ΔF/F rows, frame indices) already read from ``history``."""
        onset, end = int(event.onset_frame), self.end_frame(event)
        window = np.full((end - onset + 1, resp[0].shape[1]), np.nan, np.float32)
        before = np.flatnonzero(base[1] == onset - 1)   # baseline_frames ≥ 1, so it is there unless missing
        if len(before):
            window[0] = base[0][before[0]]
        window[resp[1] - (onset - 1)] = resp[0]
        return matched_response(window, self.rise_frames, self.decay_frames,
                                min(self._stimulus_frames(event), end - onset), self.resting_level(history, onset, end))

    def resting_level(self, history: FrameHistory, onset: int, stop: int) -> np.ndarray | float:
        """Per cell, the mean decay-filtered ΔF/F over the quiet frames among the ``resting_level_frames`` before
        ``stop`` (see :mod:`online.indicator`). Where no frame is quiet (trials back to back, shorter apart than
        the indicator's rise settles), the trial's own baseline window stands in; 0 when resting levels are off."""
        if self.resting_level_frames <= 0:
            return 0.0
        first = stop - self.resting_level_frames - 1
        # windows end in order, so a span that ended before this one's first frame is never needed again
        self._spans = [span for span in self._spans if span[1] > first]
        dff, _, idx = history.window_frames(first, stop)
        pair = np.flatnonzero(np.diff(idx) == 1) + 1       # frames whose previous frame is held too
        use = pair[self.quiet(idx[pair])]
        if not len(use):
            use = pair[(idx[pair] >= onset - self.baseline_frames) & (idx[pair] < onset)]
        if not len(use):
            return 0.0
        return (dff[use].astype(np.float64) - decay_factor(self.decay_frames) * dff[use - 1]).mean(axis=0)

    def _decay_ratio(self, kind: str, base_offsets: np.ndarray, resp_offsets: np.ndarray) -> float:
        """How much of the baseline window's mean level is still there, on average, in the response window.

        1 for a plain baseline. With the indicator decay τ (frames) the baseline is taken to be the tail of earlier
        activity, A·e^{−k/τ} at frame offset k from onset; its mean over the baseline frames is the measured
        baseline mean, so its mean over the response frames is that × mean_resp(e^{−k/τ}) / mean_base(e^{−k/τ}).
        With GCaMP6s and a 2 s inter-trial interval the previous grating's response still decays through the
        next baseline; subtracting it whole over-corrects the response window, where it has decayed further.
        """
        if (self.decay_frames is None or kind not in self.decay_kinds or not len(base_offsets)
                or not len(resp_offsets)):
            return 1.0
        tau = float(self.decay_frames)
        return float(np.exp(-resp_offsets / tau).mean() / np.exp(-base_offsets / tau).mean())


def baseline_deviations(event: TrialEvent, history: FrameHistory, baseline_frames: int) -> np.ndarray:
    """ΔF/F of the trial's baseline frames minus their mean (frames × cells), for pooling the noise s.d."""
    onset = int(event.onset_frame)
    base, _ = history.window(onset - baseline_frames, onset)
    return base - base.mean(axis=0) if base.shape[0] else base


def stack_responses(records: Sequence[TrialRecord], n_cells: int) -> np.ndarray:
    """Trials × cells array of the records' responses."""
    if not records:
        return np.zeros((0, n_cells), np.float32)
    return np.stack([r.response for r in records]).astype(np.float32)
