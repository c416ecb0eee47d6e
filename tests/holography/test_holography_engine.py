"""GSW/GS phase masks: requested ratios, quality figures judged independently, determinism, backends."""
import importlib.util
import sys

import numpy as np
import pytest

import holography
from holography_reference import check_intensities, seed002_geometry, small_geometry


def three_plane_targets(n, seed, half_um=350.0):
    rng = np.random.default_rng(seed)
    pts = []
    while len(pts) < n:
        p = np.array([*rng.uniform(-half_um, half_um, 2), (-30.0, 0.0, 30.0)[len(pts) % 3]])
        if all(np.linalg.norm(p - q) >= 10 for q in pts):
            pts.append(p)
    return np.array(pts)


def test_weights_1_2_3_come_out_1_2_3_within_3_percent():
    geom = small_geometry()
    targets = [[40.0, -20.0, -30.0], [-70.0, 35.0, 0.0], [10.0, 80.0, 30.0]]
    hol = holography.compute_phase(targets, geom, weights=[1, 2, 3], seed=2)
    measured = check_intensities(hol.phase, targets, geom)
    ratios = measured / measured[0]
    np.testing.assert_allclose(ratios, [1, 2, 3], rtol=0.03)
    np.testing.assert_allclose(hol.intensities, measured, rtol=1e-3)  # the engine reports what the mask does


def test_seed002_slm_10_targets_3_planes_meets_uniformity_and_efficiency():
    geom = seed002_geometry()
    targets = three_plane_targets(10, seed=10)
    hol = holography.compute_phase(targets, geom, iterations=30, seed=0)
    assert hol.phase.dtype == np.float32 and hol.phase.shape == geom.shape
    assert hol.phase.min() >= 0 and hol.phase.max() < 2 * np.pi
    measured = check_intensities(hol.phase, targets, geom)
    assert holography.uniformity(measured, np.ones(10)) >= 0.97
    assert measured.sum() >= 0.75
    assert hol.efficiency == pytest.approx(measured.sum(), rel=1e-3)
    assert hol.uniformity == pytest.approx(holography.uniformity(measured, np.ones(10)), abs=2e-3)


def test_gsw_is_more_uniform_than_plain_gs():
    geom = small_geometry()
    targets = three_plane_targets(12, seed=4, half_um=150)
    gs = holography.compute_phase(targets, geom, method="gs", seed=0)
    gsw = holography.compute_phase(targets, geom, method="gsw", seed=0)
    assert gsw.uniformity > gs.uniformity
    assert gsw.uniformity >= 0.97


def test_same_seed_same_mask_and_different_seed_different_mask():
    geom = small_geometry()
    targets = three_plane_targets(6, seed=5, half_um=150)
    a = holography.compute_phase(targets, geom, seed=7)
    b = holography.compute_phase(targets, geom, seed=7)
    c = holography.compute_phase(targets, geom, seed=8)
    np.testing.assert_array_equal(a.phase, b.phase)
    assert not np.array_equal(a.phase, c.phase)


def test_compressive_iterations_reach_the_quality_of_full_iterations():
    geom = small_geometry()
    targets = three_plane_targets(10, seed=6, half_um=150)
    full = holography.compute_phase(targets, geom, subsample=1.0, seed=0)
    fast = holography.compute_phase(targets, geom, subsample=0.3, seed=0)
    assert fast.uniformity >= 0.97
    assert fast.efficiency == pytest.approx(full.efficiency, abs=0.02)


def test_missing_gpu_library_gives_a_clear_error(monkeypatch):
    geom = small_geometry()
    for backend, module in (("cupy", "cupy"), ("torch", "torch")):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed, whatever this machine has
        with pytest.raises(holography.HologramError, match=f"backend='{backend}' needs"):
            holography.compute_phase([[0, 0, 0], [20, 0, 0], [0, 20, 0]], geom, backend=backend)
    with pytest.raises(holography.HologramError, match="unknown backend"):
        holography.compute_phase([[0, 0, 0], [20, 0, 0], [0, 20, 0]], geom, backend="opencl")


def _cuda_for_cupy() -> bool:
    """cupy importable and a CUDA device it can use (the GPU machines; never CI)."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - a broken CUDA install counts as no GPU
        return False


def _matches_numpy(backend: str):
    """The backend follows numpy's path from the same seed: one iteration gives the same phase (float32
    rounding aside), and a full run masks of the same efficiency and uniformity."""
    geom = small_geometry()
    targets = three_plane_targets(10, seed=8, half_um=150)
    one_np = holography.compute_phase(targets, geom, iterations=1, seed=0)
    one_b = holography.compute_phase(targets, geom, iterations=1, seed=0, backend=backend)
    assert one_b.phase.dtype == np.float32 and one_b.phase.shape == one_np.phase.shape
    assert one_b.phase.min() >= 0 and one_b.phase.max() < 2 * np.pi
    diff = np.angle(np.exp(1j * (one_np.phase.astype(np.float64) - one_b.phase)))
    assert np.abs(diff).max() < 1e-3
    full_np = holography.compute_phase(targets, geom, seed=0)
    full_b = holography.compute_phase(targets, geom, seed=0, backend=backend)
    assert full_b.efficiency == pytest.approx(full_np.efficiency, rel=0.01)
    assert full_b.uniformity == pytest.approx(full_np.uniformity, rel=0.01)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_torch_backend_matches_numpy():
    _matches_numpy("torch")          # on the GPU where torch sees one, else on the CPU


@pytest.mark.skipif(not _cuda_for_cupy(), reason="cupy or a CUDA device missing")
def test_cupy_backend_matches_numpy():
    _matches_numpy("cupy")
