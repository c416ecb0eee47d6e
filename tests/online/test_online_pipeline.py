"""OnlinePipeline: bad input is counted, never raised; nothing computed is lost; runs are reproducible."""
import numpy as np
import pytest

from online import OnlineConfig, OnlineError, OnlinePipeline
from online_synth import cached_movie, make_movie, replay


@pytest.fixture(scope="module")
def small():
    return make_movie(3, shape=(64, 64), n_cells=16, tuning_reps=3, warmup_frames=40)


def test_bad_frames_counted_and_results_kept(small):
    clean = replay(small)
    pipe = OnlinePipeline(small.masks, config=OnlineConfig())
    events = sorted(small.events, key=lambda e: e["onset_frame"])
    k = 0
    n = len(small.frames)
    for i, frame in enumerate(small.frames):
        while k < len(events) and events[k]["onset_frame"] <= i:
            pipe.add_trial(**events[k])
            k += 1
        r = pipe.process(frame, frame_index=i)
        assert r.accepted and r.dff.shape == (16,)
        if i == n - 1:
            break
    before = pipe.tuning()
    bad = [np.zeros((10, 10)), np.array(["x"]), np.full(small.frames[0].shape, np.nan, np.float32),
           small.frames[0].astype(complex), None]
    for j, frame in enumerate(bad):
        r = pipe.process(frame, frame_index=n + j)
        assert not r.accepted and r.reason
    r = pipe.process(small.frames[0], frame_index=n + 10)   # 5 frames dropped in between
    assert r.accepted
    r = pipe.process(small.frames[0], frame_index=3)        # from the past
    assert not r.accepted
    assert not pipe.end_trial("no such trial", 5)
    assert not pipe.add_trial(0, "grating", 10, 20, direction_deg=0)       # duplicate
    assert not pipe.add_trial("x", "laser show", 10, 20)                    # unknown kind
    assert not pipe.add_trial("y", "grating", 10, 20)                       # no direction
    assert not pipe.add_trial("z", "photostim", 10, 20, targets=[999])      # unknown target
    counts = pipe.report()["counts"]
    assert counts["wrong_shape"] == 1 and counts["wrong_dtype"] == 3 and counts["non_finite"] == 1
    assert counts["frames_dropped"] == 5 and counts["frames_out_of_order"] == 1
    assert counts["events_unknown_trial"] == 1 and counts["events_duplicate_trial"] == 1
    assert counts["events_invalid"] == 3
    after = pipe.tuning()
    np.testing.assert_array_equal(before.mean, after.mean)
    np.testing.assert_array_equal(after.mean, clean.tuning().mean)


def test_same_input_same_output(small):
    a, b = replay(small), replay(small)
    np.testing.assert_array_equal(a.shifts, b.shifts)
    np.testing.assert_array_equal(a.tuning().osi, b.tuning().osi)
    assert make_movie(3, shape=(64, 64), n_cells=16, tuning_reps=3, warmup_frames=40).frames.tobytes() == \
        small.frames.tobytes()


def test_trial_with_late_offset_and_dropped_frames():
    movie = cached_movie(0)
    pipe = OnlinePipeline(movie.masks)
    ev = sorted(movie.events, key=lambda e: e["onset_frame"])[0]
    on, off = ev["onset_frame"], ev["offset_frame"]
    assert pipe.add_trial("t", "grating", on, None, direction_deg=90.0)
    for i in range(off + 5):
        if i in (on + 1, on + 2):
            continue  # dropped frames inside the response window
        pipe.process(movie.frames[i], frame_index=i)
    assert pipe.trial_records() == []          # no offset yet: still pending
    assert pipe.end_trial("t", off)
    rec = pipe.trial_records()[0]
    assert rec.n_response_frames == off - on - 2
    assert pipe.report()["counts"]["frames_dropped"] == 2


def test_photostim_outcomes_and_targets_failed():
    movie = make_movie(7, shape=(64, 64), n_cells=15, tuning_reps=0, blank=False, power_test=True,
                       warmup_frames=40)
    pipe = replay(movie)
    outcomes = pipe.trial_outcomes()
    assert len(outcomes) == sum(e["kind"] == "photostim" for e in movie.events)
    assert all(o["n_targets"] > 0 for o in outcomes)
    ev = pipe.photostim()
    assert ev == {}  # every photostim trial here is a power-test trial
    pt = pipe.power_test()
    assert pt.tested.all()


def test_neuropil_coefficient_auto_estimated():
    rng = np.random.default_rng(0)
    masks = np.zeros((2, 48, 48), bool)
    masks[0, 10:16, 10:16] = True
    masks[1, 30:36, 30:36] = True
    T = 300
    neuropil = 100 + 30 * np.sin(np.arange(T) / 10.0)
    frames = np.empty((T, 48, 48), np.float32)
    for t in range(T):
        img = np.full((48, 48), neuropil[t], np.float32)
        img[masks[0]] = 200 + 0.5 * neuropil[t]        # c = 0.5
        img[masks[1]] = 150 + 0.9 * neuropil[t]        # c = 0.9
        frames[t] = img + rng.normal(0, 1, (48, 48))
    cfg = OnlineConfig(neuropil_coefficient="auto", neuropil_auto_frames=200, reference_frames=5)
    pipe = OnlinePipeline(masks, config=cfg)
    for t in range(T):
        pipe.process(frames[t])
    np.testing.assert_allclose(pipe.extractor.coefficient, [0.5, 0.9], atol=0.02)
    assert pipe.report()["neuropil_coefficient_final"]
    # F = F_cell − c·F_np is then flat, so F0 ≈ F and ΔF/F ≈ 0.
    r = pipe.process(frames[-1])
    assert np.all(np.abs(r.dff) < 0.02)


def test_mismatched_footprints_raise():
    with pytest.raises(OnlineError):
        OnlinePipeline(np.ones((2, 32, 32), bool), frame_shape=(64, 64))


def test_traces_equal_plain_warp_and_extract(small):
    """The fast registration path gives the traces of a plain cv2.warpAffine of each frame by its reported shift."""
    cv2 = pytest.importorskip("cv2")
    pipe = OnlinePipeline(small.masks, config=OnlineConfig(reference_frames=5))
    fp = pipe.footprints
    for i, frame in enumerate(small.frames[:60]):
        r = pipe.process(frame, frame_index=i)
        if i < 1:
            continue
        warp = np.float32([[1, 0, r.dx], [0, 1, r.dy]])
        plain = cv2.warpAffine(frame, warp, frame.shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE)
        f_cell, f_np = fp.extract(plain)
        np.testing.assert_allclose(r.traces.f_cell, f_cell, rtol=1e-5)
        np.testing.assert_allclose(r.traces.f_neuropil, f_np, rtol=1e-5)


def test_integer_frames_match_their_float_values(small):
    frames = np.round(small.frames[:30]).astype(np.int32)
    a = OnlinePipeline(small.masks, config=OnlineConfig(reference_frames=5))
    b = OnlinePipeline(small.masks, config=OnlineConfig(reference_frames=5))
    for i, frame in enumerate(frames):
        ra, rb = a.process(frame, frame_index=i), b.process(frame.astype(np.float32), frame_index=i)
        assert ra.accepted and (ra.dy, ra.dx) == (rb.dy, rb.dx)
        np.testing.assert_array_equal(ra.dff, rb.dff)
