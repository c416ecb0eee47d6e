"""Orientation and direction tuning from per-trial responses, vectorised over cells.

Definitions
-----------
* Tuning curve: mean ± s.e.m. of the trial responses to each grating direction (seed 002 uses 8 directions).
* PO, OO and OSI as in seed 002 (Methods, "Online analysis"): PO is the largest mean response, OO the mean
  response to the orthogonal orientation (the mean of the two directions 90° away from the preferred one),
  OSI = (PO − OO)/(PO + OO). Mean responses are rectified at 0 first, so OSI lies in [0, 1]; a cell without any
  positive mean response has OSI NaN.
* gOSI as in seed 000 (Methods, "In silico difference in preferred orientation", eq. 1):
  gOSI = |Σ R_θ e^{2iθ}| / Σ R_θ over directions θ, with the same rectified R.
* Double von Mises fit (seed 000, same section): f(θ) = α e^{κ cos(θ−μ)} + β e^{κ cos(θ−μ+π)} + γ by least
  squares; the preferred orientation is μ mod 180°. The fit here is a global grid search: for each (μ, κ) the
  model is linear in (α, β, γ), solved in closed form for all cells at once (α ≥ 0, β ≥ 0 enforced by also
  fitting the one-peak model β = 0 and discarding negative amplitudes); μ is then refined by a parabola through
  the residuals of the neighbouring grid points.
* Visual responsiveness: one-way ANOVA of the trial responses across conditions (directions, plus blank when
  present), p < α (seed 002, 0.05).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import stats

from .errors import OnlineError

_MU_STEP_DEG = 2.5
_KAPPAS = np.geomspace(0.25, 12.0, 14)


@dataclass(frozen=True)
class VonMisesFit:
    """Per-cell double-von-Mises parameters (μ in degrees, [0, 360)) and the fit's R²."""

    mu_deg: np.ndarray
    kappa: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    r2: np.ndarray

    def evaluate(self, directions_deg: np.ndarray) -> np.ndarray:
        """The fitted curves at ``directions_deg`` (cells × directions)."""
        th = np.deg2rad(np.asarray(directions_deg, float))[None, :]
        mu, k = np.deg2rad(self.mu_deg)[:, None], self.kappa[:, None]
        return (self.alpha[:, None] * np.exp(k * np.cos(th - mu)) + self.beta[:, None]
                * np.exp(k * np.cos(th - mu + np.pi)) + self.gamma[:, None])


@dataclass(frozen=True)
class OrientationTuning:
    """Per-cell selectivity of mean tuning curves: preferred orientation/direction, OSI, gOSI, fit."""

    po_deg: np.ndarray        # preferred orientation [0, 180) (from the fit or the peak, see ``po_method``)
    pd_deg: np.ndarray        # preferred direction [0, 360), same source
    peak_direction_deg: np.ndarray  # seed 002: direction of the largest mean response
    osi: np.ndarray
    gosi: np.ndarray
    fit: VonMisesFit


@dataclass(frozen=True)
class TuningResult(OrientationTuning):
    """:class:`OrientationTuning` plus the tuning curves and visual responsiveness."""

    directions_deg: np.ndarray = None  # type: ignore[assignment]
    mean: np.ndarray = None            # cells × directions
    sem: np.ndarray = None
    n_trials: np.ndarray = None        # cells × directions (finite responses)
    blank_mean: np.ndarray = None      # cells (NaN without blank trials)
    p_anova: np.ndarray = None
    responsive: np.ndarray = None
    tuned: np.ndarray = None           # responsive and OSI above the tuned threshold


@functools.lru_cache(maxsize=8)
def _design_qr_cached(directions_key: tuple):
    return _design_qr(np.array(directions_key))


