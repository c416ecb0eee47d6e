"""Accuracy of the whole pipeline against a synthetic movie's ground truth (issue targets)."""
import numpy as np
import pytest

from online_synth import POWERS_MW, cached_movie, orientation_error_deg, replay


@pytest.fixture(scope="module")
def tuning_run():
    movie = cached_movie(0)
    return movie, replay(movie)


@pytest.fixture(scope="module")
def power_run():
    movie = cached_movie(5, n_cells=40, tuning_reps=0, blank=False, power_test=True)
    return movie, replay(movie)


def test_motion_rms_error_below_0p3_px(tuning_run):
    movie, pipe = tuning_run
    sh = pipe.shifts
    err = sh[:, 1:3] - movie.shifts[sh[:, 0].astype(int)]
    err -= np.median(err, axis=0)  # the reference sits at an arbitrary offset from the true origin
    rms = np.sqrt((err ** 2).sum(axis=1).mean())
    assert len(sh) == len(movie.frames)
    assert rms < 0.3


def test_po_error_and_osi_correlation(tuning_run):
    movie, pipe = tuning_run
    tu = pipe.tuning()
    sel = movie.tuned & tu.responsive
    assert sel.sum() >= 0.8 * movie.tuned.sum()
    assert np.median(orientation_error_deg(tu.po_deg[sel], movie.pd_deg[sel] % 180)) < 10.0
    ok = movie.responsive & np.isfinite(tu.osi)
    assert np.corrcoef(tu.osi[ok], movie.osi[ok])[0, 1] > 0.9
    # Responsiveness by ANOVA: nearly all driven cells found, few of the silent ones.
    assert tu.responsive[movie.responsive].mean() > 0.9
    assert tu.responsive[~movie.responsive].mean() <= 0.3


def test_peak_po_matches_seed002_definition(tuning_run):
    movie, pipe = tuning_run
    tu = pipe.tuning()
    peak = tu.directions_deg[np.argmax(tu.mean, axis=1)]
    np.testing.assert_array_equal(tu.peak_direction_deg, peak)


def test_power_test_recovers_stimmable_power_within_one_step(power_run):
    movie, pipe = power_run
    pt = pipe.power_test()
    np.testing.assert_array_equal(pt.powers_mw, POWERS_MW)
    found, truth = pt.stimmable_power_mw, movie.stimmable_mw
    step = np.diff(POWERS_MW)[0]
    close = np.where(np.isfinite(truth), np.abs(np.nan_to_num(found, nan=1e9) - truth) <= step + 1e-9,
                     ~np.isfinite(found))
    assert close[movie.opsin].mean() >= 0.9
    assert np.isfinite(found[~movie.opsin]).mean() <= 0.25
