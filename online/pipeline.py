"""The online pipeline: frames and trial events in; shifts, ΔF/F, trial responses, tuning and photostim out.

``OnlinePipeline.process(frame, frame_index=..., t_s=...)`` runs one frame through motion correction, seeded
extraction, F0 and ΔF/F, stores it in a short history and completes the trials whose response window has ended.
Bad input (a frame of the wrong shape or dtype, non-finite pixels, a frame-counter gap or repeat, an event that
names an unknown trial or makes no sense) is counted in :meth:`report` and answered with a result that says why;
it never raises and never discards what was already computed.
"""
from __future__ import annotations

import logging
import math
from collections import Counter, deque
from dataclasses import dataclass
from typing import Hashable, Optional, Sequence, Union

import numpy as np
import scipy.sparse as sp

from .config import OnlineConfig
from .errors import OnlineError
from .extraction import TraceExtractor, Traces
from .footprints import Footprints
from .motion import MotionCorrector
from .photostim import (EvokedResponse, PowerTestResult, evoked_response, power_test, trial_failed, zscore)
from .trials import (FrameHistory, TrialAligner, TrialEvent, TrialRecord, baseline_deviations, stack_responses,
                     validate_event)
from .tuning import TuningResult, tuning_from_responses

log = logging.getLogger(__name__)

#: Pooled baseline degrees of freedom needed before the noise s.d. comes from trial baselines alone.
_MIN_BASELINE_DOF = 20
_CONTROL = "none"


@dataclass(frozen=True)
class FrameResult:
    """What one call to :meth:`OnlinePipeline.process` produced."""

    frame_index: int
    t_s: Optional[float]
    accepted: bool
    reason: Optional[str] = None        # why the frame was rejected
    dy: float = math.nan                # registration shift, pixels
    dx: float = math.nan
    shift_clipped: bool = False
    traces: Optional[Traces] = None
    completed_trials: tuple = ()

    @property
    def dff(self) -> Optional[np.ndarray]:
        return None if self.traces is None else self.traces.dff


