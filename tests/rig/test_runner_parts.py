"""Pieces of the session runner on analytic inputs: nucleus detection, calibration-spot localisation, the
motion-reference offset, progress output and the command line's errors."""
import io

import numpy as np
import pytest

from rig.cli import main
from rig.runner.progress import Progress
from rig.runner.reference import offset_px
from rig.runner.stages.calibration import locate
from rig.runner.stages.targets import detect_nuclei, disk_mask


def _blobs(shape, centres, sigma, amplitude, rng, background=8.0, noise=0.5):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    img = np.full(shape, background, np.float64)
    for r, c in centres:
        img += amplitude * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sigma ** 2))
    return (img + rng.normal(0, noise, shape)).astype(np.float32)


def test_detect_nuclei_finds_each_blob_once_at_sub_pixel_accuracy():
    rng = np.random.default_rng(1)
    centres = np.column_stack([rng.uniform(10, 118, 25), rng.uniform(10, 118, 25)])
    keep = [0]
    for i in range(1, len(centres)):              # at least 8 px apart
        if np.min(np.linalg.norm(centres[keep] - centres[i], axis=1)) > 8:
            keep.append(i)
    centres = centres[keep]
    img = _blobs((128, 128), centres, 1.5, 40.0, rng)
    found, brightness = detect_nuclei(img)
    assert len(found) == len(centres)
    d = np.linalg.norm(found[:, None] - centres[None], axis=2).min(axis=1)
    assert d.max() < 0.35 and np.all(brightness > 20)
    assert len(detect_nuclei(_blobs((128, 128), [], 1.5, 0.0, rng))[0]) == 0   # noise alone: nothing


def test_disk_mask_is_a_clipped_disk():
    pixels, weights = disk_mask((2.0, 50.0), 4.0, (64, 64))
    rows, cols = pixels // 64, pixels % 64
    assert rows.min() == 0 and np.all(np.hypot(rows - 2.0, cols - 50.0) <= 4.0)
    assert len(pixels) == np.sum(np.hypot(*np.mgrid[-4:5, -4:5]) <= 4.0) - np.sum(
        (np.mgrid[-4:5, -4:5][0] + 2 < 0) & (np.hypot(*np.mgrid[-4:5, -4:5]) <= 4.0))
    assert np.all(weights == 1)


def test_locate_recovers_spot_positions_and_depths_from_a_slide_stack():
    rng = np.random.default_rng(2)
    um_per_px = (1.5, 1.5)
    true = np.array([[60.0, 45.0, 3.0], [150.0, 120.0, -4.5], [100.0, 160.0, 1.0]])
    nominal = true + np.array([[4.0, -3.0, 0.0], [-5.0, 2.0, 0.0], [3.0, 3.0, 0.0]])
    slide_z = np.arange(-18.0, 18.1, 6.0)
    hw_r, hw_z = 4.6, 11.1
    yy, xx = np.mgrid[:150, :150]
    stack = []
    for z in slide_z:
        img = np.full((150, 150), 5.0)
        for x, y, zs in true:
            axial = np.exp(-np.log(2) * ((zs - z) / hw_z) ** 2)
            img += 100 * axial ** 2 * np.exp(-2 * np.log(2) * (((yy * 1.5 - y) ** 2 + (xx * 1.5 - x) ** 2) / hw_r ** 2))
        stack.append(img + rng.normal(0, 1.0, img.shape))
    got = locate(np.array(stack, np.float32), slide_z, nominal, um_per_px)
    assert np.abs(got[:, :2] - true[:, :2]).max() < 0.4
    assert np.abs(got[:, 2] - true[:, 2]).max() < 1.0


def test_offset_between_a_functional_image_and_the_red_image():
    rng = np.random.default_rng(3)
    centres = np.column_stack([rng.uniform(20, 236, 80), rng.uniform(20, 236, 80)])
    red = _blobs((256, 256), centres, 1.5, 40.0, rng)
    # the functional image: somata (a ring: dim nucleus) displaced by (+2.6, −1.4) px over a textured background
    soma = _blobs((256, 256), centres + [2.6, -1.4], 3.0, 30.0, rng) - 0.5 * _blobs(
        (256, 256), centres + [2.6, -1.4], 1.5, 30.0, rng, background=0.0)
    dy, dx = offset_px(soma, red, 20)
    assert abs(dy - 2.6) < 0.3 and abs(dx + 1.4) < 0.3


