"""Calibration of the default simulator against seed 002 (Fig. 2a, 2b, 3c, 4b), fitted from simulated ensembles."""
import numpy as np
import pytest
from scipy.optimize import brentq, curve_fit

from sims.config import SimConfig
from sims.rehearsal import simulate_ensembles


def dog(d, a1, s1, a2, s2):
    """Seed 002 Fig. 2a fit: A1·exp(−(d/σ1)²) + A2·exp(−(d/σ2)²)."""
    return a1 * np.exp(-(d / s1) ** 2) + a2 * np.exp(-(d / s2) ** 2)


def binned(df, width=15.0, max_um=600.0):
    x, y = [], []
    for lo in np.arange(0.0, max_um, width):
        m = (df.min_distance_um >= lo) & (df.min_distance_um < lo + width)
        if m.sum() >= 10:
            x.append(lo + width / 2)
            y.append(df.response[m].mean())
    return np.array(x), np.array(y)


@pytest.fixture(scope="module")
def random_ensembles(tissue):
    df = simulate_ensembles(tissue.pop, tissue.config, tissue.responder, "random", 25, seed=1, noise=False)
    return df[~df.excluded]


def test_distance_curve_fits_seed_002_fig_2a(random_ensembles):
    x, y = binned(random_ensembles)
    (a1, s1, a2, s2), _ = curve_fit(dog, x, y, p0=[0.2, 22.0, -0.02, 150.0], maxfev=20000)
    assert 0.1 < a1 < 0.4 and 12.0 < abs(s1) < 40.0, (a1, s1)        # seed: A1 = 0.196, σ1 = 22.1 µm
    assert -0.045 < a2 < -0.01 and 100.0 < abs(s2) < 350.0, (a2, s2)  # seed: A2 = −0.021, σ2 = 147 µm
    zero = brentq(lambda d: dog(d, a1, s1, a2, s2), 5.0, 150.0)
    assert 25.0 <= zero <= 50.0, zero


def test_nearby_activation_surround_suppression_and_return(random_ensembles):
    d, r = random_ensembles.min_distance_um, random_ensembles.response
    near, mid, far = r[d < 30].mean(), r[(d >= 50) & (d < 150)].mean(), r[d >= 400].mean()
    assert near > 0.01                     # seed: +0.044 ΔF/F (< 30 µm)
    assert -0.04 < mid < -0.005            # seed: −0.013 ΔF/F (50–150 µm)
    assert mid < far <= 0.0 or abs(far) < abs(mid) / 2    # returns towards 0 further out
    assert r.mean() < 0                    # net suppression of the population (seed: −0.011)


def test_compact_ensembles_recruit_more_surround_suppression(tissue):
    def mid(kind):
        df = simulate_ensembles(tissue.pop, tissue.config, tissue.responder, kind, 12, seed=2, noise=False)
        df = df[~df.excluded]
        return df.response[(df.min_distance_um >= 50) & (df.min_distance_um < 150)].mean(), df.ensemble_spread_um.mean()
    (compact, spread_c), (diffuse, spread_d) = mid("compact"), mid("diffuse")
    assert spread_c < 200 < spread_d
    assert compact < diffuse < 0


def _iso_ortho_near(df):
    d = df[~df.excluded & (df.osi > 0.25) & (df.min_distance_um < 30)]
    return d.response[d.delta_ori_deg < 22.5].mean(), d.response[d.delta_ori_deg > 67.5].mean()


def test_cotuned_ensembles_activate_iso_and_suppress_ortho(tissue):
    df = simulate_ensembles(tissue.pop, tissue.config, tissue.responder, "cotuned", 20, seed=3,
                            spatial="compact", noise=False)
    assert (df.groupby("ensemble").ensemble_osi.first() > 0.7).all()
    iso, ortho = _iso_ortho_near(df)
    assert iso > ortho + 0.03
    assert ortho < 0


def test_spatial_only_wiring_gives_no_iso_ortho_difference(tissue):
    """Seed 002 ED Fig. 9h: without feature-specific wiring, iso and ortho cells respond alike."""
    from conftest import Tissue
    flat = Tissue(SimConfig(feature_r0=1.0, feature_rp=0.0, feature_i_r0=1.0, feature_i_rp=0.0), 0)
    df = simulate_ensembles(flat.pop, flat.config, flat.responder, "cotuned", 20, seed=3, spatial="compact",
                            noise=False)
    iso, ortho = _iso_ortho_near(df)
    tuned = simulate_ensembles(tissue.pop, tissue.config, tissue.responder, "cotuned", 20, seed=3,
                               spatial="compact", noise=False)
    iso_t, ortho_t = _iso_ortho_near(tuned)
    assert abs(iso - ortho) < 0.5 * (iso_t - ortho_t)


def test_noisy_rehearsal_agrees_with_expected_on_average(tissue):
    noisy = simulate_ensembles(tissue.pop, tissue.config, tissue.responder, "random", 4, seed=5, trials=10)
    exact = simulate_ensembles(tissue.pop, tissue.config, tissue.responder, "random", 4, seed=5, noise=False)
    keep = ~exact.excluded
    diff = (noisy.response - exact.response)[keep]
    assert abs(diff.mean()) < 0.01
    assert np.corrcoef(noisy.response[keep], exact.response[keep])[0, 1] > 0.2
