"""Stage ``calibration``: seed 002's automated multiplexed 3D calibration of the imaging ↔ SLM mapping.

Multi-spot holograms (one per depth, a jittered grid of spots) are computed at *nominal* SLM positions (imaging
coordinates shifted to the optical axis), shown one by one while the imaging system looks at a thin fluorescent
slide stepped through several depths around each mask's nominal depth. Each spot is found near its nominal
position: its lateral position is the intensity-weighted centroid at the depth where it is brightest, its depth
the vertex of a parabola through log-brightness against slide depth (a Gaussian axial profile). A degree-3 3D
polynomial (:class:`holography.Calibration`) is fitted to the (commanded SLM, observed imaging) pairs, and its
residuals are stored with it.

Without a slide (a real rig), the rig profile's ``calibration_file`` is loaded and used as is.
"""
from __future__ import annotations

import numpy as np

import holography

from ..errors import RunnerError
from ..power import apply_power, laser_shares, plan_power

#: SLM depths of the calibration masks relative to the planes' span, µm (seed 002 images several depths).
DEPTH_MARGIN_UM = 30.0
N_DEPTHS = 5
#: Spots per mask as a grid (rows × cols) over the central part of the FOV.
GRID = (4, 4)
#: Slide depths imaged around each mask's nominal depth, µm.
SLIDE_OFFSETS_UM = np.arange(-18.0, 18.1, 6.0)
#: Power requested per calibration spot, mW (bright enough on the slide, far below the per-target limit).
SPOT_POWER_MW = 50.0
#: Half-width of the window searched around a spot's nominal position, µm.
SEARCH_UM = 16.0


def nominal_slm(ctx, imaging_xyz) -> np.ndarray:
    """The uncalibrated guess: imaging coordinates moved so the FOV centre is on the optical axis."""
    h, w = ctx.rig.imaging.fov_um
    p = np.asarray(imaging_xyz, float).reshape(-1, 3)
    return p - np.array([w / 2.0, h / 2.0, 0.0])


def spot_grid(ctx, depth_index: int, rng: np.random.Generator) -> np.ndarray:
    """Nominal imaging positions (x, y, z µm) of one mask's spots: a jittered grid over 15–85 % of the FOV."""
    h, w = ctx.rig.imaging.fov_um
    z_lo, z_hi = min(ctx.rig.imaging.planes_z_um), max(ctx.rig.imaging.planes_z_um)
    depths = np.linspace(z_lo - DEPTH_MARGIN_UM, z_hi + DEPTH_MARGIN_UM, N_DEPTHS)
    gy, gx = np.meshgrid(np.linspace(0.15, 0.85, GRID[0]), np.linspace(0.15, 0.85, GRID[1]), indexing="ij")
    jitter = rng.uniform(-0.04, 0.04, (2,) + gy.shape)
    x = (gx + jitter[0]).ravel() * w
    y = (gy + jitter[1]).ravel() * h
    return np.column_stack([x, y, np.full(x.size, depths[depth_index])])


def locate(images: np.ndarray, slide_z: np.ndarray, nominal_xyz: np.ndarray, um_per_px) -> np.ndarray:
    """Observed imaging (x, y, z) µm of each spot from a stack of slide images (depth × rows × cols)."""
    out = np.full((len(nominal_xyz), 3), np.nan)
    rad_r, rad_c = int(SEARCH_UM / um_per_px[0]), int(SEARCH_UM / um_per_px[1])
    background = np.median(images, axis=(1, 2))
    for i, (x, y, _z) in enumerate(nominal_xyz):
        r0, c0 = int(round(y / um_per_px[0])), int(round(x / um_per_px[1]))
        win = images[:, r0 - rad_r:r0 + rad_r + 1, c0 - rad_c:c0 + rad_c + 1] - background[:, None, None]
        win = np.clip(win, 0.0, None)
        peak = win.reshape(len(win), -1).max(axis=1)
        k = int(np.argmax(peak))
        if peak[k] <= 0:
            continue
        if 0 < k < len(peak) - 1 and np.all(peak[k - 1:k + 2] > 0):
            a, b, c = np.log(peak[k - 1:k + 2])
            denom = a - 2 * b + c
            dz = 0.5 * (a - c) / denom if denom < 0 else 0.0
            z = slide_z[k] + float(np.clip(dz, -1, 1)) * (slide_z[1] - slide_z[0])
        else:
            z = slide_z[k]
        best = win[k]
        rr, cc = np.unravel_index(np.argmax(best), best.shape)
        sub = best[max(rr - 3, 0):rr + 4, max(cc - 3, 0):cc + 4]
        sub = np.clip(sub - 0.2 * best.max(), 0.0, None)
        ys, xs = np.mgrid[max(rr - 3, 0):max(rr - 3, 0) + sub.shape[0], max(cc - 3, 0):max(cc - 3, 0) + sub.shape[1]]
        total = sub.sum()
        row = r0 - rad_r + (ys * sub).sum() / total
        col = c0 - rad_c + (xs * sub).sum() / total
        out[i] = (col * um_per_px[1], row * um_per_px[0], z)
    return out


