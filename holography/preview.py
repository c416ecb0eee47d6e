"""A PNG preview of a hologram: the mask, and the predicted intensity on each target plane with the targets."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from holography.geometry import SLMGeometry
from holography.propagation import intensity_plane_fft

_MAX_PLANES = 4


def _window(intensity, x_um, y_um, lo, hi, max_px: int = 320):
    """Crop a plane to [lo, hi] µm in x and y and max-pool it to at most ``max_px`` per side (keeps thin peaks)."""
    cols = np.flatnonzero((x_um >= lo[0]) & (x_um <= hi[0]))
    rows = np.flatnonzero((y_um >= lo[1]) & (y_um <= hi[1]))
    crop = intensity[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    fy, fx = max(1, -(-crop.shape[0] // max_px)), max(1, -(-crop.shape[1] // max_px))
    ny, nx = crop.shape[0] // fy, crop.shape[1] // fx
    pooled = crop[:ny * fy, :nx * fx].reshape(ny, fy, nx, fx).max(axis=(1, 3))
    return pooled, (x_um[cols[0]], x_um[cols[0] + nx * fx - 1], y_um[rows[0]], y_um[rows[0] + ny * fy - 1])


def render_preview(hologram, geometry: SLMGeometry, path, *, margin_um: float = 20.0) -> Path:
    """Write a PNG: the phase mask (left) and, for up to four target planes, the intensity around the targets
    (log scale, whole-plane FFT of the discrete sum, max-pooled so the ~1 µm spots stay visible)."""
    import matplotlib  # noqa: PLC0415 - plotting only when a preview is asked for

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    pts = hologram.targets_um
    planes = np.unique(pts[:, 2])[:_MAX_PLANES]
    half = geometry.reachable_half_field_um
    lo = np.maximum(pts[:, :2].min(axis=0) - margin_um, -half)
    hi = np.minimum(pts[:, :2].max(axis=0) + margin_um, half)
    fig, axes = plt.subplots(1, 1 + len(planes), figsize=(4.2 * (1 + len(planes)), 4.2), squeeze=False)
    axes = axes[0]
    step = max(1, max(geometry.shape) // 480)  # show at most ~480 pixels per side
    im = axes[0].imshow(hologram.phase[::step, ::step], cmap="twilight", vmin=0, vmax=2 * np.pi)
    axes[0].set_title(f"mask {geometry.shape[0]}×{geometry.shape[1]} (rad)")
    axes[0].set_xticks([]), axes[0].set_yticks([])
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    for ax, z in zip(axes[1:], planes):
        plane, extent = _window(*intensity_plane_fft(hologram.phase, geometry, z), lo, hi)
        ax.imshow(np.log10(plane + 1e-6), origin="lower", extent=extent, cmap="magma", vmin=-4,
                  vmax=np.log10(max(plane.max(), 1e-5)))
        on = np.isclose(pts[:, 2], z)
        ax.scatter(pts[on, 0], pts[on, 1], s=120, facecolors="none", edgecolors="cyan", linewidths=0.8)
        ax.set_title(f"z = {z:g} µm: {on.sum()} target(s), log10 intensity")
        ax.set_xlabel("x (µm)"), ax.set_ylabel("y (µm)")
    fig.suptitle(f"{hologram.method.upper()}, {hologram.n_targets} targets: efficiency {hologram.efficiency:.3f}, "
                 f"uniformity {hologram.uniformity:.3f}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
