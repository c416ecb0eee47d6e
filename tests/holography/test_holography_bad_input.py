"""Bad input raises HologramError (exit code 2) with a message that says what to change."""
import numpy as np
import pytest

import holography
from holography_reference import small_geometry

OK = [[0.0, 0.0, 0.0], [30.0, 0.0, 0.0], [0.0, 30.0, 30.0]]


@pytest.mark.parametrize("targets, match", [
    ([[0, 0, 0], [30, 0, 0]], "at least 3 targets"),
    ([[0, 0, 0], [30, 0, 0], [600, 0, 0]], "outside the reachable field"),
    ([[0, 0, 0], [30, 0, 0], [0, -566, 0]], "outside the reachable field"),
    ([[0, 0, 0], [30, 0, 0], [30, 0, 0]], "duplicates"),
    ([[0, 0, 0], [30, 0, 0], [30.5, 0.5, 0]], "closer than the minimum separation"),
    ([[0, 0, 0], [30, 0, 0], [np.nan, 0, 0]], "NaN"),
    ([[0, 0, 0], [30, 0, 0], [0, 20, 1e5]], "defocus range"),
    ([[0, 0], [1, 1], [2, 2]], "shape"),
])
def test_bad_targets(targets, match):
    with pytest.raises(holography.HologramError, match=match) as info:
        holography.compute_phase(targets, small_geometry())
    assert info.value.exit_code == 2


@pytest.mark.parametrize("weights, match", [
    ([1, 0, 1], "positive"), ([1, -2, 1], "positive"), ([1, np.nan, 1], "positive"), ([1, 2], "one weight"),
])
def test_bad_weights(weights, match):
    with pytest.raises(holography.HologramError, match=match):
        holography.compute_phase(OK, small_geometry(), weights=weights)


def test_min_targets_comes_from_the_rig_and_can_be_lowered():
    geom = holography.SLMGeometry((64, 64), 9.2, 1.04, 1e4, min_targets=5)
    with pytest.raises(holography.HologramError, match="at least 5 targets"):
        holography.compute_phase(OK, geom)
    assert holography.compute_phase(OK[:1], geom, min_targets=1).n_targets == 1


def test_bad_method_and_iterations():
    with pytest.raises(holography.HologramError, match="unknown method"):
        holography.compute_phase(OK, small_geometry(), method="fft")
    with pytest.raises(holography.HologramError, match="iterations"):
        holography.compute_phase(OK, small_geometry(), iterations=-1)


def test_phase_of_wrong_shape_is_refused_by_propagation():
    with pytest.raises(holography.HologramError, match="shape"):
        holography.intensity_at_points(np.zeros((10, 10)), OK, small_geometry())
