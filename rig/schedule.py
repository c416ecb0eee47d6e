"""Trial schedules of the seed-002 protocol: randomized, interleaved, and reproducible from the seed.

Each block draws from its own random stream (``numpy.random.default_rng([seed, block_code])``), so the order of
one block does not depend on how many random numbers another block used. A resumed session regenerates the same
schedule from the stored seed and skips the trials already committed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

_BLOCK_CODES = {"power_test": 1, "tuning": 2, "stim": 3}


@dataclass(frozen=True)
class PlannedTrial:
    """One trial to run. ``cells`` are the targets of a power-test trial; -1 / NaN mark what does not apply."""

    index: int
    block: str
    condition: str
    ensemble: int = -1
    direction_deg: float = float("nan")
    power_mw: float = float("nan")
    cells: tuple[int, ...] = field(default=())


def _rng(seed: int, block: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), _BLOCK_CODES[block]])


def tuning_schedule(directions_deg: Sequence[float], blank: bool, repetitions: int, seed: int) -> list[PlannedTrial]:
    """Gratings (and blanks) in random order, each repetition a fresh permutation of all conditions.

    Seed 002 ("Calcium imaging"): gratings of each direction presented in random order, interleaved with a
    grey-screen (blank) condition.
    """
    rng = _rng(seed, "tuning")
    conditions = [("grating", float(d)) for d in directions_deg] + ([("blank", float("nan"))] if blank else [])
    trials = []
    for _ in range(repetitions):
        for j in rng.permutation(len(conditions)):
            kind, direction = conditions[j]
            trials.append(PlannedTrial(len(trials), "tuning", kind, direction_deg=direction))
    return trials


def tuning_retakes(done: Sequence[PlannedTrial], valid: Sequence[bool], repetitions: int, seed: int,
                   limit: int) -> list[PlannedTrial]:
    """The next round of retakes for a tuning block: one trial per valid repetition a condition still lacks, in
    random order, at most ``limit`` trials; empty when every condition has ``repetitions`` valid trials.

    ``done`` are the block's trials so far (the schedule, then earlier rounds) and ``valid`` their exclusion
    outcome. A trial excluded for running or motion (seed 002, "Exclusion criteria") is lost to the tuning curve;
    retaking it keeps every condition at the protocol's repetitions. The order is drawn from the tuning block's
    stream, advanced by the number of trials done, so a resumed session draws the same retakes.
    """
    if len(done) != len(valid):
        raise ValueError(f"{len(done)} trials but {len(valid)} validity flags")
    conditions: dict[tuple, list] = {}
    for trial, ok in zip(done, valid):
        key = (trial.condition, repr(trial.direction_deg))         # repr: NaN (blank) equal to itself
        conditions.setdefault(key, [trial, 0])[1] += int(bool(ok))
    missing = [trial for trial, n_valid in conditions.values() for _ in range(max(repetitions - n_valid, 0))]
    if not missing or limit <= 0:
        return []
    rng = np.random.default_rng([int(seed), _BLOCK_CODES["tuning"], len(done)])
    order = rng.permutation(len(missing))[:limit]
    return [PlannedTrial(len(done) + k, "tuning", missing[j].condition, direction_deg=missing[j].direction_deg)
            for k, j in enumerate(order)]


def stimulation_schedule(n_ensembles: int, repetitions: int, no_stim_repetitions: int,
                         seed: int) -> list[PlannedTrial]:
    """Ensemble trials and no-stim controls, randomly interleaved (seed 002: "randomly assigned and randomly
    interleaved").

    Trials come in rounds; each round holds every ensemble once and a share of the no-stim controls, in random
    order. No ensemble is stimulated twice in a row, because seed 002 excludes cells stimulated in the
    immediately preceding trial from analysis — back-to-back repeats would waste trials.
    """
    if n_ensembles < 1:
        raise ValueError("the stimulation block needs at least one ensemble")
    rng = _rng(seed, "stim")
    controls_per_round = np.diff(np.round(np.linspace(0, no_stim_repetitions, repetitions + 1)).astype(int))
    order: list[int] = []
    for r in range(repetitions):
        round_ = list(range(n_ensembles)) + [-1] * int(controls_per_round[r])
        round_ = [round_[j] for j in rng.permutation(len(round_))]
        if order and round_[0] == order[-1] and round_[0] >= 0 and len(round_) > 1:
            swap = next((j for j in range(1, len(round_)) if round_[j] != order[-1]), None)
            if swap is not None:
                round_[0], round_[swap] = round_[swap], round_[0]
        order.extend(round_)
    return [PlannedTrial(i, "stim", "ensemble" if e >= 0 else "no_stim", ensemble=e) for i, e in enumerate(order)]


def power_test_schedule(cell_ids: Sequence[int], powers_mw: Sequence[float], cells_per_group: int,
                        repetitions: int, seed: int, min_targets: int = 3) -> list[PlannedTrial]:
    """Groups of cells (seed 002: five at a time) stimulated at each power, in random order.

    Cells are dealt into groups at random; a remainder smaller than the SLM's minimum target count is merged
    into the previous group so every hologram has at least ``min_targets`` spots.
    """
    rng = _rng(seed, "power_test")
    ids = np.asarray(cell_ids)[rng.permutation(len(cell_ids))]
    groups = [tuple(int(c) for c in ids[i:i + cells_per_group]) for i in range(0, len(ids), cells_per_group)]
    if len(groups) > 1 and len(groups[-1]) < min_targets:
        remainder = groups.pop()
        groups[-1] = groups[-1] + remainder
    if groups and len(groups[0]) < min_targets:
        raise ValueError(f"the power test needs at least {min_targets} cells per hologram; got {len(ids)} cells")
    combos = [(g, float(p)) for g in groups for p in powers_mw for _ in range(repetitions)]
    return [PlannedTrial(i, "power_test", "power", power_mw=combos[j][1], cells=combos[j][0])
            for i, j in enumerate(rng.permutation(len(combos)))]
