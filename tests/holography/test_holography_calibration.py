"""3D calibration recovers a hidden distorted imaging → SLM mapping."""
import numpy as np
import pytest

import holography

UM_PER_PX = 800.0 / 512.0


def hidden_mapping(img):
    """Imaging (row px, col px, z µm) → SLM (x, y, z) µm: rotation, scale, offset, barrel distortion, a tilted
    and curved field, z scale — the kind of distortions seed 002's calibration must absorb (several µm)."""
    row, col, z = img.T
    u = (col - 256) * UM_PER_PX
    v = (row - 256) * UM_PER_PX
    ang = np.deg2rad(1.5)
    x = 1.02 * (np.cos(ang) * u - np.sin(ang) * v) + 6.0
    y = 0.99 * (np.sin(ang) * u + np.cos(ang) * v) - 4.0
    r2 = (x ** 2 + y ** 2) / 400.0 ** 2
    x, y = x * (1 + 0.012 * r2), y * (1 + 0.012 * r2)
    zs = 1.05 * z + 0.004 * u - 0.003 * v + 3.0 * r2 + 0.0005 * u * z / 10
    return np.column_stack([x + 0.02 * z, y - 0.01 * z, zs])


def sample(n, rng, planes=(-30.0, -15.0, 0.0, 15.0, 30.0)):
    return np.column_stack([rng.uniform(0, 511, n), rng.uniform(0, 511, n), rng.choice(planes, n)])


def test_recovers_distorted_mapping_below_1um_rms_on_held_out_points():
    rng = np.random.default_rng(0)
    img = sample(300, rng)
    slm = hidden_mapping(img) + rng.normal(0, 0.2, (300, 3))  # spot-finding noise
    cal = holography.Calibration.fit(slm, img, degree=3)
    test_img = sample(500, np.random.default_rng(1))
    err = np.linalg.norm(cal.apply(test_img) - hidden_mapping(test_img), axis=1)
    assert np.sqrt(np.mean(err ** 2)) < 1.0
    # An affine model is not enough: the distortion is several µm.
    affine = holography.Calibration.fit(slm, img, degree=1)
    err_affine = np.linalg.norm(affine.apply(test_img) - hidden_mapping(test_img), axis=1)
    assert np.sqrt(np.mean(err_affine ** 2)) > 2.0
    assert cal.residuals["rms_um"] < 1.0 and cal.residuals["n_points"] == 300


def test_inverse_round_trip_and_save_load(tmp_path):
    rng = np.random.default_rng(2)
    img = sample(200, rng)
    cal = holography.Calibration.fit(hidden_mapping(img), img, degree=3)
    test_img = sample(50, np.random.default_rng(3))
    back = cal.inverse(cal.apply(test_img))
    np.testing.assert_allclose(back, test_img, atol=1e-6)
    np.testing.assert_allclose(cal.inverse(hidden_mapping(test_img)), test_img, atol=0.3)  # ~0.5 µm
    path = cal.save(tmp_path / "cal.json")
    loaded = holography.Calibration.load(path)
    np.testing.assert_allclose(loaded.apply(test_img), cal.apply(test_img), rtol=0, atol=1e-9)
    assert loaded.residuals["rms_um"] == pytest.approx(cal.residuals["rms_um"])


def test_calibration_bad_input(tmp_path):
    rng = np.random.default_rng(4)
    img = sample(30, rng)
    with pytest.raises(holography.HologramError, match="at least 40 point pairs"):
        holography.Calibration.fit(hidden_mapping(img), img, degree=3)
    with pytest.raises(holography.HologramError, match="pair them"):
        holography.Calibration.fit(hidden_mapping(img)[:-1], img, degree=1)
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "something else"}')
    with pytest.raises(holography.HologramError, match="not a holostim calibration"):
        holography.Calibration.load(bad)
    with pytest.raises(holography.HologramError, match="does not exist"):
        holography.Calibration.load(tmp_path / "missing.json")
