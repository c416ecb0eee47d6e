"""Tuning: OSI (seed 002), gOSI and double von Mises (seed 000), ANOVA — analytic cases."""
import numpy as np
import pytest
from scipy import stats

from online import (OnlineError, fit_double_von_mises, one_way_anova, orientation_tuning,
                    tuning_from_responses)

DIRS = np.arange(0, 360, 45.0)


def test_osi_and_gosi_analytic():
    # Peak at 90°, orthogonal directions 0° and 180° respond 0.2 and 0.4 → OO = 0.3.
    curve = np.array([0.2, 0.5, 1.0, 0.5, 0.4, 0.1, 0.8, 0.1])
    t = orientation_tuning(curve, DIRS, po_method="peak")
    assert t.peak_direction_deg[0] == 90 and t.po_deg[0] == 90
    assert t.osi[0] == pytest.approx((1.0 - 0.3) / (1.0 + 0.3))
    vec = np.sum(curve * np.exp(2j * np.deg2rad(DIRS)))
    assert t.gosi[0] == pytest.approx(abs(vec) / curve.sum())


def test_negative_responses_are_rectified_and_silent_cells_nan():
    t = orientation_tuning(np.array([[1.0, -0.5, -1, -0.5, 1, -0.5, -1, -0.5], [-1.0] * 8]), DIRS)
    assert t.osi[0] == pytest.approx(1.0) and t.gosi[0] == pytest.approx(1.0)
    assert np.isnan(t.osi[1]) and np.isnan(t.gosi[1])


def test_von_mises_fit_recovers_parameters():
    rng = np.random.default_rng(0)
    mu = rng.uniform(0, 360, 50)
    kappa = rng.uniform(0.8, 4, 50)
    a = rng.uniform(0.5, 1, 50)
    b = a * rng.uniform(0.1, 0.9, 50)
    th, m = np.deg2rad(DIRS)[None], np.deg2rad(mu)[:, None]
    curves = a[:, None] * np.exp(kappa[:, None] * np.cos(th - m)) + b[:, None] * np.exp(
        kappa[:, None] * np.cos(th - m + np.pi)) + 0.1
    fit = fit_double_von_mises(curves, DIRS)
    err = np.abs((fit.mu_deg - mu + 180) % 360 - 180)
    assert np.median(err) < 0.5 and err.max() < 3
    assert np.median(fit.r2) > 0.999
    # κ is searched on a grid, so the curve is matched to a few per cent of its peak.
    assert np.all(np.abs(fit.evaluate(DIRS) - curves) <= 0.05 * curves.max(axis=1, keepdims=True))
    t = orientation_tuning(curves, DIRS)
    np.testing.assert_allclose(t.po_deg, fit.mu_deg % 180)


def test_anova_matches_scipy():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(5), 7)
    x = rng.normal(size=(35, 4)) + np.array([0, 0.5, 1, 3])[None] * (labels[:, None] == 2)
    p = one_way_anova(x, labels)
    for c in range(4):
        want = stats.f_oneway(*[x[labels == g, c] for g in range(5)]).pvalue
        assert p[c] == pytest.approx(want, rel=1e-6)


def test_tuning_from_responses_with_blanks():
    rng = np.random.default_rng(2)
    dirs = np.tile(DIRS, 10)
    curve = np.where(dirs == 45, 1.0, 0.1)
    responses = np.column_stack([curve + rng.normal(0, 0.05, dirs.size), rng.normal(0, 0.05, dirs.size)])
    dirs_b = np.concatenate([dirs, np.full(10, np.nan)])
    responses = np.vstack([responses, rng.normal(0, 0.05, (10, 2))])
    r = tuning_from_responses(responses, dirs_b)
    np.testing.assert_array_equal(r.directions_deg, DIRS)
    assert r.responsive.tolist() == [True, False]
    assert r.peak_direction_deg[0] == 45
    assert r.n_trials[0].tolist() == [10] * 8
    assert abs(r.blank_mean[0]) < 0.05
    with pytest.raises(OnlineError):
        tuning_from_responses(responses, dirs_b[:-1])


def test_blank_response_is_the_zero_of_the_tuning_curve():
    """With slow indicators the pre-stimulus baseline still holds the previous trial's decay, so every
    baseline-referenced response (blank included) is offset downwards. Referenced to the blank, OSI is the
    evoked tuning's; without it the orthogonal response is rectified to 0 and OSI is inflated."""
    directions = np.tile(np.arange(0.0, 360.0, 45.0), 6)
    directions = np.concatenate([directions, np.full(6, np.nan)])        # six blank trials
    evoked = 0.1 + 0.2 * np.exp(2 * (np.cos(2 * np.deg2rad(directions)) - 1))   # PO 0°: OSI ≈ 0.63
    evoked = np.where(np.isnan(directions), 0.0, evoked)
    responses = (evoked - 0.12)[:, None]                                   # the same offset on every trial
    referenced = tuning_from_responses(responses, directions)
    raw = tuning_from_responses(responses, directions, subtract_blank=False)
    truth = (0.3 - 0.1 - 0.2 * np.exp(-4)) / (0.3 + 0.1 + 0.2 * np.exp(-4))
    assert referenced.osi[0] == pytest.approx(truth, abs=1e-6)
    assert raw.osi[0] == pytest.approx(1.0)
    np.testing.assert_allclose(referenced.mean[0], evoked[:8], atol=1e-12)
