"""The physics contract: a spot lands where the single-target formula says, and propagation matches an
independent discrete sum."""
import numpy as np
import pytest

import holography
from holography_reference import check_intensities, small_geometry


def test_single_target_phase_gives_a_perfect_spot_at_its_target():
    geom = small_geometry()
    target = np.array([37.3, -21.8, 25.0])
    phase = geom.single_target_phase(target)
    assert holography.intensity_at_points(phase, target, geom)[0] == pytest.approx(1.0, abs=1e-5)
    assert check_intensities(phase, [target], geom)[0] == pytest.approx(1.0, abs=1e-9)


def test_peak_of_propagated_plane_is_at_the_formula_position():
    geom = small_geometry()
    target = np.array([37.3, -21.8, 25.0])
    phase = geom.single_target_phase(target)
    x = target[0] + np.linspace(-4, 4, 81)
    y = target[1] + np.linspace(-4, 4, 81)
    plane = holography.intensity_on_plane(phase, geom, target[2], x, y)
    iy, ix = np.unravel_index(np.argmax(plane), plane.shape)
    assert abs(x[ix] - target[0]) <= 0.05 and abs(y[iy] - target[1]) <= 0.05
    # Axially the spot is also sharpest at the target's depth.
    zs = target[2] + np.linspace(-20, 20, 41)
    along_z = holography.intensity_at_points(phase, np.column_stack(
        [np.full_like(zs, target[0]), np.full_like(zs, target[1]), zs]), geom)
    assert zs[np.argmax(along_z)] == pytest.approx(target[2], abs=0.5)


def test_multi_target_mask_peaks_at_each_target_on_its_plane():
    geom = small_geometry()
    targets = np.array([[30.0, 40.0, -30.0], [-60.0, 10.0, 0.0], [15.0, -50.0, 30.0]])
    hol = holography.compute_phase(targets, geom, seed=3)
    for tx, ty, tz in targets:
        x, y = tx + np.linspace(-3, 3, 61), ty + np.linspace(-3, 3, 61)
        plane = holography.intensity_on_plane(hol.phase, geom, tz, x, y)
        iy, ix = np.unravel_index(np.argmax(plane), plane.shape)
        assert abs(x[ix] - tx) <= 0.1 and abs(y[iy] - ty) <= 0.1


def test_intensity_at_points_matches_independent_discrete_sum_for_any_mask():
    geom = small_geometry()
    rng = np.random.default_rng(0)
    # A smooth random mask plus noise: not a hologram of these points, so the sum is not trivially 0 or 1.
    hol = holography.compute_phase([[20, 20, 0], [-40, 5, 30], [10, -30, -30]], geom, seed=1)
    phase = (hol.phase + rng.normal(0, 0.3, geom.shape)).astype(np.float32)
    points = np.column_stack([rng.uniform(-60, 60, (40, 2)), rng.uniform(-40, 40, 40)])
    points[:3] = hol.targets_um
    ours = holography.intensity_at_points(phase, points, geom)
    ref = check_intensities(phase, points, geom)
    np.testing.assert_allclose(ours, ref, rtol=2e-3, atol=1e-6)


def test_geometry_from_rig_slm_section(repo_root):
    from rig.config import load_rig

    rig = load_rig(repo_root / "configs/rig/sim.yaml")
    geom = holography.SLMGeometry.from_rig_slm(rig.slm)
    assert geom.shape == tuple(rig.slm.shape)
    assert geom.reachable_half_field_um == pytest.approx(rig.slm.reachable_half_field_um)
    assert geom.defocus_sigma_um == rig.slm.efficiency.defocus_sigma_um
    assert geom.min_targets == rig.slm.min_targets
    same = holography.SLMGeometry.from_rig_slm(rig.slm.model_dump())
    assert same == geom


def test_reachable_field_and_defocus_limits():
    geom = small_geometry()
    assert geom.reachable_half_field_um == pytest.approx(1.04 * 10000 / (2 * 9.2))
    assert geom.max_defocus_um > 100
    with pytest.raises(holography.HologramError):
        holography.SLMGeometry((1, 10), 9.2, 1.04, 1e4)
    with pytest.raises(holography.HologramError):
        holography.SLMGeometry((10, 10), -9.2, 1.04, 1e4)