class OnlinePipeline:
    """Streaming analysis of one imaging plane.

    Parameters
    ----------
    footprints : :class:`Footprints`, a cells × rows × cols mask/weight array, or a sparse cells × pixels matrix.
    frame_shape : (rows, cols); taken from the masks when omitted.
    config : :class:`OnlineConfig` (defaults follow seed 002).
    """

    def __init__(self, footprints: Union[Footprints, np.ndarray, sp.spmatrix],
                 frame_shape: Optional[tuple[int, int]] = None, config: Optional[OnlineConfig] = None):
        self.config = config or OnlineConfig()
        if frame_shape is None and isinstance(footprints, np.ndarray):
            frame_shape = footprints.shape[1:]
        self.footprints = Footprints.from_config(footprints, frame_shape, self.config)
        if frame_shape is not None and tuple(frame_shape) != self.footprints.shape:
            raise OnlineError(f"footprints are {self.footprints.shape} pixels but frames are {tuple(frame_shape)}")
        self.frame_shape = self.footprints.shape
        self.n_cells = self.footprints.n_cells
        self.motion = MotionCorrector.from_config(self.frame_shape, self.config)
        self.extractor = TraceExtractor(self.footprints, self.config)
        self.history = FrameHistory(self.n_cells, self.config.history_frames)
        self.aligner = TrialAligner(self.config.trial_baseline_frames, self.config.response_extra_frames,
                                    self.config.max_trial_motion_px, self.config.decay_corrected_kinds,
                                    self.config.visual_response_estimator, self.config.resting_level_frames)
        self._first_stamp: Optional[tuple[int, float]] = None
        if self.config.frame_rate_hz is not None:
            self._set_frame_rate(self.config.frame_rate_hz)
        self.records: list[TrialRecord] = []
        self.ensembles: dict[Hashable, tuple[int, ...]] = {}
        self.counts: Counter = Counter()
        self.messages: deque = deque(maxlen=100)
        self._shifts: list[tuple[int, float, float, bool]] = []
        self._last_index = -1
        self._seen_trials: set = set()
        self._noise_ss = np.zeros(self.n_cells)
        self._noise_dof = 0
        self._all_n, self._all_mean, self._all_m2 = 0, np.zeros(self.n_cells), np.zeros(self.n_cells)
        self._tuning_cache: Optional[tuple[int, TuningResult]] = None

    # ------------------------------------------------------------------ problems
    def _problem(self, kind: str, message: str, n: int = 1) -> None:
        self.counts[kind] += n
        self.messages.append(message)
        if self.counts[kind] <= 3:
            log.warning("%s%s", message, " (further ones are counted silently)" if self.counts[kind] == 3 else "")

    # ------------------------------------------------------------------ frames
    def _check_frame(self, frame) -> tuple[Optional[np.ndarray], Optional[str], Optional[str]]:
        """(float32 frame, problem kind, message); the frame is None when rejected."""
        try:
            arr = np.asarray(frame)
        except Exception as err:  # noqa: BLE001 - anything unconvertible is bad input, not a crash
            return None, "wrong_dtype", f"frame is not an array ({err})"
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            return None, "wrong_dtype", f"frame dtype {arr.dtype} is not an integer or float type"
        if arr.shape != self.frame_shape:
            return None, "wrong_shape", f"frame shape {arr.shape} is not {self.frame_shape}"
        integer = np.issubdtype(arr.dtype, np.integer)   # integers are always finite: no check needed
        arr = np.ascontiguousarray(arr, np.float32)
        if not integer and not np.isfinite(arr).all():
            return None, "non_finite", "frame has NaN or infinite pixels"
        return arr, None, None

    def process(self, frame, frame_index: Optional[int] = None, t_s: Optional[float] = None) -> FrameResult:
        """Run one frame through the pipeline. ``frame_index`` is the acquisition counter (gaps = dropped)."""
        self.counts["frames_received"] += 1
        index = self._last_index + 1 if frame_index is None else int(frame_index)
        if index <= self._last_index:
            self._problem("frames_out_of_order", f"frame {index} arrived after frame {self._last_index}: ignored")
            return FrameResult(index, t_s, False, "out of order")
        if index > self._last_index + 1:
            gap = index - self._last_index - 1
            self._problem("frames_dropped", f"{gap} frame(s) missing before frame {index}", gap)
        self._last_index = index
        self._note_time(index, t_s)
        arr, kind, message = self._check_frame(frame)
        if arr is None:
            self._problem(kind, f"frame {index}: {message}: rejected")
            self.history.put(index, None, math.nan)
            completed = self._complete_due()
            return FrameResult(index, t_s, False, message, completed_trials=completed)
        registered, shift = self.motion.register(arr)
        if shift.clipped:
            self._problem("shifts_clipped", f"frame {index}: shift beyond ±{self.motion.max_shift_px:.0f} px, clipped")
        traces = self.extractor.step(registered)
        self._update_all_frame_noise(traces.dff)
        self.history.put(index, traces.dff, math.hypot(shift.dy, shift.dx))
        self._shifts.append((index, shift.dy, shift.dx, shift.clipped))
        self.counts["frames_accepted"] += 1
        completed = self._complete_due()
        return FrameResult(index, t_s, True, None, shift.dy, shift.dx, shift.clipped, traces, completed)

    def _note_time(self, index: int, t_s: Optional[float]) -> None:
        """Frame rate from the timestamps (mean since the first stamped frame), for the indicator decay in frames."""
        if t_s is None or self.config.indicator_decay_s is None or self.config.frame_rate_hz is not None:
            return
        t = float(t_s)
        if not math.isfinite(t):
            return
        if self._first_stamp is None:
            self._first_stamp = (index, t)
            return
        frames, seconds = index - self._first_stamp[0], t - self._first_stamp[1]
        if frames >= 5 and seconds > 0:
            self._set_frame_rate(frames / seconds)

    def _set_frame_rate(self, rate_hz: float) -> None:
        """Give the trial aligner the indicator model and stimulus duration in frames (none without a decay)."""
        c = self.config
        if c.indicator_decay_s is None:
            return
        self.aligner.decay_frames = c.indicator_decay_s * rate_hz
        self.aligner.rise_frames = c.indicator_rise_s * rate_hz
        self.aligner.stimulus_frames = None if c.visual_stimulus_s is None else c.visual_stimulus_s * rate_hz

    def _update_all_frame_noise(self, dff: np.ndarray) -> None:
        """Welford running s.d. of every frame's ΔF/F: the noise estimate until trial baselines suffice."""
        self._all_n += 1
        delta = dff - self._all_mean
        self._all_mean += delta / self._all_n
        self._all_m2 += delta * (dff - self._all_mean)

    # ------------------------------------------------------------------ events
    def add_event(self, event: TrialEvent) -> bool:
        """Announce a trial; False (and counted) when the event is unusable."""
        problem = validate_event(event, self.n_cells)
        if problem is not None:
            self._problem("events_invalid", problem)
            return False
        if event.trial in self._seen_trials:
            self._problem("events_duplicate_trial", f"trial {event.trial!r} was already announced: ignored")
            return False
        if event.kind == "photostim":
            event = self._resolve_targets(event)
        self._seen_trials.add(event.trial)
        self.aligner.add(event)
        self._complete_due()
        return True

    def add_trial(self, trial: Hashable, kind: str, onset_frame: int, offset_frame: Optional[int] = None, *,
                  direction_deg: Optional[float] = None, ensemble: Optional[str] = None,
                  targets: Optional[Sequence[int]] = None, power_mw: Optional[float] = None) -> bool:
        """Keyword form of :meth:`add_event`."""
        return self.add_event(TrialEvent(trial, kind, onset_frame, offset_frame, direction_deg, ensemble,
                                         None if targets is None else tuple(int(t) for t in targets), power_mw))

    def end_trial(self, trial: Hashable, offset_frame: int) -> bool:
        """Give a pending trial its offset frame; False (and counted) for an unknown or finished trial."""
        if trial not in self.aligner.pending:
            self._problem("events_unknown_trial", f"offset for unknown or finished trial {trial!r}: ignored")
            return False
        if offset_frame is None or offset_frame <= self.aligner.pending[trial].onset_frame:
            self._problem("events_invalid", f"trial {trial!r}: offset {offset_frame} is not after its onset")
            return False
        self.aligner.set_offset(trial, offset_frame)
        self._complete_due()
        return True

    def _resolve_targets(self, event: TrialEvent) -> TrialEvent:
        key = event.ensemble if event.ensemble not in (None, "") else None
        if key is None:
            return event
        if event.targets is not None:
            known = self.ensembles.setdefault(key, event.targets)
            if tuple(sorted(known)) != tuple(sorted(event.targets)):
                self._problem("ensemble_targets_changed", f"ensemble {key!r} now targets other cells; "
                                                          f"trial {event.trial!r} uses its own")
            return event
        if key in self.ensembles:
            return TrialEvent(**{**event.__dict__, "targets": self.ensembles[key]})
        return event

    def _complete_due(self) -> tuple:
        done = []
        for event in self.aligner.due(self._last_index):
            start = int(event.onset_frame) - self.config.trial_baseline_frames
            if start < self.history.oldest_available() and self._last_index >= self.history.length:
                self._problem("trials_too_late", f"trial {event.trial!r}: its frames left the history "
                                                 f"({self.history.length} frames): not computed")
                continue
            record = self.aligner.compute(event, self.history)
            for note in record.notes:
                self._problem("trials_incomplete", f"trial {event.trial!r}: {note}")
            if record.motion_excluded:
                self.counts["trials_motion_excluded"] += 1
            dev = baseline_deviations(event, self.history, self.config.trial_baseline_frames)
            if dev.shape[0] > 1:
                self._noise_ss += (dev.astype(np.float64) ** 2).sum(axis=0)
                self._noise_dof += dev.shape[0] - 1
            self.records.append(record)
            self.counts["trials_completed"] += 1
            done.append(event.trial)
        return tuple(done)

    # ------------------------------------------------------------------ results
    @property
    def noise_sd(self) -> np.ndarray:
        """Per-cell ΔF/F noise s.d.: pooled about trial baselines, or over all frames until enough trials."""
        if self._noise_dof >= _MIN_BASELINE_DOF:
            return np.sqrt(self._noise_ss / self._noise_dof)
        if self._all_n > 1:
            return np.sqrt(self._all_m2 / (self._all_n - 1))
        return np.full(self.n_cells, np.nan)

    @property
    def shifts(self) -> np.ndarray:
        """Accepted frames' shifts: rows of (frame, dy, dx, clipped)."""
        return np.array(self._shifts, float).reshape(-1, 4)

    def trial_records(self, kind: Optional[str] = None) -> list[TrialRecord]:
        return [r for r in self.records if kind is None or r.event.kind == kind]

    def tuning(self) -> Optional[TuningResult]:
        """Tuning from the valid grating and blank trials so far; None until two directions were shown."""
        recs = [r for r in self.records if r.event.kind in ("grating", "blank") and r.valid]
        if self._tuning_cache is not None and self._tuning_cache[0] == len(recs):
            return self._tuning_cache[1]
        dirs = np.array([np.nan if r.event.kind == "blank" else r.event.direction_deg for r in recs], float)
        if np.unique(dirs[np.isfinite(dirs)] % 360).size < 2:
            return None
        c = self.config
        result = tuning_from_responses(stack_responses(recs, self.n_cells), dirs, alpha=c.anova_alpha,
                                       po_method=c.po_method, tuned_osi_threshold=c.tuned_osi_threshold,
                                       subtract_blank=c.blank_reference)
        self._tuning_cache = (len(recs), result)
        return result

    def _photostim_records(self, power_test_trials: bool) -> list[TrialRecord]:
        return [r for r in self.records if r.event.kind == "photostim" and r.valid
                and (r.event.power_mw is not None) == power_test_trials]

    def trial_outcomes(self) -> list[dict]:
        """Per photostim trial: targets, fraction that responded, and whether the trial is excluded and why."""
        sd, c, out = self.noise_sd, self.config, []
        for r in self.trial_records("photostim"):
            targets = r.event.targets or ()
            z = zscore(r.response[None, :], sd)[0]
            frac = float(np.mean(np.nan_to_num(z[list(targets)], nan=-np.inf) >= c.response_z_threshold)) \
                if targets else math.nan
            failed = trial_failed(z, targets, c.response_z_threshold, c.max_failed_fraction)
            reason = "motion" if r.motion_excluded else "no frames" if not r.valid else \
                "targets failed" if failed and r.event.power_mw is None else ""
            out.append(dict(trial=r.event.trial, ensemble=r.event.ensemble, power_mw=r.event.power_mw,
                            n_targets=len(targets), responded_fraction=frac, max_shift_px=r.max_shift_px,
                            excluded=bool(reason), reason=reason))
        return out

    def photostim(self) -> dict[Hashable, EvokedResponse]:
        """Evoked z-scored response per ensemble ('none' = no-stimulation controls), excluded trials left out."""
        sd, c = self.noise_sd, self.config
        groups: dict[Hashable, list] = {}
        excluded: Counter = Counter()
        for r in self._photostim_records(power_test_trials=False):
            key = r.event.ensemble if r.event.ensemble not in (None, "") else _CONTROL
            targets = r.event.targets or ()
            z = zscore(r.response[None, :], sd)[0]
            if trial_failed(z, targets, c.response_z_threshold, c.max_failed_fraction):
                excluded[key] += 1
                continue
            groups.setdefault(key, []).append(z)
        keys = set(groups) | set(excluded)
        return {k: evoked_response(k, self.ensembles.get(k, ()),
                                   np.array(groups.get(k, np.zeros((0, self.n_cells)))).reshape(-1, self.n_cells),
                                   excluded[k], c.confidence) for k in keys}

    def power_test(self) -> Optional[PowerTestResult]:
        """Stimmable power per cell from the power-test trials (photostim trials with ``power_mw``)."""
        recs = [r for r in self._photostim_records(power_test_trials=True) if r.event.targets]
        if not recs:
            return None
        z = zscore(stack_responses(recs, self.n_cells), self.noise_sd)
        return power_test(z, [r.event.targets for r in recs], [r.event.power_mw for r in recs],
                          threshold=self.config.response_z_threshold, alpha=self.config.power_test_alpha)

    def report(self) -> dict:
        """Counters of frames, trials and every kind of bad input, plus the latest messages."""
        counts = {k: int(v) for k, v in sorted(self.counts.items())}
        return dict(counts=counts, last_frame=self._last_index, trials_pending=len(self.aligner.pending),
                    reference_ready=self.motion.reference_ready,
                    neuropil_coefficient_final=self.extractor.coefficient_estimated,
                    noise_source="trial baselines" if self._noise_dof >= _MIN_BASELINE_DOF else "all frames",
                    visual_responses=self._visual_response_method(), messages=list(self.messages))

    def _visual_response_method(self) -> str:
        """How grating and blank responses are computed (the indicator model needs the frame rate)."""
        if self.aligner.decay_frames is None:
            return ("window, plain baseline" if self.config.indicator_decay_s is None else
                    "window, plain baseline (frame rate unknown: set frame_rate_hz or pass frame timestamps)")
        return "matched" if self.aligner.estimator == "matched" else "window, decay-corrected baseline"
