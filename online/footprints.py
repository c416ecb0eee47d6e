"""Cell footprints and their neuropil annuli, held as one sparse matrix (2·cells × pixels).

Rows ``0 … n-1`` are the cells' normalised weights (each row sums to 1, so a row times a frame is the weighted
mean fluorescence of the cell); rows ``n … 2n-1`` are the neuropil annuli (uniform weights, also summing to 1).
The annulus of a cell is the up-to-``max_pixels`` pixels nearest to the cell's centre that lie at least
``inner_px`` away from every cell, i.e. an annulus "not containing another cell" of up to 350 pixels as in
seed 002 (Methods, "Offline analysis"), built like suite2p's (inner gap, nearest pixels first).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from .errors import OnlineError


def _annulus(centre: np.ndarray, allowed: np.ndarray, max_pixels: int, max_radius_px: float) -> np.ndarray:
    """Flat indices of the ``max_pixels`` allowed pixels nearest ``centre`` (y, x), within ``max_radius_px``."""
    rows, cols = allowed.shape
    r = int(np.ceil(max_radius_px))
    y0, y1 = max(0, int(centre[0]) - r), min(rows, int(centre[0]) + r + 1)
    x0, x1 = max(0, int(centre[1]) - r), min(cols, int(centre[1]) + r + 1)
    yy, xx = np.nonzero(allowed[y0:y1, x0:x1])
    yy, xx = yy + y0, xx + x0
    d2 = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2
    keep = d2 <= max_radius_px ** 2
    yy, xx, d2 = yy[keep], xx[keep], d2[keep]
    if d2.size > max_pixels:
        nearest = np.argpartition(d2, max_pixels - 1)[:max_pixels]
        yy, xx = yy[nearest], xx[nearest]
    return np.sort(yy * cols + xx)


class Footprints:
    """Cells' spatial weights and neuropil annuli on a ``shape`` (rows, cols) frame.

    Build with :meth:`from_masks` (a cells × rows × cols array of weights or booleans) or :meth:`from_suite2p`
    (suite2p's ``stat`` list of dicts with ``ypix``, ``xpix`` and optional ``lam``).
    """

    def __init__(self, cell_weights: sp.csr_matrix, shape: tuple[int, int], *, max_pixels: int = 350,
                 inner_px: float = 2.0, max_radius_px: float = 60.0):
        self.shape = (int(shape[0]), int(shape[1]))
        cells = sp.csr_matrix(cell_weights, dtype=np.float32)
        if cells.shape[1] != self.shape[0] * self.shape[1]:
            raise OnlineError(f"footprints cover {cells.shape[1]} pixels but frames have {self.shape} pixels")
        cells.data = np.abs(cells.data)
        cells.eliminate_zeros()
        sums = np.asarray(cells.sum(axis=1)).ravel()
        empty = np.flatnonzero(sums <= 0)
        if empty.size:
            raise OnlineError(f"{empty.size} footprint(s) have no pixels (cells {empty[:10].tolist()}): "
                              "drop them or give their masks")
        self.cells = sp.csr_matrix(sp.diags(1.0 / sums) @ cells, dtype=np.float32)
        self.n_cells = int(cells.shape[0])
        self.centres = self._centres()
        self.neuropil = self._neuropil(max_pixels, inner_px, max_radius_px)
        self.neuropil_pixels = np.diff(self.neuropil.indptr)
        self.matrix = sp.vstack([self.cells, self.neuropil], format="csr", dtype=np.float32)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_masks(cls, masks: np.ndarray, **kwargs) -> "Footprints":
        """From a cells × rows × cols array of non-negative weights or booleans."""
        masks = np.asarray(masks)
        if masks.ndim != 3 or masks.shape[0] == 0:
            raise OnlineError(f"footprint masks must be cells × rows × cols, got shape {masks.shape}")
        if not np.issubdtype(masks.dtype, np.number) and masks.dtype != bool:
            raise OnlineError(f"footprint masks must be numbers or booleans, got dtype {masks.dtype}")
        flat = masks.reshape(masks.shape[0], -1).astype(np.float32)
        if not np.all(np.isfinite(flat)) or np.any(flat < 0):
            raise OnlineError("footprint weights must be finite and non-negative")
        return cls(sp.csr_matrix(flat), masks.shape[1:], **kwargs)

    @classmethod
    def from_suite2p(cls, stat: Sequence[dict], shape: tuple[int, int], **kwargs) -> "Footprints":
        """From suite2p's ``stat`` (each entry has ``ypix``, ``xpix`` and optionally ``lam``) on a frame ``shape``."""
        rows, cols = int(shape[0]), int(shape[1])
        indptr, indices, data = [0], [], []
        for i, roi in enumerate(stat):
            try:
                ypix = np.asarray(roi["ypix"], np.int64).ravel()
                xpix = np.asarray(roi["xpix"], np.int64).ravel()
            except (KeyError, TypeError, IndexError) as err:
                raise OnlineError(f"suite2p stat entry {i} has no ypix/xpix ({err}); is this a stat.npy?") from None
            lam = np.asarray(roi.get("lam", np.ones(ypix.size)), np.float32).ravel()
            inside = (ypix >= 0) & (ypix < rows) & (xpix >= 0) & (xpix < cols)
            if ypix.size != xpix.size or lam.size != ypix.size or not inside.any():
                raise OnlineError(f"suite2p ROI {i} does not fit a {rows} × {cols} frame; pass the right shape")
            indices.append(ypix[inside] * cols + xpix[inside])
            data.append(lam[inside])
            indptr.append(indptr[-1] + int(inside.sum()))
        if not indices:
            raise OnlineError("the suite2p stat holds no ROIs")
        matrix = sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(len(stat), rows * cols))
        matrix.sum_duplicates()
        return cls(matrix, (rows, cols), **kwargs)

    @classmethod
    def from_config(cls, masks_or_matrix, shape: Optional[tuple[int, int]], config) -> "Footprints":
        """Masks array, sparse matrix (needs ``shape``) or :class:`Footprints`, with the config's annulus settings."""
        if isinstance(masks_or_matrix, Footprints):
            return masks_or_matrix
        kwargs = dict(max_pixels=config.neuropil_max_pixels, inner_px=config.neuropil_inner_px,
                      max_radius_px=config.neuropil_max_radius_px)
        if sp.issparse(masks_or_matrix):
            if shape is None:
                raise OnlineError("a sparse footprint matrix needs the frame shape")
            return cls(masks_or_matrix, shape, **kwargs)
        return cls.from_masks(masks_or_matrix, **kwargs)

    # ------------------------------------------------------------------ geometry
    def _centres(self) -> np.ndarray:
        """Weighted centre (y, x) of each cell, pixels."""
        cols = self.shape[1]
        ys = np.asarray(self.cells.indices // cols, np.float64)
        xs = np.asarray(self.cells.indices % cols, np.float64)
        w = self.cells.data.astype(np.float64)
        cy = np.add.reduceat(w * ys, self.cells.indptr[:-1]) if ys.size else np.zeros(0)
        cx = np.add.reduceat(w * xs, self.cells.indptr[:-1]) if xs.size else np.zeros(0)
        return np.column_stack([cy, cx])  # rows of self.cells sum to 1

    def cell_mask(self) -> np.ndarray:
        """Boolean rows × cols image of every pixel that belongs to some cell."""
        mask = np.zeros(self.shape[0] * self.shape[1], bool)
        mask[self.cells.indices] = True
        return mask.reshape(self.shape)

    def _neuropil(self, max_pixels: int, inner_px: float, max_radius_px: float) -> sp.csr_matrix:
        cells = self.cell_mask()
        near_cell = ndimage.distance_transform_edt(~cells) <= inner_px if inner_px > 0 else cells
        allowed = ~near_cell
        indptr, indices = [0], []
        for centre in self.centres:
            idx = _annulus(centre, allowed, max_pixels, max_radius_px)
            indices.append(idx)
            indptr.append(indptr[-1] + idx.size)
        counts = np.diff(indptr)
        data = np.repeat(1.0 / np.maximum(counts, 1), counts).astype(np.float32)
        return sp.csr_matrix((data, np.concatenate(indices) if indices else np.zeros(0, np.int64), indptr),
                             shape=(self.n_cells, self.shape[0] * self.shape[1]), dtype=np.float32)

    def extract(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(F_cell, F_neuropil) of one registered float32 frame: weighted means, one value per cell."""
        values = self.matrix @ frame.reshape(-1)
        return values[: self.n_cells], values[self.n_cells:]


def load_footprints(path: Union[str, Path], shape: Optional[tuple[int, int]] = None, **kwargs) -> Footprints:
    """Read footprints from a ``.npy`` file: cells × rows × cols weights/booleans, or a suite2p ``stat.npy``.

    A suite2p stat holds pickled dicts, so it is read with ``allow_pickle``: load only files you trust. It needs
    the frame ``shape`` (suite2p does not store it there).
    """
    path = Path(path)
    if not path.is_file():
        raise OnlineError(f"footprints file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError:  # object array: a suite2p stat
        data = np.load(path, allow_pickle=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise OnlineError(f"cannot read footprints {path}: {err}") from None
    if data.dtype == object:
        if shape is None:
            raise OnlineError(f"{path} is a suite2p stat.npy: give the frame shape (rows, cols)")
        return Footprints.from_suite2p(list(data), shape, **kwargs)
    if data.ndim != 3:
        raise OnlineError(f"{path}: footprints must be cells × rows × cols (or a suite2p stat.npy), "
                          f"got shape {data.shape}")
    if shape is not None and tuple(data.shape[1:]) != tuple(shape):
        raise OnlineError(f"{path}: footprints are {data.shape[1:]} pixels but frames are {tuple(shape)}")
    return Footprints.from_masks(data, **kwargs)
