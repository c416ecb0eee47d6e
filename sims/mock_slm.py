"""A simulated SLM: keeps masks, shows one by index, and says where the light of the shown mask goes.

It implements the rig's ``SLM`` protocol (``shape``, ``bit_depth``, ``frame_period_s``, ``load_masks``,
``show``, ``close``). What makes it a microscope part rather than a stub is :meth:`MockSLM.spots`: the shown mask
is propagated with the holography package's model (:func:`holography.intensity_plane_fft` over a z-stack, then
:func:`holography.intensity_at_points` at each peak) to find the spots it really makes, in SLM coordinates,
with the fraction of a perfect single spot's intensity each gets. The true diffraction-efficiency envelope
(:func:`holography.diffraction_efficiency` with this rig's pixel fill and defocus loss) and the hidden
imaging ↔ SLM mapping (:mod:`sims.mapping`) then give each spot's power and position in the tissue. Mistargeting
(an uncalibrated mapping), weak holograms and too little laser power therefore happen here as on a rig.

Spot finding uses the central ``aperture_fraction`` of the SLM (a lower-NA copy of the same hologram: the same
spot positions and intensity fractions, coarser spots), so a mask is analysed in a fraction of a second; results
are cached per mask. With ``prefetch`` (the default) a background thread analyses the loaded masks in index order
as soon as they arrive, as a real SLM's optics need no time to "compute" where light goes: the session does not
stall at each mask's first pulse. The spots of a mask are the same whichever thread finds them.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from scipy import ndimage

from .errors import SimError
from .mapping import HiddenMapping


@dataclass(frozen=True)
class Spots:
    """Spots of one mask: SLM-space positions (K × 3, µm) and intensity fractions of a perfect single spot."""

    slm_xyz_um: np.ndarray
    fraction: np.ndarray


def _holography():
    try:
        import holography
    except ImportError as err:  # pragma: no cover - holography is part of this project
        raise SimError(f"the mock SLM needs the holography package ({err})") from None
    return holography


class MockSLM:
    """Simulated phase SLM with the optics of a rig profile's ``slm`` section.

    Parameters
    ----------
    shape, pitch_um, wavelength_um, focal_length_um, pixel_fill_fraction, defocus_sigma_um, bit_depth :
        as in the rig profile (see :class:`holography.SLMGeometry`).
    mapping : the hidden imaging ↔ SLM mapping.
    z_range_um : SLM-space depths searched for spots (min, max).
    clock : callable returning the current time, s.
    frame_period_s : refresh period (Meadowlark HSP1920 ≈ 1/400 s) plus ``settle_s`` of liquid-crystal settling.
    """

    def __init__(self, shape=(1152, 1920), pitch_um=9.2, wavelength_um=1.04, focal_length_um=10000.0,
                 pixel_fill_fraction=1.0, defocus_sigma_um=300.0, bit_depth=8,
                 mapping: Optional[HiddenMapping] = None, z_range_um=(-60.0, 60.0),
                 clock: Callable[[], float] = lambda: 0.0, frame_period_s: float = 1.0 / 400, settle_s: float = 0.003,
                 aperture_fraction: float = 0.5, z_step_um: float = 3.0, prefetch: bool = True):
        holo = _holography()
        self.geometry = holo.SLMGeometry(shape=tuple(shape), pitch_um=pitch_um, wavelength_um=wavelength_um,
                                         focal_length_um=focal_length_um, pixel_fill_fraction=pixel_fill_fraction,
                                         defocus_sigma_um=defocus_sigma_um, bit_depth=bit_depth)
        self.shape = self.geometry.shape
        self.bit_depth = int(bit_depth)
        self.mapping = mapping
        self.z_range_um = (float(z_range_um[0]), float(z_range_um[1]))
        self._clock = clock
        self._frame_period_s = float(frame_period_s)
        self.settle_s = float(settle_s)
        if not 0.05 <= aperture_fraction <= 1.0:
            raise SimError(f"aperture_fraction must be in [0.05, 1], got {aperture_fraction}")
        self.aperture_fraction = float(aperture_fraction)
        self.z_step_um = float(z_step_um)
        self.masks: Optional[np.ndarray] = None
        self.current: Optional[int] = None
        self.shown: list[tuple[int, float]] = []
        self._phases: dict[int, np.ndarray] = {}
        #: spots of the masks loaded now, per (mask index, min_fraction): a Future each, set by whichever thread
        #: claims it first
        self._spots: dict[tuple[int, float], Future] = {}
        self._lock = threading.Lock()
        self.prefetch = bool(prefetch)
        self.closed = False

    # ------------------------------------------------------------------------------------- SLM protocol
    @property
    def frame_period_s(self) -> float:
        return self._frame_period_s

    def load_masks(self, levels: np.ndarray) -> None:
        """Store masks of device levels, shape (n, rows, cols), uint8 (8-bit) or uint16 (16-bit)."""
        arr = np.asarray(levels)
        if arr.ndim == 2:
            arr = arr[None]
        want = np.uint8 if self.bit_depth == 8 else np.uint16
        if arr.ndim != 3 or arr.shape[1:] != self.shape or arr.dtype != want:
            raise SimError(f"masks must be an array (n, {self.shape[0]}, {self.shape[1]}) of {np.dtype(want).name}, "
                           f"got {arr.shape} {arr.dtype}")
        with self._lock:
            self.masks = arr
            self._phases = {}
            self._spots = {}          # a new dict: a prefetch of the old masks cannot write into it
            self.current = None
        if self.prefetch and len(arr):
            threading.Thread(target=self._prefetch, args=(arr, self._spots), name="mock-slm-spots",
                             daemon=True).start()

    def _prefetch(self, masks: np.ndarray, cache: dict) -> None:
        for index in range(len(masks)):
            if cache is not self._spots or self.closed:    # new masks loaded, or closed: stop
                return
            try:
                self._spots_of(masks, cache, index)
            except Exception:  # noqa: BLE001 - kept in the Future; spots() raises it to its caller
                pass

    def load_phases(self, phases_rad) -> None:
        """Convenience: quantise phase masks (radians) to device levels with a linear LUT and load them."""
        ph = np.mod(np.asarray(phases_rad, dtype=np.float64), 2 * np.pi)
        if ph.ndim == 2:
            ph = ph[None]
        levels = 2 ** self.bit_depth
        q = np.round(ph / (2 * np.pi) * levels).astype(np.int64) % levels
        self.load_masks(q.astype(np.uint8 if self.bit_depth == 8 else np.uint16))

    def show(self, index: int) -> float:
        """Show mask ``index``; returns the time its write completed (one refresh after the call)."""
        if self.closed:
            raise SimError("the SLM is closed")
        if self.masks is None or not 0 <= int(index) < len(self.masks):
            n = 0 if self.masks is None else len(self.masks)
            raise SimError(f"mask index {index} out of range: {n} masks loaded")
        self.current = int(index)
        done = self._clock() + self._frame_period_s
        self.shown.append((self.current, done))
        return done

    def close(self) -> None:
        self.closed = True

    # ---------------------------------------------------------------------------------------- optics
    def phase(self, index: Optional[int] = None) -> np.ndarray:
        """Phase (rad, float32) of a loaded mask (default: the one shown)."""
        index = self.current if index is None else int(index)
        if index is None or self.masks is None:
            raise SimError("no mask is shown")
        if index not in self._phases:
            self._phases[index] = self._phase_of(self.masks, index)
        return self._phases[index]

    def _phase_of(self, masks: np.ndarray, index: int) -> np.ndarray:
        return masks[index].astype(np.float32) * np.float32(2 * np.pi / 2 ** self.bit_depth)

    def _spots_of(self, masks: np.ndarray, cache: dict, index: int, min_fraction: float = 2e-3) -> Spots:
        """Spots of ``masks[index]``, found once per ``cache`` (a claimed Future: another thread waits for it)."""
        with self._lock:
            future = cache.get((index, min_fraction))
            mine = future is None
            if mine:
                future = cache[(index, min_fraction)] = Future()
        if mine:
            try:
                future.set_result(find_spots(self._phase_of(masks, index), self.geometry, self.z_range_um,
                                             self.aperture_fraction, self.z_step_um, min_fraction))
            except BaseException as err:  # noqa: BLE001 - handed to every caller of this mask
                future.set_exception(err)
        return future.result()

    def spots(self, index: Optional[int] = None, min_fraction: float = 2e-3) -> Spots:
        """The spots the mask makes: SLM-space (x, y, z) µm and intensity fraction (cached per mask)."""
        index = self.current if index is None else int(index)
        if index is None:
            return Spots(np.zeros((0, 3)), np.zeros(0))
        if self.masks is None or not 0 <= index < len(self.masks):
            raise SimError(f"mask index {index} out of range")
        with self._lock:
            masks, cache = self.masks, self._spots
        return self._spots_of(masks, cache, index, float(min_fraction))

    def delivered(self, total_power_mw: float, index: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        """Spots of the shown mask in imaging coordinates (K × 3 µm) and their power (mW) for a laser power."""
        if total_power_mw < 0:
            raise SimError(f"laser power must be ≥ 0, got {total_power_mw}")
        sp = self.spots(index)
        if len(sp.fraction) == 0:
            return np.zeros((0, 3)), np.zeros(0)
        eff = _holography().diffraction_efficiency(sp.slm_xyz_um, self.geometry)
        power = total_power_mw * sp.fraction * eff
        xyz = sp.slm_xyz_um if self.mapping is None else self.mapping.to_imaging(sp.slm_xyz_um)
        return xyz, power


def _crop(phase: np.ndarray, fraction: float) -> np.ndarray:
    rows, cols = phase.shape
    r, c = max(8, int(rows * fraction)), max(8, int(cols * fraction))
    r0, c0 = (rows - r) // 2, (cols - c) // 2
    return phase[r0:r0 + r, c0:c0 + c]


def _parabolic(values: np.ndarray, i: int) -> float:
    """Sub-sample offset of a peak at index ``i`` from a parabola through its neighbours."""
    if 0 < i < len(values) - 1:
        a, b, c = values[i - 1], values[i], values[i + 1]
        denom = a - 2 * b + c
        if denom < 0:
            return float(0.5 * (a - c) / denom)
    return 0.0


def _lateral_candidates(sub, sub_geom, zs, min_fraction, merge_um):
    """(x, y) µm of bright columns from a z-stack of FFT planes (holography's plane propagation)."""
    holo = _holography()
    stack, fx, fy = [], None, None
    for z in zs:
        inten, fx, fy = holo.propagation.intensity_plane_fft(sub, sub_geom, float(z), pad=1)
        stack.append(inten.astype(np.float32))
    vol = np.stack(stack)
    top = vol.max(axis=0)                                   # brightest over depth, per lateral position
    peak = ndimage.maximum_filter(top, size=3, mode="wrap")
    cand = np.argwhere((top == peak) & (top >= max(min_fraction, 0.05 * float(top.max()))))
    cand = cand[np.argsort(-top[cand[:, 0], cand[:, 1]])]
    out: list[tuple[float, float]] = []
    for r, c in cand:
        x = fx[c] + _parabolic(top[r, :], c) * (fx[1] - fx[0])
        y = fy[r] + _parabolic(top[:, c], r) * (fy[1] - fy[0])
        if all(np.hypot(x - ox, y - oy) > merge_um for ox, oy in out):
            out.append((x, y))
    return np.array(out).reshape(-1, 2)


def find_spots(phase: np.ndarray, geometry, z_range_um, aperture_fraction: float = 0.5, z_step_um: float = 3.0,
               min_fraction: float = 2e-3) -> Spots:
    """Locate the spots of a phase mask in 3D (SLM coordinates) with the holography package's propagation.

    1. Lateral: FFT planes (:func:`holography.propagation.intensity_plane_fft`) of the central quarter of the
       aperture over a z-stack; local maxima of the brightest-over-depth map are candidate spot columns.
    2. Axial: along each column, :func:`holography.intensity_at_points` on the central ``aperture_fraction``
       (higher NA) every ``z_step_um``; peaks, refined by a parabola, at least 15 µm from a brighter one.
    Each spot's fraction of a perfect single spot's intensity is evaluated at its refined position.
    """
    holo = _holography()
    phase = np.asarray(phase, dtype=np.float32)

    def geom(sub):
        return holo.SLMGeometry(shape=sub.shape, pitch_um=geometry.pitch_um, wavelength_um=geometry.wavelength_um,
                                focal_length_um=geometry.focal_length_um)

    coarse = _crop(phase, aperture_fraction / 2.0)
    coarse_zs = np.arange(z_range_um[0], z_range_um[1] + 1e-9, 4.0 * z_step_um)
    xy = _lateral_candidates(coarse, geom(coarse), coarse_zs, min_fraction / 2.0, merge_um=4.0)
    if len(xy) == 0:
        return Spots(np.zeros((0, 3)), np.zeros(0))
    fine = _crop(phase, aperture_fraction)
    fine_geom = geom(fine)
    zs = np.arange(z_range_um[0], z_range_um[1] + 1e-9, z_step_um)
    grid = np.column_stack([np.repeat(xy, len(zs), axis=0), np.tile(zs, len(xy))])
    prof = holo.intensity_at_points(fine, grid, fine_geom).reshape(len(xy), len(zs))
    pts = []
    for k in range(len(xy)):
        p = prof[k]
        peaks = [i for i in range(len(p)) if p[i] >= min_fraction and p[i] == p[max(i - 1, 0):i + 2].max()]
        kept: list[float] = []
        for i in sorted(peaks, key=lambda i: -p[i]):
            z = zs[i] + _parabolic(p, i) * z_step_um
            if all(abs(z - o) > 15.0 for o in kept):
                kept.append(z)
                pts.append((xy[k, 0], xy[k, 1], z))
    if not pts:
        return Spots(np.zeros((0, 3)), np.zeros(0))
    pts, _ = _refine(coarse, geom(coarse), np.array(pts), np.array([1.0, 1.5, 3.0]))
    pts, frac = _refine(fine, fine_geom, pts, np.array([0.4, 0.6, 1.5]))
    keep = frac >= max(min_fraction, 0.05 * float(frac.max()))
    pts, frac = pts[keep], frac[keep]
    order = np.argsort(-frac)
    chosen: list[int] = []
    for i in order:                  # the aperture's axial side lobes sit < 20 µm from their spot
        if all(np.hypot(*(pts[i, :2] - pts[j, :2])) > 4.0 or abs(pts[i, 2] - pts[j, 2]) > 20.0 for j in chosen):
            chosen.append(int(i))
    chosen.sort()
    return Spots(pts[chosen], frac[chosen])


def _refine(sub, sub_geom, pts: np.ndarray, steps: np.ndarray, iterations: int = 4):
    """Polish spot positions by parabolas through ±δ samples on each axis; returns (points, fractions)."""
    holo = _holography()
    eye = np.eye(3)
    for _ in range(iterations):
        probe = np.concatenate([pts[:, None, :], pts[:, None, :] - eye * steps, pts[:, None, :] + eye * steps], axis=1)
        val = holo.intensity_at_points(sub, probe.reshape(-1, 3), sub_geom).reshape(len(pts), 7)
        for ax in range(3):
            a, b, c = val[:, 1 + ax], val[:, 0], val[:, 4 + ax]
            denom = a - 2 * b + c
            # concave: parabola vertex; otherwise step towards the brighter neighbour
            shift = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), np.sign(c - a))
            pts[:, ax] += np.clip(shift, -1.0, 1.0) * steps[ax]
        steps = steps / 1.5
    return pts, holo.intensity_at_points(sub, pts, sub_geom)
