"""Stage ``targets``: find red nuclei (seed 002: "Cells were targeted for stimulation based on the nuclear-localized
mRuby signal") on each plane's red-channel image, and give each a somatic footprint for online extraction.

Detection: Gaussian-smoothed image (σ = 1 px), local maxima within ±2 px that rise more than
``threshold_mad`` robust noise units (1.4826·MAD) above the median background, away from the frame edge;
centroid refined to sub-pixel by the intensity-weighted centre of a 5 × 5 window. Footprint: a disk of a
typical L2/3 somatic radius (6 µm) around the nucleus, since GCaMP6s fills the soma.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..context import Cells

#: Typical L2/3 pyramidal soma radius, µm (somata ≈ 12 µm across); GCaMP6s fills the soma, so footprints are disks.
SOMA_RADIUS_UM = 6.0
#: A nucleus must rise this many robust noise units above the background.
THRESHOLD_MAD = 12.0
#: Nuclei closer than this to the frame edge are skipped (their somata leave the frame), pixels.
EDGE_PX = 4


def detect_nuclei(red: np.ndarray, threshold_mad: float = THRESHOLD_MAD) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) sub-pixel centres and peak brightness above background of the red nuclei in one image."""
    red = np.asarray(red, np.float32)
    smooth = ndimage.gaussian_filter(red, 1.0)
    background = float(np.median(smooth))
    noise = 1.4826 * float(np.median(np.abs(red - np.median(red)))) or 1.0
    peak = (smooth == ndimage.maximum_filter(smooth, size=5)) & (smooth > background + threshold_mad * noise)
    rows, cols = np.nonzero(peak)
    h, w = red.shape
    keep = (rows >= EDGE_PX) & (rows < h - EDGE_PX) & (cols >= EDGE_PX) & (cols < w - EDGE_PX)
    rows, cols = rows[keep], cols[keep]
    offsets = np.arange(-2, 3)
    win = smooth[rows[:, None, None] + offsets[None, :, None], cols[:, None, None] + offsets[None, None, :]]
    win = np.clip(win - background, 0.0, None)
    total = win.sum(axis=(1, 2)) + 1e-12
    r = rows + (win.sum(axis=2) * offsets).sum(axis=1) / total
    c = cols + (win.sum(axis=1) * offsets).sum(axis=1) / total
    order = np.lexsort((c, r))
    return np.column_stack([r, c])[order], (smooth[rows, cols] - background)[order]


def disk_mask(center_rc, radius_px: float, shape) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices and unit weights of a disk in a frame of ``shape``."""
    r0, c0 = center_rc
    rr, cc = np.mgrid[int(np.floor(r0 - radius_px)):int(np.ceil(r0 + radius_px)) + 1,
                      int(np.floor(c0 - radius_px)):int(np.ceil(c0 + radius_px)) + 1]
    inside = ((rr - r0) ** 2 + (cc - c0) ** 2 <= radius_px ** 2) & (rr >= 0) & (rr < shape[0]) & (cc >= 0) \
        & (cc < shape[1])
    pixels = (rr[inside] * shape[1] + cc[inside]).astype(np.int32)
    return pixels, np.ones(len(pixels), np.float32)


def find_cells(images: list, planes_z_um, um_per_px) -> tuple[Cells, np.ndarray]:
    """Cells of every plane from its red image; also returns each cell's (row, col) pixel centre."""
    radius_px = SOMA_RADIUS_UM / float(np.mean(um_per_px))
    positions, planes, reds, masks, pixel_rc = [], [], [], [], []
    for k, image in enumerate(images):
        centres, brightness = detect_nuclei(image)
        for (r, c), b in zip(centres, brightness):
            positions.append((c * um_per_px[1], r * um_per_px[0], float(planes_z_um[k])))
            planes.append(k)
            reds.append(b)
            masks.append(disk_mask((r, c), radius_px, image.shape))
            pixel_rc.append((r, c))
    n = len(positions)
    cells = Cells(ids=np.arange(n, dtype=np.int64), position_um=np.asarray(positions, float).reshape(n, 3),
                  plane=np.asarray(planes, int), red=np.asarray(reds, np.float32), masks=masks)
    return cells, np.asarray(pixel_rc, float).reshape(n, 2)


def run(ctx) -> None:
    """Detect the cells, write them to the session and mark stage 'targets'."""
    imaging = ctx.rig.imaging
    if not imaging.red_channel:
        from ..errors import RunnerError
        raise RunnerError("finding targets needs the red (mRuby nuclei) channel; set imaging.red_channel: true")
    images = [ctx.hw.imaging.red_image(k) for k in range(len(imaging.planes_z_um))]
    cells, pixel_rc = find_cells(images, imaging.planes_z_um, imaging.um_per_px)
    if len(cells) < ctx.rig.slm.min_targets:
        from ..errors import RunnerError
        raise RunnerError(f"only {len(cells)} red nuclei found; check the red channel and the field of view")
    ctx.writer.write_cells(cells.ids, cells.position_um, cells.plane, pixel_rc=pixel_rc, red=cells.red,
                           masks=cells.masks, t_s=ctx.acq.now())
    ctx.cells = cells
    ctx.progress.message(f"[targets] {len(cells)} red nuclei on {len(images)} planes")