def _design_qr(directions_rad: np.ndarray):
    """QR factors of every (μ, κ, model) design matrix: Q (D, n_dir, p), R⁻¹ (D, p, p), and the grid."""
    mus = np.deg2rad(np.arange(0.0, 360.0, _MU_STEP_DEG))
    qs, rinvs, grid = {2: [], 3: []}, {2: [], 3: []}, []
    for ki, kappa in enumerate(_KAPPAS):
        for mi, mu in enumerate(mus):
            a = np.exp(kappa * (np.cos(directions_rad - mu) - 1))  # scaled by e^{-κ} for conditioning
            b = np.exp(kappa * (np.cos(directions_rad - mu + np.pi) - 1))
            one = np.ones_like(a)
            for p, cols in ((3, (a, b, one)), (2, (a, one))):
                q, r = np.linalg.qr(np.column_stack(cols))
                qs[p].append(q)
                rinvs[p].append(np.linalg.pinv(r))
            grid.append((ki, mi))
    return {p: (np.array(qs[p]), np.array(rinvs[p])) for p in (2, 3)}, np.array(grid), mus


def fit_double_von_mises(curves: np.ndarray, directions_deg: np.ndarray, chunk: int = 256) -> VonMisesFit:
    """Least-squares double-von-Mises fit of each row of ``curves`` (cells × directions, ≥ 5 directions)."""
    curves = np.atleast_2d(np.asarray(curves, np.float64))
    parts = [_fit_chunk(curves[i:i + chunk], directions_deg) for i in range(0, max(len(curves), 1), chunk)]
    return VonMisesFit(*[np.concatenate([getattr(f, name) for f in parts])
                         for name in ("mu_deg", "kappa", "alpha", "beta", "gamma", "r2")])


def _fit_chunk(curves: np.ndarray, directions_deg: np.ndarray) -> VonMisesFit:
    th = np.deg2rad(np.asarray(directions_deg, float))
    n_cells = curves.shape[0]
    nan = np.full(n_cells, np.nan)
    if th.size < 5 or n_cells == 0:
        return VonMisesFit(nan, nan, nan, nan, nan, nan)
    finite = np.all(np.isfinite(curves), axis=1)
    y = np.where(finite[:, None], curves, 0.0)
    designs, grid, mus = _design_qr_cached(tuple(th.tolist()))
    best_ssr = np.full(n_cells, np.inf)
    best = np.zeros((n_cells, 5))  # design index, model p, amplitude a, b, offset
    ssr_grid = np.full((n_cells, len(grid)), np.inf)
    total = (y ** 2).sum(axis=1)
    for p, (q, rinv) in designs.items():
        proj = np.matmul(y[None], q)                            # D × cells × p
        coef = np.matmul(proj, np.swapaxes(rinv, 1, 2))         # amplitudes in the scaled basis
        ssr = total[None, :] - (proj ** 2).sum(axis=2)
        ok = coef[..., 0] >= 0
        if p == 3:
            ok &= coef[..., 1] >= 0
        ssr = np.where(ok, ssr, np.inf).T                      # cells × D
        ssr_grid = np.minimum(ssr_grid, ssr)
        idx = np.argmin(ssr, axis=1)
        better = ssr[np.arange(n_cells), idx] < best_ssr
        rows = np.flatnonzero(better)
        best_ssr[rows] = ssr[rows, idx[rows]]
        c = coef[idx[rows], rows]
        best[rows, 0] = idx[rows]
        best[rows, 1] = p
        best[rows, 2] = c[:, 0]
        best[rows, 3] = c[:, 1] if p == 3 else 0.0
        best[rows, 4] = c[:, -1]
    d = best[:, 0].astype(int)
    ki, mi = grid[d, 0], grid[d, 1]
    kappa = _KAPPAS[ki]
    mu = np.rad2deg(mus[mi]) + _refine_mu(ssr_grid, ki, mi, len(mus))
    scale = np.exp(-kappa)  # undo the basis scaling: α e^{κ(cos−1)} = (α e^{−κ}) e^{κ cos}
    ss_tot = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    r2 = np.where(ss_tot > 0, 1 - best_ssr / np.where(ss_tot > 0, ss_tot, 1), np.nan)
    bad = ~finite | ~np.isfinite(best_ssr)
    alpha, beta = best[:, 2] * scale, best[:, 3] * scale
    # μ and μ + π with α, β swapped fit equally well: μ is the direction of the larger lobe.
    flip = beta > alpha
    mu = np.where(flip, mu + 180.0, mu)
    alpha, beta = np.where(flip, beta, alpha), np.where(flip, alpha, beta)
    out = [np.mod(mu, 360.0), kappa, alpha, beta, best[:, 4], r2]
    return VonMisesFit(*[np.where(bad, np.nan, v) for v in out])