def _image_slide(ctx, mask_index: int, n_spots: int, hologram, nominal_z: float) -> tuple[np.ndarray, np.ndarray]:
    """Show one mask and image the slide at each offset depth while the laser fires."""
    acq, hw = ctx.acq, ctx.hw
    requests = np.full(n_spots, SPOT_POWER_MW)
    plan = plan_power(ctx, hologram, requests)
    ctx.slm.show(mask_index)
    slide_z = nominal_z + SLIDE_OFFSETS_UM
    images = []
    period = 1.0 / (ctx.volume_rate_hz * len(ctx.rig.imaging.planes_z_um))
    for z in slide_z:
        hw.slide(float(z))
        apply_power(ctx, laser_shares(plan.laser_power_mw, requests))
        # a train of 5 ms pulses covering more than one frame period, so the next frame sees the spots
        n_pulses = int(np.ceil(1.5 * period / 0.01)) + 1
        hw.laser.pulse(n_pulses, 0.005, 100.0)
        frame = acq.next_frame(timeout_s=1.0)
        hw.laser.off()
        if frame is None:
            raise RunnerError("no frame arrived while imaging the calibration slide")
        images.append(np.asarray(frame.image, np.float32))
    return np.stack(images), slide_z


def run(ctx) -> None:
    """Calibrate on the slide (or load the rig's saved calibration), write it and mark stage 'calibration'."""
    if ctx.hw.slide is None:
        path = ctx.rig.calibration_file
        if path is None:
            raise RunnerError("this rig has no calibration slide mode: give the rig profile a calibration_file "
                              "(a saved imaging↔SLM calibration)")
        try:
            cal = holography.Calibration.load(path)
        except holography.HologramError as err:
            raise RunnerError(str(err)) from None
        ctx.calibration = cal
        ctx.writer.write_calibration(cal.to_dict(), np.zeros(0), t_s=ctx.acq.now())
        ctx.progress.message(f"[calibration] loaded {path}")
        return
    rng = np.random.default_rng(ctx.stage_seed("calibration"))
    spots = [spot_grid(ctx, d, rng) for d in range(N_DEPTHS)]
    holos = []
    for d, pts in enumerate(spots):
        try:
            holos.append(holography.hologram_for_powers(
                nominal_slm(ctx, pts), np.full(len(pts), SPOT_POWER_MW), ctx.geometry, iterations=10,
                seed=ctx.stage_seed("calibration", d)))
        except holography.HologramError as err:
            raise RunnerError(f"calibration mask {d}: {err}") from None
    ctx.slm.load(np.stack([h.phase for h in holos]), session_id="calibration")
    commanded, observed = [], []
    um_per_px = ctx.rig.imaging.um_per_px
    try:
        for d, (pts, hol) in enumerate(zip(spots, holos)):
            images, slide_z = _image_slide(ctx, d, len(pts), hol, float(pts[0, 2]))
            commanded.append(nominal_slm(ctx, pts))
            observed.append(locate(images, slide_z, pts, um_per_px))
    finally:
        ctx.hw.laser.off()
        ctx.hw.slide(None)
    commanded, observed = np.concatenate(commanded), np.concatenate(observed)
    found = np.all(np.isfinite(observed), axis=1)
    cal, used = robust_fit(commanded[found], observed[found])
    residual = np.linalg.norm(cal.apply(observed[found]) - commanded[found], axis=1)
    ctx.calibration = cal
    ctx.writer.write_calibration(cal.to_dict(), residual, t_s=ctx.acq.now())
    ctx.progress.message(f"[calibration] {found.sum()} of {len(found)} spots found, {int((~used).sum())} rejected as "
                         f"mislocated, fit RMS {cal.residuals['rms_um']:.2f} µm")


#: A spot whose residual exceeds this many robust s.d. (1.4826 × median absolute residual) is mislocated…
OUTLIER_SD = 4.0
#: …unless its residual is below this, µm (a fit that is already good rejects nothing).
OUTLIER_FLOOR_UM = 1.5


def robust_fit(commanded: np.ndarray, observed: np.ndarray, max_rounds: int = 3):
    """Degree-3 fit of (commanded SLM, observed imaging) pairs, refitted without mislocated spots.

    A spot located on a neighbour's ghost or on a noise blob lands microns away from where the others say it
    should be; one such point drags a cubic polynomial by several microns over a whole corner of the field. Each
    round drops the points whose residual is far outside the rest (:data:`OUTLIER_SD`, :data:`OUTLIER_FLOOR_UM`)
    and refits, while enough points remain for the cubic. Returns the calibration and which points it used.
    """
    used = np.ones(len(commanded), bool)
    for _ in range(max_rounds + 1):
        try:
            cal = holography.Calibration.fit(commanded[used], observed[used], degree=3,
                                             imaging_units="x_um, y_um, z_um")
        except holography.HologramError as err:
            raise RunnerError(f"calibration failed: {err}") from None
        residual = np.linalg.norm(cal.apply(observed) - commanded, axis=1)
        limit = max(OUTLIER_SD * 1.4826 * float(np.median(residual[used])), OUTLIER_FLOOR_UM)
        keep = residual <= limit
        if np.array_equal(keep, used) or keep.sum() < 40:
            break
        used = keep
    return cal, used
