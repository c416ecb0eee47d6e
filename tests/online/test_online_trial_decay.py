"""Decay-aware trial baseline: the previous trial's decaying response is not counted as a (negative) response."""
import numpy as np
import pytest

from online import OnlineConfig
from online.trials import FrameHistory, TrialAligner, TrialEvent

RATE_HZ = 6.0
TAU_S = 1.6


def _history(trace: np.ndarray) -> FrameHistory:
    h = FrameHistory(trace.shape[1], 500)
    for i, row in enumerate(trace):
        h.put(i, row.astype(np.float32), 0.0)
    return h


def _aligner(kinds=("grating", "blank")) -> TrialAligner:
    a = TrialAligner(baseline_frames=6, extra_frames=0, max_motion_px=3.0, decay_kinds=kinds)
    a.decay_frames = TAU_S * RATE_HZ
    return a


def test_pure_decay_gives_zero_response_and_plain_baseline_a_negative_one():
    k = np.arange(60)
    onset = 30
    trace = (0.8 * np.exp(-(k - 10) / (TAU_S * RATE_HZ)))[:, None]      # a tail, nothing evoked at onset
    event = TrialEvent("t", "blank", onset, onset + 12)
    corrected = _aligner().compute(event, _history(trace)).response[0]
    plain = _aligner(kinds=()).compute(event, _history(trace)).response[0]
    assert abs(corrected) < 1e-5
    assert plain < -0.05         # the tail has decayed further in the response window than in the baseline


def test_evoked_step_on_a_tail_is_recovered():
    k = np.arange(60)
    onset, tau = 30, TAU_S * RATE_HZ
    tail = 0.5 * np.exp(-(k - 10) / tau)
    evoked = np.where((k >= onset) & (k < onset + 12), 0.3, 0.0)
    trace = (tail + evoked)[:, None]
    rec = _aligner().compute(TrialEvent("t", "grating", onset, onset + 12, direction_deg=0.0), _history(trace))
    assert rec.response[0] == pytest.approx(0.3, abs=1e-5)


def test_photostim_keeps_the_plain_baseline_by_default():
    trace = np.r_[np.full(30, 0.2), np.full(30, 0.7)][:, None]
    rec = _aligner().compute(TrialEvent("p", "photostim", 30, 42, ensemble="e0", targets=(0,)), _history(trace))
    assert rec.response[0] == pytest.approx(0.5, abs=1e-6)


def test_pipeline_learns_the_frame_rate_from_timestamps():
    from online import OnlinePipeline

    fp = np.zeros((1, 16, 16), np.float32)
    fp[0, 6:10, 6:10] = 1.0
    pipe = OnlinePipeline(fp, (16, 16), OnlineConfig(reference_frames=2))
    rng = np.random.default_rng(0)
    for i in range(12):
        pipe.process(rng.normal(100.0, 1.0, (16, 16)).astype(np.float32), frame_index=i, t_s=i / RATE_HZ)
    assert pipe.aligner.decay_frames == pytest.approx(TAU_S * RATE_HZ)
    fixed = OnlinePipeline(fp, (16, 16), OnlineConfig(reference_frames=2, frame_rate_hz=30.0))
    assert fixed.aligner.decay_frames == pytest.approx(TAU_S * 30.0)
    off = OnlinePipeline(fp, (16, 16), OnlineConfig(reference_frames=2, indicator_decay_s=None))
    off.process(np.ones((16, 16), np.float32), frame_index=0, t_s=0.0)
    assert off.aligner.decay_frames is None
