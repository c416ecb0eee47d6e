"""Footprints: normalised weights, neuropil annuli that avoid cells, suite2p loading, extraction."""
import numpy as np
import pytest

from online import Footprints, OnlineError, load_footprints


def _disks(shape=(64, 64), centres=((20, 20), (20, 31), (45, 40)), r=4):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.array([(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r for cy, cx in centres])


def test_rows_normalised_and_annulus_avoids_cells():
    masks = _disks()
    fp = Footprints.from_masks(masks, max_pixels=350, inner_px=2.0)
    np.testing.assert_allclose(np.asarray(fp.cells.sum(axis=1)).ravel(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(fp.neuropil.sum(axis=1)).ravel(), 1.0, rtol=1e-6)
    assert np.all(fp.neuropil_pixels <= 350) and np.all(fp.neuropil_pixels > 100)
    union = masks.any(axis=0).ravel()
    for i in range(fp.n_cells):
        idx = fp.neuropil.indices[fp.neuropil.indptr[i]: fp.neuropil.indptr[i + 1]]
        assert not union[idx].any()
        ys, xs = np.divmod(idx, 64)
        d_to_cells = np.min([np.hypot(ys[:, None] - yy, xs[:, None] - xx).min(axis=1)
                             for yy, xx in [np.nonzero(m) for m in masks]], axis=0)
        assert d_to_cells.min() > 2.0
    np.testing.assert_allclose(fp.centres[0], (20, 20), atol=1e-6)


def test_extract_means():
    masks = _disks()
    fp = Footprints.from_masks(masks)
    frame = np.full((64, 64), 10.0, np.float32)
    frame[masks[1]] = 50.0
    f_cell, f_np = fp.extract(frame)
    np.testing.assert_allclose(f_cell, [10, 50, 10], rtol=1e-6)
    np.testing.assert_allclose(f_np, 10, rtol=1e-6)


def test_suite2p_stat_equals_masks(tmp_path):
    masks = _disks()
    stat = np.array([{"ypix": np.nonzero(m)[0], "xpix": np.nonzero(m)[1], "lam": np.ones(m.sum())}
                     for m in masks], dtype=object)
    np.save(tmp_path / "stat.npy", stat, allow_pickle=True)
    np.save(tmp_path / "masks.npy", masks)
    a = load_footprints(tmp_path / "stat.npy", shape=(64, 64))
    b = load_footprints(tmp_path / "masks.npy")
    assert (a.matrix != b.matrix).nnz == 0
    with pytest.raises(OnlineError, match="shape"):
        load_footprints(tmp_path / "stat.npy")


def test_bad_footprints_raise(tmp_path):
    masks = _disks()
    masks[1] = False
    with pytest.raises(OnlineError, match="no pixels"):
        Footprints.from_masks(masks)
    with pytest.raises(OnlineError, match="cells × rows × cols"):
        Footprints.from_masks(np.ones((4, 4)))
    with pytest.raises(OnlineError, match="does not exist"):
        load_footprints(tmp_path / "nope.npy")