def test_progress_writes_lines_to_a_log_and_a_final_line():
    stream = io.StringIO()
    p = Progress(stream, every_s=1e9)
    p.stage("stimulation")
    for k in range(1, 6):
        p.trial("stimulation", k, 5, valid=k - 1, done=k, t_left_s=(5 - k) * 6.0)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[stimulation]"
    assert lines[-1].startswith("[stimulation] trial 5/5  valid 80%")
    assert len(lines) == 2                     # rate-limited: only the final trial line


def test_cli_refuses_a_hardware_rig_for_a_dry_run_and_a_missing_file_to_resume(tmp_path, repo_root, capsys):
    code = main(["dry-run", "--rig", str(repo_root / "configs/rig/meadowlark-3dshot.yaml"),
                 "--out", str(tmp_path / "s.h5")])
    assert code == 2 and "holostim run" in capsys.readouterr().err
    code = main(["resume", str(tmp_path / "missing.h5")])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "s.h5").exists()


def test_quick_preset_has_the_same_stages_and_fewer_trials(repo_root):
    from rig.config import load_protocol
    quick = load_protocol(repo_root / "configs/protocols/quick.yaml")
    full = load_protocol(repo_root / "configs/protocols/oldenburg2024.yaml")
    assert quick.optimizer.total_ensembles == 3 < full.optimizer.total_ensembles
    assert quick.stimulation.repetitions < full.stimulation.repetitions
    assert len(quick.power_test.powers_mw) < len(full.power_test.powers_mw)
    assert quick.ppsf == full.ppsf is False


def test_ppsf_fwhm_of_a_gaussian_profile():
    from rig.runner.stages.ppsf import AXIAL_UM, RADIAL_UM, fwhm
    rng = np.random.default_rng(4)
    for x, width in ((RADIAL_UM, 15.4), (AXIAL_UM, 37.0)):     # seed 002 PPSF: 2 × 7.7 µm, 2 × 18.5 µm
        sigma = width / (2 * np.sqrt(2 * np.log(2)))
        y = 0.8 * np.exp(-(x - 1.0) ** 2 / (2 * sigma ** 2)) + 0.02 + rng.normal(0, 0.01, x.size)
        assert fwhm(x, y) == pytest.approx(width, rel=0.1)
    assert np.isnan(fwhm(RADIAL_UM, np.zeros(RADIAL_UM.size)))             # a flat profile has no width


def test_calibration_refit_drops_mislocated_spots():
    from rig.runner.stages.calibration import robust_fit
    from sims.mapping import make_mapping

    mapping = make_mapping((400.0, 400.0), 4.0, seed=2)
    rng = np.random.default_rng(0)
    observed = np.column_stack([rng.uniform(60, 340, 80), rng.uniform(60, 340, 80), rng.uniform(-60, 60, 80)])
    commanded = mapping.to_slm(observed)
    bad = np.array([3, 17, 42, 77])
    observed_noisy = observed + rng.normal(0, 0.2, observed.shape)
    observed_noisy[bad, :2] += rng.choice([-1, 1], (4, 2)) * rng.uniform(12, 25, (4, 2))   # spots on a ghost
    cal, used = robust_fit(commanded, observed_noisy)
    assert set(np.flatnonzero(~used)) == set(bad)
    probe = np.column_stack([rng.uniform(60, 340, 200), rng.uniform(60, 340, 200), rng.uniform(-60, 60, 200)])
    err = np.linalg.norm(cal.apply(probe) - mapping.to_slm(probe), axis=1)
    assert np.sqrt((err ** 2).mean()) < 0.5
    # a plain fit through the same points is pulled by the mislocated ones
    import holography
    plain = holography.Calibration.fit(commanded, observed_noisy, degree=3, imaging_units="x_um, y_um, z_um")
    assert np.sqrt((np.linalg.norm(plain.apply(probe) - mapping.to_slm(probe), axis=1) ** 2).mean()) > 1.0
