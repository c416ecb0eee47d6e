"""Matched-filter trial responses on the deconvolved trace (online/indicator.py)."""
import numpy as np
import pytest

from online import OnlineConfig
from online.errors import OnlineError
from online.indicator import expected_response, matched_response
from online.trials import FrameHistory, TrialAligner, TrialEvent

RATE_HZ = 6.0
RISE, DECAY, STIM = 0.26 * RATE_HZ, 1.6 * RATE_HZ, 1.0 * RATE_HZ     # frames
WINDOW = 12


def _transient(t: np.ndarray) -> np.ndarray:
    t = np.maximum(t, 0.0)
    return (1.0 - np.exp(-t / RISE)) * np.exp(-t / DECAY)


def test_expected_response_is_the_transient_integrated_over_the_stimulus():
    h = expected_response(RISE, DECAY, STIM, WINDOW)
    spikes = np.linspace(0.0, STIM, 20001)[:-1] + STIM / 40000        # midpoint rule over the spike times
    t = np.arange(WINDOW)[:, None]
    numeric = np.where(t >= spikes[None, :], _transient(t - spikes[None, :]), 0.0).mean(axis=1)
    np.testing.assert_allclose(h, numeric / numeric.mean(), rtol=1e-6, atol=1e-9)
    assert h.mean() == pytest.approx(1.0)
    assert np.argmax(h) >= STIM - 1           # it keeps rising while the stimulus is on


def test_no_rise_is_a_plain_exponential_after_the_stimulus():
    h = expected_response(0.0, DECAY, STIM, 30)
    after = h[int(STIM):]
    np.testing.assert_allclose(after[1:] / after[:-1], np.exp(-1.0 / DECAY), rtol=1e-9)


def _trace(amplitude: float, tail: float, offset: float, n_before: int = 30) -> np.ndarray:
    """ΔF/F of one cell: a resting offset, an earlier trial's decaying tail, then ``amplitude`` × the expected
    response from frame ``n_before`` on."""
    k = np.arange(n_before + WINDOW)
    trace = offset + tail * np.exp(-(k - 5) / DECAY) * (k >= 5)
    trace[n_before:] += amplitude * expected_response(RISE, DECAY, STIM, WINDOW)
    return trace


@pytest.mark.parametrize("amplitude", [0.0, 0.35, -0.1])
def test_amplitude_recovered_exactly_on_a_decaying_tail(amplitude):
    trace = _trace(amplitude, tail=0.8, offset=0.0)
    got = matched_response(trace[29:, None], RISE, DECAY, STIM)
    assert got[0] == pytest.approx(amplitude, abs=1e-9)


def test_a_resting_offset_is_removed_by_the_blank_reference():
    blank = matched_response(_trace(0.0, 0.5, offset=0.2)[29:, None], RISE, DECAY, STIM)[0]
    grating = matched_response(_trace(0.3, 0.1, offset=0.2)[29:, None], RISE, DECAY, STIM)[0]
    assert blank != pytest.approx(0.0, abs=1e-3)         # (1 − g) × offset leaks into the amplitude ...
    assert grating - blank == pytest.approx(0.3, abs=1e-9)  # ... the same for every trial, so the blank removes it


def test_missing_frames_are_left_out():
    window = _trace(0.4, 0.6, 0.0)[29:, None].copy()
    window[4] = np.nan                       # a dropped frame: two filtered samples lost, still exact
    assert matched_response(window, RISE, DECAY, STIM)[0] == pytest.approx(0.4, abs=1e-9)
    assert np.isnan(matched_response(np.full((WINDOW + 1, 2), np.nan), RISE, DECAY, STIM)).all()


def test_bad_model_is_refused():
    with pytest.raises(OnlineError):
        expected_response(RISE, 0.0, STIM, WINDOW)
    with pytest.raises(OnlineError):
        matched_response(np.zeros((1, 3)), RISE, DECAY, STIM)


