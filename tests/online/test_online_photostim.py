"""Photostim statistics: target success (seed 002 exclusion), confidence intervals, power test."""
import numpy as np
from scipy import stats

from online import power_test
from online.photostim import mean_ci, trial_failed


def test_trial_failed_at_half_the_targets():
    z = np.array([1.0, 1.0, 0.1, 0.1, 5.0])
    assert trial_failed(z, [0, 1, 2, 3])           # 50 % failed → excluded (seed 002)
    assert not trial_failed(z, [0, 1, 2, 4])       # 25 % failed
    assert not trial_failed(z, [])


def test_mean_ci_is_the_t_interval():
    rng = np.random.default_rng(0)
    z = rng.normal(1, 2, (12, 3))
    mean, lo, hi, n = mean_ci(z, 0.95)
    want = stats.t.interval(0.95, 11, loc=z.mean(0), scale=stats.sem(z, axis=0))
    np.testing.assert_allclose([lo, hi], want, rtol=1e-9)
    assert n.tolist() == [12, 12, 12]


def test_power_test_finds_lowest_confirmed_power():
    rng = np.random.default_rng(1)
    powers = np.array([12.5, 25, 37.5, 50])
    thresholds = np.array([25, 50, np.inf, 12.5])  # cell 2 never responds
    z_rows, targets, pw = [], [], []
    for rep in range(3):
        for p in powers:
            for cell in range(4):
                z = rng.normal(0, 0.3, 4)
                if p >= thresholds[cell]:
                    z[cell] += 3.0
                z_rows.append(z)
                targets.append([cell])
                pw.append(p)
    res = power_test(np.array(z_rows), targets, pw)
    np.testing.assert_array_equal(res.powers_mw, powers)
    assert res.stimmable_power_mw[[0, 1, 3]].tolist() == [25.0, 50.0, 12.5]
    assert np.isnan(res.stimmable_power_mw[2])
    assert res.n_trials[0].tolist() == [3, 3, 3, 3]
