"""Score a dry run's online analysis against the simulated microscope's planted truth (``holostim sim score``).

A dry-run session file holds the rig profile (with its ``sim`` section) and the seed, so the simulated tissue can
be rebuilt exactly and every found cell matched to the simulated cell it images (same plane, nearest soma within
``match_um`` laterally). Figures, the accuracy targets of the online analysis:

* visual responsiveness: recall (planted-responsive cells found by the ANOVA) and false-positive rate;
* PO: median error, degrees, over cells planted responsive and tuned (OSI > 0.25) and found responsive;
* OSI: Pearson correlation with the planted OSI (the product's one definition, on the noise-free tuning curve)
  over cells planted responsive and found responsive; next to it the *ceiling*: the correlation an ideal observer
  reaches on the same cells from the spikes alone (exact spike counts during the gratings, the spontaneous rate
  known, no calcium, no imaging noise) at the protocol's repetitions. The simulated visual responses are Poisson
  spike counts, so the ceiling is set by the biology and the repetitions, not by the analysis;
* power test: fraction of tested opsin-positive cells whose stimmable power is within one tested power step of
  the planted one (a planted power above the highest tested one must come out "not stimmable"), and the fraction
  of tested opsin-negative cells wrongly found stimmable.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
from scipy.spatial import cKDTree

from optimizer.tuning import angular_distance_deg

#: A found cell is the simulated soma on its plane whose centre lies within this lateral distance, µm.
MATCH_UM = 4.0
#: "Tuned" for the PO figure, as in seed 002 Fig. 3c (OSI > 0.25).
TUNED_OSI = 0.25


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 and np.std(a) > 0 and np.std(b) > 0 else float("nan")


def score_session(path: Union[str, Path], match_um: float = MATCH_UM) -> dict:
    """Accuracy figures of a dry-run session against its simulated ground truth (see module docstring)."""
    import sims
    from rig.session import SessionReader
    from rig.runner.errors import RunnerError

    with SessionReader(path) as reader:
        rig = reader.rig
        if rig.backend != "sim":
            raise RunnerError(f"{path}: not a dry run (backend {rig.backend!r}); only simulated sessions have a "
                              "ground truth to score against")
        seed, cells, tuning, power = reader.seed, reader.cells(), reader.tuning(), reader.power_test()
        tuning_protocol = reader.protocol.tuning
    pop = sims.build_microscope(rig, seed=seed).population
    out: dict = {"session": str(path), "cells_found": len(cells)}
    truth = np.full(len(cells), -1)
    for plane in np.unique(cells.plane):
        mine = np.flatnonzero(cells.plane == plane)
        theirs = np.flatnonzero(pop.plane == plane)
        if not len(theirs):
            continue
        d, j = cKDTree(pop.xyz_um[theirs, :2]).query(cells.position_um[mine, :2])
        truth[mine[d <= match_um]] = theirs[j[d <= match_um]]
    ok = truth >= 0
    out["cells_matched"] = int(ok.sum())
    idx = np.where(ok, truth, 0)
    if tuning is not None:
        out.update(_tuning_figures(pop, idx, ok, tuning, tuning_protocol))
    if power is not None:
        out.update(_power_figures(pop, idx, ok, power))
    return out


def _tuning_figures(pop, idx: np.ndarray, ok: np.ndarray, tuning, protocol) -> dict:
    planted_resp = ok & pop.responsive[idx]
    planted_osi = pop.osi[idx]
    found = np.asarray(tuning.responsive, bool)
    both = planted_resp & found & np.isfinite(tuning.osi)
    tuned = both & (planted_osi > TUNED_OSI)
    po_err = angular_distance_deg(tuning.po_deg[tuned], pop.po_deg[idx][tuned])
    return {
        "responsive_planted": int(planted_resp.sum()),
        "responsive_recall": float(found[planted_resp].mean()) if planted_resp.any() else float("nan"),
        "responsive_false_positive_rate": float(found[ok & ~pop.responsive[idx]].mean())
        if (ok & ~pop.responsive[idx]).any() else float("nan"),
        "po_cells": int(tuned.sum()),
        "po_median_error_deg": float(np.median(po_err)) if len(po_err) else float("nan"),
        "osi_cells": int(both.sum()),
        "osi_correlation": _corr(tuning.osi[both], planted_osi[both]),
        "osi_bias": float(np.mean(tuning.osi[both] - planted_osi[both])) if both.any() else float("nan"),
        "osi_correlation_ceiling": osi_correlation_ceiling(
            pop, idx[both], protocol.directions_deg, repetitions=protocol.repetitions,
            stimulus_s=protocol.stimulus_s),
    }


def osi_correlation_ceiling(pop, cells: np.ndarray, directions_deg, repetitions: int, stimulus_s: float,
                            draws: int = 20, seed: int = 0) -> float:
    """Mean correlation with the planted OSI that the spikes themselves allow at ``repetitions`` trials.

    An ideal observer: it sees each trial's exact spike count while the grating is on (Poisson, of the planted
    tuning curve plus the cell's grey-screen rate over ``stimulus_s``; spikes outside the grating carry no
    information about the direction) and knows each cell's spontaneous rate exactly, so its tuning curve is the
    mean count per direction minus the expected spontaneous count; OSI is the product's definition. Averaged
    over ``draws`` seeded draws. No calcium, no imaging noise, no baseline to estimate: the imaged analysis can
    come close to it but should not beat it by more than the finite sample of cells allows.
    """
    from sims.population import osi_of_curves

    if len(cells) < 3:
        return float("nan")
    directions = np.asarray(directions_deg, dtype=np.float64)
    rng = np.random.default_rng(seed)
    spont = pop.baseline_rate_hz[cells][:, None] * stimulus_s                 # expected spontaneous count
    expected = pop.tuning_curve(directions)[cells] * stimulus_s + spont      # cells × directions
    planted = pop.osi[cells]
    counts = rng.poisson(np.broadcast_to(expected, (draws, repetitions, *expected.shape))).mean(axis=1) - spont
    return float(np.mean([_corr(osi_of_curves(c, directions), planted) for c in counts]))


def _power_figures(pop, idx: np.ndarray, ok: np.ndarray, power) -> dict:
    powers = np.asarray(power.powers_mw, float)
    step = float(np.min(np.diff(powers))) if len(powers) > 1 else float("inf")
    tested = ok & np.isfinite(power.response).any(axis=1)
    found = np.asarray(power.stimmable_power_mw, float)
    planted = pop.stimmable_power_mw[idx]
    in_range = planted <= powers[-1]
    close = np.where(in_range, np.abs(np.nan_to_num(found, nan=np.inf) - planted) <= step + 1e-9,
                     ~np.isfinite(found))
    pos, neg = tested & pop.opsin[idx], tested & ~pop.opsin[idx]
    steps = (found - planted) / step
    return {
        "power_test_cells": int(pos.sum()),
        "power_within_one_step": float(close[pos].mean()) if pos.any() else float("nan"),
        "power_median_error_steps": float(np.nanmedian(steps[pos & in_range])) if (pos & in_range).any()
        else float("nan"),
        "power_opsin_negative_tested": int(neg.sum()),
        "power_opsin_negative_found_stimmable": float(np.isfinite(found[neg]).mean()) if neg.any() else float("nan"),
    }


#: The issue's accuracy targets, for printing next to the figures: (figure, comparison, target).
TARGETS = (("po_median_error_deg", "<", 10.0), ("osi_correlation", ">", 0.9), ("power_within_one_step", ">=", 0.9))


def format_score(score: dict) -> str:
    """The figures as lines, each target marked met or not."""
    lines = []
    for key, value in score.items():
        mark = ""
        for name, op, target in TARGETS:
            if name == key and isinstance(value, float) and np.isfinite(value):
                met = value < target if op == "<" else value > target if op == ">" else value >= target
                mark = f"   (target {op} {target:g}: {'met' if met else 'NOT met'})"
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        lines.append(f"{key:38s} {text}{mark}")
    return "\n".join(lines)
