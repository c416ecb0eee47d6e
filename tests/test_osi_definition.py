"""One OSI definition across the product: online analysis, optimizer and the simulator's ground truth agree.

Seed 002 ("Online analysis"): PO is the largest mean response (the preferred direction), OO the mean response to
the orthogonal orientation (its two directions), OSI = (PO − OO)/(PO + OO); responses rectified at 0.
"""
import numpy as np

from online import orientation_tuning
from optimizer.tuning import osi_of_direction_curves
from sims.population import osi_of_curves

DIRECTIONS = np.arange(0.0, 360.0, 45.0)


def _curves(seed: int, n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    curves = rng.gamma(1.5, 1.0, (n, DIRECTIONS.size))
    curves[: n // 5] -= 0.8          # some negative (suppressed) means, rectified by every implementation
    return curves


def test_analytic_case():
    # peak 1.0 at 90°, orthogonal directions 0° and 180° give 0.2 and 0.4 → OO 0.3, OSI 0.7/1.3
    c = np.array([[0.2, 0.5, 1.0, 0.5, 0.4, 0.1, 0.6, 0.1]])
    want = 0.7 / 1.3
    assert np.isclose(osi_of_curves(c, DIRECTIONS)[0], want)
    assert np.isclose(osi_of_direction_curves(c, DIRECTIONS)[0], want)
    assert np.isclose(orientation_tuning(c, DIRECTIONS, po_method="peak").osi[0], want)


def test_three_implementations_agree_on_random_curves():
    c = _curves(0)
    online = orientation_tuning(c, DIRECTIONS, po_method="peak").osi
    sims_truth = osi_of_curves(c, DIRECTIONS)
    optimizer = osi_of_direction_curves(c, DIRECTIONS)
    defined = np.isfinite(online)       # online reports NaN where no mean response is positive
    assert defined.mean() > 0.9
    np.testing.assert_allclose(sims_truth[defined], online[defined], atol=1e-12)
    np.testing.assert_allclose(optimizer[defined], online[defined], atol=1e-12)
    np.testing.assert_array_equal(sims_truth[~defined], 0.0)
    np.testing.assert_array_equal(optimizer[~defined], 0.0)


def test_direction_selectivity_counts_and_folding_would_differ():
    # 1 at 0°, 0.6 at 90°, 180° and 270°: peak direction vs its orthogonal directions gives (1 − 0.6)/(1 + 0.6) =
    # 0.25; folding directions into orientations first (0°: 0.8, 90°: 0.6) would give 0.14.
    c = np.zeros((1, 8))
    c[0, 0], c[0, 2], c[0, 6], c[0, 4] = 1.0, 0.6, 0.6, 0.6
    for f in (lambda x: osi_of_curves(x, DIRECTIONS), lambda x: osi_of_direction_curves(x, DIRECTIONS),
              lambda x: orientation_tuning(x, DIRECTIONS, po_method="peak").osi):
        assert np.isclose(f(c)[0], 0.25)
