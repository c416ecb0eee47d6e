"""Photostimulation responses: evoked response per cell and ensemble, target success, the power test.

Seed 002 (Methods, "Exclusion criteria" and "Holographic stimulation"):
* responses are z-scored: a trial response (ΔF/F, response window − baseline window) divided by the cell's
  noise s.d. (ΔF/F frame-to-frame s.d. about the trial baselines, pooled over trials);
* a targeted cell responded when its z-scored response is at least 0.25;
* a stimulation trial is excluded when 50 % or more of its targets failed;
* the power test drives each cell at 12.5–100 mW and its "stimmable power" is the lowest power that elicits a
  significant response. Here significance is a one-sided pooled-variance t-test of the cell's z-scored responses
  at that power against its responses in power-test trials that did not target it, at ``alpha``, with a mean of
  at least the response threshold; to keep one lucky low-power trial from setting the power, the next higher
  tested power must be significant too (the highest power stands alone).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Optional, Sequence

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class EvokedResponse:
    """Mean z-scored response per cell to one ensemble, with a two-sided t confidence interval."""

    ensemble: Hashable
    targets: np.ndarray     # footprint indices the ensemble targets
    mean_z: np.ndarray      # cells
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_trials: np.ndarray    # cells (finite responses)
    n_excluded: int         # trials left out (motion, targets failed)


@dataclass(frozen=True)
class PowerTestResult:
    """Per cell × tested power: mean z, one-sided p, trials; and each cell's stimmable power (NaN if none)."""

    powers_mw: np.ndarray
    mean_z: np.ndarray
    p_value: np.ndarray
    n_trials: np.ndarray
    significant: np.ndarray
    stimmable_power_mw: np.ndarray
    tested: np.ndarray      # cells targeted in at least one power-test trial


def zscore(responses: np.ndarray, noise_sd: np.ndarray) -> np.ndarray:
    """Responses (trials × cells, ΔF/F) divided by each cell's noise s.d.; NaN where the s.d. is not positive."""
    sd = np.asarray(noise_sd, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(responses, np.float64) / np.where(sd > 0, sd, np.nan)[None, :]


def targets_responded(z_row: np.ndarray, targets: Sequence[int], threshold: float = 0.25) -> np.ndarray:
    """For one trial, whether each target's z-scored response reached ``threshold`` (seed 002: 0.25)."""
    t = np.asarray(targets, int)
    return np.nan_to_num(z_row[t], nan=-np.inf) >= threshold


def trial_failed(z_row: np.ndarray, targets: Sequence[int], threshold: float = 0.25,
                 max_failed_fraction: float = 0.5) -> bool:
    """Seed 002 exclusion (2): this fraction or more of the targeted cells failed to respond."""
    if len(targets) == 0:
        return False
    failed = 1.0 - targets_responded(z_row, targets, threshold).mean()
    return bool(failed >= max_failed_fraction)


def mean_ci(z: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean, t-interval low/high and count of finite values of ``z`` (trials × cells)."""
    ok = np.isfinite(z)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.where(ok, z, 0).sum(axis=0) / np.maximum(n, 1), np.nan)
        var = np.where(ok, (z - mean) ** 2, 0).sum(axis=0) / np.maximum(n - 1, 1)
        half = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * np.sqrt(var / np.maximum(n, 1))
    half = np.where(n > 1, half, np.nan)
    return mean, mean - half, mean + half, n


def evoked_response(ensemble: Hashable, targets: Sequence[int], z: np.ndarray, n_excluded: int = 0,
                    confidence: float = 0.95) -> EvokedResponse:
    """Mean and CI of the z-scored responses (trials × cells) of one ensemble's included trials."""
    mean, lo, hi, n = mean_ci(np.asarray(z, np.float64).reshape(-1, z.shape[-1]), confidence)
    return EvokedResponse(ensemble, np.asarray(sorted(set(int(t) for t in targets)), int), mean, lo, hi, n, n_excluded)


def power_test(z: np.ndarray, targets: Sequence[Sequence[int]], powers_mw: Sequence[float], *,
               threshold: float = 0.25, alpha: float = 0.05,
               tested_powers_mw: Optional[Sequence[float]] = None) -> PowerTestResult:
    """Stimmable power per cell from power-test trials.

    ``z`` is trials × cells of z-scored responses; ``targets[t]`` the cells targeted in trial ``t`` and
    ``powers_mw[t]`` its per-cell power.
    """
    z = np.asarray(z, np.float64)
    n_trials, n_cells = z.shape
    powers = np.asarray(powers_mw, float)
    grid = np.unique(powers) if tested_powers_mw is None else np.sort(np.asarray(tested_powers_mw, float))
    hit = np.zeros((n_trials, n_cells), bool)
    for t, tg in enumerate(targets):
        hit[t, np.asarray(tg, int)] = True
    ok = np.isfinite(z)
    null = ~hit & ok
    n0, m0, v0 = _moments(z, null)
    shape = (n_cells, grid.size)
    mean_z, p_val, n_at = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, int)
    for j, p in enumerate(grid):
        sel = hit & ok & np.isclose(powers, p)[:, None]
        n1, m1, v1 = _moments(z, sel)
        mean_z[:, j], n_at[:, j] = m1, n1
        p_val[:, j] = _one_sided_p(n1, m1, v1, n0, m0, v0)
    significant = (np.nan_to_num(p_val, nan=1.0) < alpha) & (np.nan_to_num(mean_z, nan=-np.inf) >= threshold)
    confirmed = significant.copy()
    confirmed[:, :-1] &= significant[:, 1:] | (n_at[:, 1:] == 0)
    first = np.argmax(confirmed, axis=1)
    stimmable = np.where(confirmed.any(axis=1), grid[first], np.nan)
    return PowerTestResult(grid, mean_z, p_val, n_at, significant, stimmable, hit.any(axis=0))


def _moments(z: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: count, mean and unbiased variance of ``z`` where ``mask``."""
    n = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(n > 0, np.where(mask, z, 0).sum(axis=0) / np.maximum(n, 1), np.nan)
        v = np.where(n > 1, np.where(mask, (z - m) ** 2, 0).sum(axis=0) / np.maximum(n - 1, 1), np.nan)
    return n, m, v


def _one_sided_p(n1, m1, v1, n0, m0, v0) -> np.ndarray:
    """One-sided p that the mean ``m1`` exceeds ``m0`` (pooled-variance t); vs 0 when there is no null sample."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = np.nan_to_num(v1) * np.maximum(n1 - 1, 0) + np.nan_to_num(v0) * np.maximum(n0 - 1, 0)
        df_two = n1 + n0 - 2
        pooled = ss / np.maximum(df_two, 1)
        t_two = (m1 - m0) / np.sqrt(pooled * (1.0 / np.maximum(n1, 1) + 1.0 / np.maximum(n0, 1)))
        p_two = stats.t.sf(t_two, np.maximum(df_two, 1))
        t_one = m1 / np.sqrt(np.nan_to_num(v1) / np.maximum(n1, 1))
        p_one = stats.t.sf(t_one, np.maximum(n1 - 1, 1))
    use_null = (n0 >= 2) & (df_two >= 1) & (pooled > 0)
    p = np.where(use_null, p_two, np.where((n1 >= 2) & (np.nan_to_num(v1) > 0), p_one, np.nan))
    return np.where(n1 > 0, p, np.nan)
