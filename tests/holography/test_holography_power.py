"""Per-target power: efficiency model, weights that deliver the requests, laser power refused above the maxima."""
import numpy as np
import pytest

import holography
from holography_reference import check_intensities, small_geometry

LIMITS = holography.PowerLimits(max_power_per_target_mw=130.0, max_total_power_mw=2000.0)


def test_efficiency_model_values():
    geom = holography.SLMGeometry((64, 64), 9.2, 1.04, 1e4, defocus_sigma_um=300.0)
    edge = geom.reachable_half_field_um
    eff = holography.diffraction_efficiency([[0, 0, 0], [edge, 0, 0], [edge, edge, 0], [0, 0, 300]], geom)
    sinc2_half = (np.sin(np.pi / 2) / (np.pi / 2)) ** 2  # ≈ 0.405 at the edge of the reachable field
    np.testing.assert_allclose(eff, [1.0, sinc2_half, sinc2_half ** 2, np.exp(-0.5)], rtol=1e-12)


def test_power_weighted_hologram_delivers_the_requests():
    geom = small_geometry()
    targets = np.array([[0.0, 0.0, 0.0], [250.0, 100.0, 30.0], [-400.0, -300.0, -30.0], [120.0, -380.0, 0.0]])
    requests = np.array([40.0, 60.0, 25.0, 80.0])
    hol = holography.hologram_for_powers(targets, requests, geom, seed=1)
    plan = holography.required_laser_power(hol, requests, geom, LIMITS)
    # Check with the independent sum: what each target receives at that laser power.
    delivered = plan.laser_power_mw * check_intensities(hol.phase, targets, geom) \
        * holography.diffraction_efficiency(targets, geom)
    np.testing.assert_allclose(delivered, requests, rtol=0.03)
    assert np.all(delivered >= requests * 0.999)  # at least the request (to the mask's rounding)
    # Without the efficiency correction, the far targets would be short.
    plain = holography.compute_phase(targets, geom, weights=requests, seed=1)
    plain_delivered = plain.intensities * holography.diffraction_efficiency(targets, geom)
    ratio = plain_delivered / requests
    assert ratio.max() / ratio.min() > 1.3


def test_required_power_refuses_above_total_maximum_with_the_numbers():
    geom = small_geometry()
    targets = [[0, 0, 0], [50, 0, 0], [0, 50, 0]]
    hol = holography.hologram_for_powers(targets, [100, 100, 100], geom)
    small = holography.PowerLimits(max_power_per_target_mw=130.0, max_total_power_mw=300.0)
    with pytest.raises(holography.HologramError, match=r"needs 3\d\d\.\d mW .* maximum total of 300 mW"):
        holography.required_laser_power(hol, [100, 100, 100], geom, small)


def test_required_power_refuses_requests_above_per_target_maximum():
    geom = small_geometry()
    hol = holography.hologram_for_powers([[0, 0, 0], [50, 0, 0], [0, 50, 0]], [10, 10, 140], geom)
    with pytest.raises(holography.HologramError, match=r"target\(s\) \[2\] request \[140.0\] mW"):
        holography.required_laser_power(hol, [10, 10, 140], geom, LIMITS)


def test_required_power_refuses_when_a_mismatched_hologram_overdrives_a_target():
    geom = small_geometry()
    targets = [[0, 0, 0], [50, 0, 0], [0, 50, 0]]
    hol = holography.compute_phase(targets, geom, weights=[3, 1, 1])  # made for other requests
    with pytest.raises(holography.HologramError, match=r"target\(s\) \[0\] would receive \[3\d\d\.\d\] mW"):
        holography.required_laser_power(hol, [10, 10, 100], geom, LIMITS)


def test_bad_requests_and_limits():
    geom = small_geometry()
    hol = holography.compute_phase([[0, 0, 0], [50, 0, 0], [0, 50, 0]], geom)
    with pytest.raises(holography.HologramError, match="positive"):
        holography.required_laser_power(hol, [10, 0, 10], geom, LIMITS)
    with pytest.raises(holography.HologramError, match="one per target"):
        holography.required_laser_power(hol, [10, 10], geom, LIMITS)
    with pytest.raises(holography.HologramError, match="positive"):
        holography.PowerLimits(0.0, 100.0)