def _poisson_trials(rng, n_trials: int, evoked_hz: float, spont_hz: float, noise_sd: float):
    """Trials 3 s apart, a 1-s stimulus on every other one (the others are blanks); spikes per 1/60 s bin,
    GCaMP-like transients, white imaging noise. Returns ΔF/F at 6 Hz (frames × 1) and the onsets (frames)."""
    fine = 60
    step = fine // int(RATE_HZ)
    n = (n_trials * 3 + 4) * fine
    rate = np.full(n, spont_hz / fine)
    onsets = [(2 + 3 * k) * fine for k in range(n_trials)]
    for o in onsets[::2]:
        rate[o:o + fine] += evoked_hz / fine
    spikes = rng.poisson(rate)
    t = np.arange(10 * fine) / fine * RATE_HZ
    calcium = np.convolve(spikes, 0.23 * _transient(t), mode="full")[:n:step]
    return (calcium + rng.normal(0.0, noise_sd, len(calcium)))[:, None], [o // step for o in onsets]


def _aligner(estimator: str) -> TrialAligner:
    a = TrialAligner(baseline_frames=6, extra_frames=0, max_motion_px=3.0, decay_kinds=("grating",),
                     estimator=estimator)
    a.decay_frames, a.rise_frames, a.stimulus_frames = DECAY, RISE, STIM
    return a


def test_matched_responses_are_less_noisy_than_window_ones():
    """Same spikes, two estimators: relative to the evoked response (stimulus − blank means), the matched
    filter's blank responses scatter ~30 % less than the decay-corrected window estimate's (it drops the
    baseline second's noise and the spontaneous transients outside the stimulus), and its stimulus responses
    scatter less too. That noise floor is what makes the orthogonal response, hence OSI, noisy."""
    rng = np.random.default_rng(3)
    dff, onsets = _poisson_trials(rng, 400, evoked_hz=4.0, spont_hz=1.0, noise_sd=0.03)
    history = FrameHistory(1, len(dff) + 10)
    for i, row in enumerate(dff):
        history.put(i, row.astype(np.float32), 0.0)
    blank_sd, evoked_sd = {}, {}
    for estimator in ("window", "matched"):
        a = _aligner(estimator)
        r = np.array([a.compute(TrialEvent(k, "grating", o, o + WINDOW, direction_deg=0.0), history).response[0]
                      for k, o in enumerate(onsets)])
        evoked, blank = r[2::2], r[1::2]              # the first trial has no earlier trial's baseline
        scale = evoked.mean() - blank.mean()
        blank_sd[estimator], evoked_sd[estimator] = blank.std() / scale, evoked.std() / scale
    assert blank_sd["matched"] < 0.85 * blank_sd["window"]
    assert evoked_sd["matched"] < evoked_sd["window"]


def test_pipeline_uses_the_matched_estimator_by_default():
    from online import OnlinePipeline

    fp = np.zeros((1, 16, 16), np.float32)
    fp[0, 6:10, 6:10] = 1.0
    pipe = OnlinePipeline(fp, (16, 16), OnlineConfig(reference_frames=2, frame_rate_hz=RATE_HZ,
                                                     visual_stimulus_s=1.0))
    assert pipe.aligner.estimator == "matched"
    assert pipe.aligner.rise_frames == pytest.approx(0.26 * RATE_HZ)
    assert pipe.aligner.stimulus_frames == pytest.approx(RATE_HZ)
    window = OnlinePipeline(fp, (16, 16), OnlineConfig(reference_frames=2, visual_response_estimator="window"))
    assert window.aligner.estimator == "window"


def test_resting_level_from_quiet_frames_replaces_the_blank_reference():
    """Trials 18 frames apart on a resting offset: with the resting level measured on the quiet frames between
    the trials' evoked spans, each response is its planted amplitude with no blank to subtract (to the < 2 %
    of a response the indicator's rise leaves in the quiet frames)."""
    period, n_trials, offset = 18, 12, 0.25
    rng = np.random.default_rng(4)
    amplitudes = rng.uniform(0.0, 0.6, n_trials)
    onsets = [40 + period * k for k in range(n_trials)]
    n = onsets[-1] + period
    h = expected_response(RISE, DECAY, STIM, n)      # a response, as far as the trace goes,
    h /= h[:WINDOW].mean()                            # in units of its mean over the response window
    trace = np.full(n, offset)
    for a, o in zip(amplitudes, onsets):
        trace[o:] += a * h[:n - o]
    history = FrameHistory(1, n + 5)
    for i, v in enumerate(trace):
        history.put(i, np.array([v], np.float32), 0.0)
    a = TrialAligner(baseline_frames=6, extra_frames=0, max_motion_px=3.0, decay_kinds=("grating",),
                     estimator="matched", resting_level_frames=600)
    a.decay_frames, a.rise_frames, a.stimulus_frames = DECAY, RISE, STIM
    got = []
    for k, o in enumerate(onsets):
        a.add(TrialEvent(k, "grating", o, o + WINDOW, direction_deg=0.0))
        (event,) = a.due(o + WINDOW - 1)
        got.append(a.compute(event, history).response[0])
        assert a.quiet(np.array([o - 1, o, o + 12, o + 13])).tolist() == [True, False, False, True]
    np.testing.assert_allclose(got, amplitudes, atol=0.02 * amplitudes.max())
    without = TrialAligner(baseline_frames=6, extra_frames=0, max_motion_px=3.0, decay_kinds=("grating",),
                           estimator="matched")
    without.decay_frames, without.rise_frames, without.stimulus_frames = DECAY, RISE, STIM
    plain = without.compute(TrialEvent(0, "grating", onsets[0], onsets[0] + WINDOW, direction_deg=0.0), history)
    assert plain.response[0] - amplitudes[0] > 0.05        # the offset the resting level removes


def test_blank_reference_follows_the_estimator():
    assert OnlineConfig().blank_reference is False
    assert OnlineConfig(visual_response_estimator="window").blank_reference is True
    assert OnlineConfig(resting_level_frames=0).blank_reference is True
    assert OnlineConfig(subtract_blank=True).blank_reference is True


def test_back_to_back_trials_fall_back_to_the_baseline_window():
    """No quiet frame (trials closer than the rise settles): the resting level comes from the trial's baseline
    window, still removing a resting offset exactly on a noise-free trace."""
    n, onset, offset = 60, 30, 0.3
    h = expected_response(RISE, DECAY, STIM, WINDOW)
    trace = np.full(n, offset)
    trace[onset:onset + WINDOW] += 0.4 * h
    history = FrameHistory(1, n)
    for i, v in enumerate(trace):
        history.put(i, np.array([v], np.float32), 0.0)
    a = TrialAligner(baseline_frames=6, extra_frames=0, max_motion_px=3.0, decay_kinds=("grating",),
                     estimator="matched", resting_level_frames=600)
    a.decay_frames, a.rise_frames, a.stimulus_frames = DECAY, RISE, STIM
    a.add(TrialEvent("earlier", "photostim", 0, onset - 1, ensemble="e0"))    # evoking right up to the onset
    a.due(onset - 1)
    a.add(TrialEvent("t", "grating", onset, onset + WINDOW, direction_deg=0.0))
    (event,) = a.due(onset + WINDOW - 1)
    assert not a.quiet(np.arange(onset - 6, onset + WINDOW)).any()
    assert a.compute(event, history).response[0] == pytest.approx(0.4, abs=1e-5)
