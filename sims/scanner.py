"""A simulated resonant-galvo two-photon scanner: calcium-imaging frames of the imaged cells, plane by plane.

Each plane's frame (default 512 × 512 px over 800 × 800 µm, planes in turn at ``volume_rate_hz`` volumes/s)::

    photons = drift(t) · (neuropil texture · (1 + ½·mean ΔF/F of the plane) + Σ_cells F0_i (1 + ΔF/F_i) · footprint_i)
    frame   = shift(photons, rigid motion) + √(resting photons) · N(0, 1) + stimulation artefact

rendered only where it changes: the static part is precomputed, cells add ``S @ (F0·ΔF/F)`` on their footprint
pixels (a sparse matrix), and shot noise comes from a pre-drawn pool of float32 Gaussians read at a random offset.
Footprints are GCaMP6s somata (cytosolic: a dimmer nucleus). Motion is an Ornstein–Uhlenbeck random walk with
occasional jumps, applied as an integer-pixel shift of the canvas. While the stimulation laser fires, the lines
scanned get bright edges (seed 002 gates the laser to the line-scan turnarounds). Frames carry counters and
timestamps; a set fraction can be dropped. The red channel shows mRuby3 nuclei (seed 002 targets them).

Calibration-slide mode (:meth:`MockScanner.set_slide`) images a thin fluorescent slide at a chosen depth instead:
the two-photon excitation spots of the shown mask, at their true (hidden-mapping) positions, while the laser fires.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from rig.hardware.frames import Frame  # the simulated scanner implements the rig's ImagingSource

from .activity import Activity
from .config import SimConfig
from .errors import SimError
from .population import Population

_MARGIN_PX = 24          # motion range the canvas allows, pixels
_EDGE_FRACTION = 0.08    # artefact occupies this fraction of columns at each line end
_FLYBACK_FRACTION = 0.1  # part of a frame period spent on flyback


class MockScanner:
    """Implements the rig's ``ImagingSource`` protocol (``next_frame``, ``red_image``, ``close``)."""

    def __init__(self, population: Population, activity: Activity, config: SimConfig, clock: Callable[[], float],
                 seed: int, pixels=(512, 512), volume_rate_hz: float = 6.0, laser=None, slm=None,
                 sleep_until: Optional[Callable[[float], float]] = None):
        self.pop, self.activity, self.config = population, activity, config
        self.pixels = (int(pixels[0]), int(pixels[1]))
        if min(self.pixels) < 16:
            raise SimError(f"frames must be at least 16 × 16 pixels, got {pixels}")
        self.um_per_px = (population.fov_um[0] / self.pixels[0], population.fov_um[1] / self.pixels[1])
        self.n_planes = len(population.planes_z_um)
        self.plane_period_s = 1.0 / (volume_rate_hz * self.n_planes)
        self._clock = clock
        self._sleep_until = sleep_until
        self.laser, self.slm = laser, slm
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), 9]))
        self.counter = 0
        self.slide_z_um: Optional[float] = None
        self.closed = False
        h, w = self.pixels
        self.canvas_shape = (h + 2 * _MARGIN_PX, w + 2 * _MARGIN_PX)
        self.brightness = config.baseline_photons * self.rng.lognormal(0.0, 0.3, population.n)
        self._planes = [self._build_plane(p) for p in range(self.n_planes)]
        size = self.canvas_shape[0] * self.canvas_shape[1]
        self._noise = self.rng.standard_normal(size + 65536, dtype=np.float32)
        self._shift = np.zeros(2)
        self._phase = self.rng.uniform(0, 2 * np.pi)

    # ------------------------------------------------------------------------------------------------ build
    def _footprints(self, cells: np.ndarray, radius_scale: float = 1.0, nucleus: float = 0.4):
        """Sparse (canvas pixels × cells) soma footprints, peak 1, with a nucleus dimmed to ``nucleus``."""
        rows, cols, vals = [], [], []
        cw = self.canvas_shape[1]
        for j, c in enumerate(cells):
            cy = self.pop.xyz_um[c, 1] / self.um_per_px[0] + _MARGIN_PX
            cx = self.pop.xyz_um[c, 0] / self.um_per_px[1] + _MARGIN_PX
            r_px = radius_scale * self.pop.soma_radius_um[c] / self.um_per_px[1]
            # seen at a depth offset from the plane, the soma's cross-section shrinks
            dz = self.pop.xyz_um[c, 2] - self.pop.planes_z_um[self.pop.plane[c]]
            r_px *= np.sqrt(max(1.0 - (dz / (self.pop.soma_radius_um[c] + 1e-9)) ** 2, 0.2))
            yy, xx = np.mgrid[int(cy - r_px - 1):int(cy + r_px + 2), int(cx - r_px - 1):int(cx + r_px + 2)]
            d = np.hypot(yy - cy, xx - cx) / max(r_px, 0.5)
            wgt = np.clip(1.5 - d, 0.0, 1.0) * np.where(d < 0.55, nucleus, 1.0)
            keep = (wgt > 0) & (yy >= 0) & (yy < self.canvas_shape[0]) & (xx >= 0) & (xx < cw)
            rows.append((yy[keep] * cw + xx[keep]).ravel())
            cols.append(np.full(keep.sum(), j))
            vals.append(wgt[keep].ravel())
        n_pix = self.canvas_shape[0] * cw
        if not rows:
            return sp.csr_matrix((n_pix, 0))
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_pix, len(cells)))

    def _build_plane(self, p: int) -> dict:
        cells = np.flatnonzero(self.pop.plane == p)
        s_full = self._footprints(cells)
        pix = np.flatnonzero(np.diff(s_full.indptr))            # canvas pixels any footprint covers
        compact = s_full[pix].tocsr().astype(np.float32)        # rows: footprint pixels only
        texture = ndimage.gaussian_filter(self.rng.standard_normal(self.canvas_shape), 6.0)
        texture = 1.0 + 0.5 * texture / (texture.std() + 1e-12)
        neuropil = (self.config.neuropil_fraction * self.config.baseline_photons * np.clip(texture, 0.2, None)).astype(np.float32)
        rest = neuropil.ravel().copy()
        rest[pix] += compact @ self.brightness[cells].astype(np.float32)
        rest = rest.reshape(self.canvas_shape)
        return {"cells": cells, "pix": pix, "S": compact, "neuropil": neuropil, "rest": rest,
                "sd": np.sqrt(rest + 1.0).astype(np.float32), "f0": self.brightness[cells].astype(np.float32)}

    # ----------------------------------------------------------------------------------------------- render
    def _motion(self) -> tuple[int, int]:
        """Advance the rigid-motion walk by one frame; integer (dy, dx) pixels."""
        c = self.config
        self._shift += -self._shift / 200.0 + self.rng.normal(0.0, c.motion_step_px, 2)
        if self.rng.random() < c.motion_jump_rate_hz * self.plane_period_s:
            self._shift += self.rng.normal(0.0, c.motion_jump_px, 2)
        self._shift = np.clip(self._shift, -_MARGIN_PX + 1, _MARGIN_PX - 1)
        return int(round(self._shift[0])), int(round(self._shift[1]))

    @property
    def shift_px(self) -> tuple[int, int]:
        """Current rigid shift (dy, dx) of the image content, pixels (ground truth for motion correction)."""
        return int(round(self._shift[0])), int(round(self._shift[1]))

    def render(self, plane: int, t_s: float, shift=(0, 0)) -> np.ndarray:
        """Photon image (float32, rows × cols) of ``plane`` at ``t_s`` (advances the activity to ``t_s``)."""
        pl = self._planes[plane]
        self.activity.advance_to(t_s)
        dff = self.activity.dff()[pl["cells"]].astype(np.float32)
        drift = np.float32(1.0 + self.config.drift_fraction_per_hour * np.sin(2 * np.pi * t_s / 3600.0 + self._phase))
        canvas = pl["rest"] * drift
        if len(dff):
            flat = canvas.reshape(-1)
            flat[pl["pix"]] += (pl["S"] @ (pl["f0"] * dff)) * drift
            canvas += pl["neuropil"] * np.float32(0.5 * float(dff.mean()) * drift)
        if self.slide_z_um is not None:
            canvas = self._slide_canvas(t_s)
        h, w = self.pixels
        y0, x0 = _MARGIN_PX - shift[0], _MARGIN_PX - shift[1]
        view = canvas[y0:y0 + h, x0:x0 + w]
        start = int(self.rng.integers(0, 65536))
        noise = self._noise[start:start + self.canvas_shape[0] * self.canvas_shape[1]].reshape(self.canvas_shape)
        out = view + pl["sd"][y0:y0 + h, x0:x0 + w] * noise[:h, :w]
        self._artefact(out, t_s)
        return out

    def _artefact(self, image: np.ndarray, t_s: float) -> None:
        """Bright line ends on the lines scanned while a stimulation pulse was on."""
        if self.laser is None or not self.laser.trains or self.config.stim_artifact_photons <= 0:
            return
        line_s = self.plane_period_s * (1.0 - _FLYBACK_FRACTION) / self.pixels[0]
        edge = max(1, int(_EDGE_FRACTION * self.pixels[1]))
        for tr in self.laser.trains[-3:]:
            if tr.total_mw <= 0 or tr.end_s < t_s or tr.start_s > t_s + self.plane_period_s:
                continue
            for tp in tr.pulse_times_s:
                r0 = int(np.floor((tp - t_s) / line_s))
                r1 = int(np.ceil((tp + tr.pulse_s - t_s) / line_s))
                r0, r1 = max(r0, 0), min(r1, self.pixels[0])
                if r0 < r1:
                    image[r0:r1, :edge] += self.config.stim_artifact_photons
                    image[r0:r1, -edge:] += self.config.stim_artifact_photons

    # ------------------------------------------------------------------------------------- slide mode
    def set_slide(self, z_um: Optional[float]) -> None:
        """Image a thin fluorescent slide at depth ``z_um`` (imaging coordinates) instead of the tissue; None ends."""
        self.slide_z_um = None if z_um is None else float(z_um)

    def slide_image(self, z_um: float, total_power_mw: float) -> np.ndarray:
        """Noise-free two-photon image (float32, rows × cols) of the slide at ``z_um`` lit by the shown mask."""
        if self.slm is None:
            raise SimError("slide imaging needs the mock SLM")
        xyz, power = self.slm.delivered(total_power_mw)
        h, w = self.pixels
        img = np.full(self.pixels, 5.0, dtype=np.float32)
        yy = np.arange(h)[:, None] * self.um_per_px[0]
        xx = np.arange(w)[None, :] * self.um_per_px[1]
        c = self.config
        hw_r, hw_z = 0.6 * c.ppsf_radial_hwhm_um, 0.6 * c.ppsf_axial_hwhm_um   # optical PSF ≈ 0.6 × PPSF
        for (x, y, z), p in zip(xyz, power):
            axial = np.exp(-np.log(2) * ((z - z_um) / hw_z) ** 2)
            if axial < 1e-3:
                continue
            # two-photon: excitation ∝ intensity², so the spot image is the PSF squared
            img += np.float32(0.05 * (p * axial) ** 2) * np.exp(
                -2 * np.log(2) * (((yy - y) ** 2 + (xx - x) ** 2) / hw_r ** 2)).astype(np.float32)
        return img

    def _slide_canvas(self, t_s: float) -> np.ndarray:
        power = 0.0
        if self.laser is not None:
            for tr in self.laser.trains[-3:]:
                if tr.start_s <= t_s + self.plane_period_s and tr.end_s >= t_s:
                    power = tr.total_mw
        img = self.slide_image(self.slide_z_um, power) if power > 0 else np.full(self.pixels, 5.0, dtype=np.float32)
        return np.pad(img, _MARGIN_PX, mode="edge")

    # ------------------------------------------------------------------------------------ ImagingSource
    def _frame_time(self, counter: int) -> float:
        return counter * self.plane_period_s

    def next_frame(self, timeout_s: float = float("inf")):
        """The next functional frame (a ``Frame``), advancing the simulated clock to its time; None on timeout."""
        if self.closed:
            raise SimError("the scanner is closed")
        while True:
            t = self._frame_time(self.counter)
            now = float(self._clock())
            if t > now + timeout_s:
                if self._sleep_until is not None:
                    self._sleep_until(now + timeout_s)
                return None
            if self._sleep_until is not None:
                self._sleep_until(t)
            counter, plane = self.counter, self.counter % self.n_planes
            self.counter += 1
            shift = self._motion()
            image = self.render(plane, t, shift)
            if self.rng.random() < self.config.dropped_frame_rate:
                continue
            img16 = np.clip(image, -32768, 32767).astype(np.int16)
            return Frame(counter=counter, timestamp_s=t, received_s=float(self._clock()), plane=plane,
                                 channel=1, image=img16, z_um=float(self.pop.planes_z_um[plane]))

    def red_image(self, plane: int = 0) -> np.ndarray:
        """Mean red-channel (mRuby3 nuclei) image of ``plane``, float32 (rows × cols)."""
        if not 0 <= plane < self.n_planes:
            raise SimError(f"plane {plane} does not exist; there are {self.n_planes}")
        pl = self._planes[plane]
        s_nuc = self._footprints(pl["cells"], radius_scale=0.6, nucleus=1.0)
        red = 8.0 + s_nuc @ (40.0 * self.pop.mruby[pl["cells"]])
        red = red.reshape(self.canvas_shape)[_MARGIN_PX:-_MARGIN_PX, _MARGIN_PX:-_MARGIN_PX]
        rng = np.random.default_rng(np.random.SeedSequence([self.counter, plane, 11]))
        return (red + rng.normal(0.0, 1.0, red.shape) * np.sqrt(red / 100.0)).astype(np.float32)

    def close(self) -> None:
        self.closed = True