def _refine_mu(ssr_grid: np.ndarray, ki: np.ndarray, mi: np.ndarray, n_mu: int) -> np.ndarray:
    """Parabolic vertex offset (degrees) of the residual along μ around each cell's best grid point."""
    rows = np.arange(ssr_grid.shape[0])
    def at(m):
        return ssr_grid[rows, ki * n_mu + np.mod(m, n_mu)]
    a, b, c = at(mi - 1), at(mi), at(mi + 1)
    den = a - 2 * b + c
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.where(np.isfinite(den) & (den > 0), 0.5 * (a - c) / den, 0.0)
    return np.clip(off, -0.5, 0.5) * _MU_STEP_DEG


def _check_directions(directions_deg) -> np.ndarray:
    d = np.asarray(directions_deg, float)
    if d.ndim != 1 or d.size < 2 or not np.all(np.isfinite(d)):
        raise OnlineError(f"directions must be a list of at least 2 finite angles in degrees, got {directions_deg}")
    return np.mod(d, 360.0)


def orientation_tuning(curves: np.ndarray, directions_deg, *, po_method: str = "fit") -> OrientationTuning:
    """PO, OSI (seed 002), gOSI and the double-von-Mises fit (seed 000) of mean tuning curves.

    ``curves`` is cells × directions (or one curve) of mean responses; ``directions_deg`` the directions of
    motion. With ``po_method='fit'`` PO and PD come from the fit (falling back to the peak when it fails),
    with ``'peak'`` from the direction of the largest mean response.
    """
    d = _check_directions(directions_deg)
    curves = np.atleast_2d(np.asarray(curves, np.float64))
    if curves.shape[1] != d.size:
        raise OnlineError(f"tuning curves have {curves.shape[1]} directions but {d.size} were given")
    rect = np.clip(curves, 0.0, None)
    peak_idx = np.argmax(np.where(np.isfinite(curves), curves, -np.inf), axis=1)
    peak_dir = d[peak_idx]
    # Orthogonal orientation: the two directions ±90° from the peak (nearest tested ones).
    ortho = np.stack([_nearest(d, peak_dir + 90.0), _nearest(d, peak_dir - 90.0)], axis=1)
    r_po = rect[np.arange(len(rect)), peak_idx]
    r_oo = rect[np.arange(len(rect))[:, None], ortho].mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        osi = np.where(r_po > 0, (r_po - r_oo) / (r_po + r_oo), np.nan)
        vec = (rect * np.exp(2j * np.deg2rad(d))[None, :]).sum(axis=1)
        total = rect.sum(axis=1)
        gosi = np.where(total > 0, np.abs(vec) / np.where(total > 0, total, 1), np.nan)
    fit = fit_double_von_mises(curves, d)
    if po_method == "peak":
        pd = peak_dir.astype(float)
    else:
        pd = np.where(np.isfinite(fit.mu_deg), fit.mu_deg, peak_dir)
    no_data = ~np.all(np.isfinite(curves), axis=1)
    pd = np.where(no_data, np.nan, pd)
    return OrientationTuning(np.mod(pd, 180.0), pd, np.where(no_data, np.nan, peak_dir), osi, gosi, fit)


def _nearest(directions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of the tested direction nearest each target angle (degrees, circular)."""
    diff = np.abs((directions[None, :] - np.mod(targets, 360.0)[:, None] + 180.0) % 360.0 - 180.0)
    return np.argmin(diff, axis=1)


def one_way_anova(responses: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p value of a one-way ANOVA across ``labels`` per column of ``responses`` (trials × cells); NaNs skipped."""
    x = np.asarray(responses, np.float64)
    groups = np.unique(labels)
    onehot = (np.asarray(labels)[:, None] == groups[None, :]).astype(np.float64)  # trials × groups
    ok = np.isfinite(x)
    xz = np.where(ok, x, 0.0)
    n_g = onehot.T @ ok                        # groups × cells
    s_g = onehot.T @ xz
    ss_g = onehot.T @ (xz ** 2)
    n = n_g.sum(axis=0)
    k = (n_g > 0).sum(axis=0)
    grand = s_g.sum(axis=0) / np.maximum(n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(n_g > 0, s_g / np.maximum(n_g, 1), 0.0)
        ssb = (n_g * (means - grand) ** 2).sum(axis=0)
        ssw = (ss_g - n_g * means ** 2).sum(axis=0)
        df_b, df_w = k - 1, n - k
        f = (ssb / df_b) / (ssw / df_w)
        p = stats.f.sf(f, df_b, df_w)
    p = np.where((df_b >= 1) & (df_w >= 1) & (ssw > 0), p, np.where((ssw == 0) & (ssb > 0), 0.0, np.nan))
    return p


def tuning_from_responses(responses: np.ndarray, directions_deg, *, blank: Optional[np.ndarray] = None,
                          conditions_deg=None, alpha: float = 0.05, po_method: str = "fit",
                          tuned_osi_threshold: float = 0.25, subtract_blank: bool = True) -> TuningResult:
    """Tuning curves, PO, OSI, gOSI, fit and ANOVA responsiveness from trial responses.

    Parameters
    ----------
    responses : trials × cells, one response per trial (ΔF/F units; NaN for a missing value).
    directions_deg : per trial, the grating direction in degrees; NaN marks a blank trial (or pass ``blank``).
    blank : optional boolean per trial, True for blank (no-grating) trials.
    conditions_deg : the directions that make the tuning curve (default: those present, sorted).
    subtract_blank : when blank trials exist, the tuning curve is the mean response minus the mean blank
        response. The blank measures what a response window shows without a grating — with GCaMP6s and short
        inter-trial intervals mostly the decay of the previous trial's response, which makes baseline-referenced
        responses negative on average. Left in, that offset pushes the orthogonal response below zero, where
        rectification turns it into 0 and inflates OSI; referenced to the blank, OSI follows the evoked tuning.
    """
    r = np.asarray(responses, np.float64)
    if r.ndim != 2:
        raise OnlineError(f"responses must be trials × cells, got shape {r.shape}")
    dirs = np.asarray(directions_deg, float).ravel()
    if dirs.size != r.shape[0]:
        raise OnlineError(f"{r.shape[0]} trials of responses but {dirs.size} directions")
    is_blank = ~np.isfinite(dirs) if blank is None else (np.asarray(blank, bool) | ~np.isfinite(dirs))
    dirs = np.where(is_blank, np.nan, np.mod(dirs, 360.0))
    cond = np.unique(dirs[~is_blank]) if conditions_deg is None else _check_directions(conditions_deg)
    if cond.size < 2:
        raise OnlineError(f"tuning needs gratings of at least 2 directions, got {cond.tolist()}")
    n_cells = r.shape[1]
    mean = np.full((n_cells, cond.size), np.nan)
    sem = np.full((n_cells, cond.size), np.nan)
    n_tr = np.zeros((n_cells, cond.size), int)
    for j, c in enumerate(cond):
        sel = r[np.isclose(dirs, c) & ~is_blank]
        n = np.isfinite(sel).sum(axis=0)
        n_tr[:, j] = n
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[:, j] = np.where(n > 0, np.nansum(sel, axis=0) / np.maximum(n, 1), np.nan)
            sd = np.sqrt(np.nansum((sel - mean[:, j]) ** 2, axis=0) / np.maximum(n - 1, 1))
            sem[:, j] = np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), np.nan)
    blank_r = r[is_blank]
    with np.errstate(invalid="ignore"):
        blank_mean = np.nanmean(blank_r, axis=0) if blank_r.shape[0] else np.full(n_cells, np.nan)
    if subtract_blank:
        mean = mean - np.nan_to_num(blank_mean)[:, None]
    labels = np.where(is_blank, -1.0, dirs)
    keep = is_blank | np.isin(np.round(dirs, 6), np.round(cond, 6))
    p = one_way_anova(r[keep], labels[keep])
    ori = orientation_tuning(mean, cond, po_method=po_method)
    responsive = np.nan_to_num(p, nan=1.0) < alpha
    tuned = responsive & (np.nan_to_num(ori.osi) > tuned_osi_threshold)
    return TuningResult(ori.po_deg, ori.pd_deg, ori.peak_direction_deg, ori.osi, ori.gosi, ori.fit,
                        cond, mean, sem, n_tr, blank_mean, p, responsive, tuned)
