"""Trial schedules (randomized, interleaved, reproducible) and the seed-002 exclusion rules."""
from collections import Counter

import numpy as np
import pytest

from rig.config import ExclusionConfig
from rig.schedule import power_test_schedule, stimulation_schedule, tuning_retakes, tuning_schedule
from rig.trial_checks import check_trial


def test_tuning_schedule_balanced_random_and_reproducible():
    a = tuning_schedule([0, 45, 90, 135, 180, 225, 270, 315], True, 10, seed=3)
    assert len(a) == 90
    counts = Counter((t.condition, t.direction_deg if t.condition == "grating" else None) for t in a)
    assert set(counts.values()) == {10} and len(counts) == 9
    for r in range(10):  # every repetition holds each condition once
        assert len({(t.condition, t.direction_deg) for t in a[9 * r:9 * r + 9] if t.condition == "grating"}) == 8
    assert repr(a) == repr(tuning_schedule([0, 45, 90, 135, 180, 225, 270, 315], True, 10, seed=3))  # NaN-safe
    assert repr(a) != repr(tuning_schedule([0, 45, 90, 135, 180, 225, 270, 315], True, 10, seed=4))


def _key(t):
    return (t.condition, t.direction_deg if t.condition == "grating" else None)


def test_tuning_retakes_make_up_exactly_the_missing_valid_trials():
    plan = tuning_schedule([0, 90, 180, 270], True, 5, seed=2)
    valid = np.ones(len(plan), bool)
    lost = [0, 3, 4, 11, 17]                       # five exclusions, some of one condition twice
    valid[lost] = False
    retakes = tuning_retakes(plan, valid, 5, seed=2, limit=100)
    assert Counter(_key(t) for t in retakes) == Counter(_key(plan[i]) for i in lost)
    assert [t.index for t in retakes] == list(range(len(plan), len(plan) + len(lost)))
    assert all(t.block == "tuning" for t in retakes)
    assert repr(retakes) == repr(tuning_retakes(plan, valid, 5, seed=2, limit=100))     # same seed, same draw
    assert len(tuning_retakes(plan, valid, 5, seed=2, limit=3)) == 3                     # capped
    assert tuning_retakes(plan, valid, 5, seed=2, limit=0) == []
    assert tuning_retakes(plan, np.ones(len(plan), bool), 5, seed=2, limit=100) == []    # nothing missing
    # a second round counts the first round's outcome: only what is still missing comes back
    done = plan + retakes
    again = np.r_[valid, [True] * (len(retakes) - 1), [False]]
    second = tuning_retakes(done, again, 5, seed=2, limit=100)
    assert [_key(t) for t in second] == [_key(retakes[-1])]
    with pytest.raises(ValueError, match="validity"):
        tuning_retakes(plan, valid[:-1], 5, seed=2, limit=10)


def test_stimulation_schedule_interleaves_without_back_to_back_repeats():
    trials = stimulation_schedule(20, 15, 15, seed=1)
    assert len(trials) == 20 * 15 + 15
    counts = Counter(t.ensemble for t in trials)
    assert counts[-1] == 15 and all(counts[e] == 15 for e in range(20))
    order = [t.ensemble for t in trials]
    assert all(not (a == b and a >= 0) for a, b in zip(order, order[1:]))
    assert order != sorted(order)
    assert repr(trials) == repr(stimulation_schedule(20, 15, 15, seed=1))
    assert order != [t.ensemble for t in stimulation_schedule(20, 15, 15, seed=2)]


def test_power_test_schedule_covers_every_cell_at_every_power():
    powers = [12.5, 25.0, 50.0, 100.0]
    trials = power_test_schedule(range(102), powers, 5, 3, seed=0)
    per_cell = Counter((c, t.power_mw) for t in trials for c in t.cells)
    assert len(per_cell) == 102 * 4 and set(per_cell.values()) == {3}
    assert min(len(t.cells) for t in trials) >= 3          # a 2-cell remainder was merged
    with pytest.raises(ValueError, match="at least 3 cells"):
        power_test_schedule([1, 2], powers, 5, 1, seed=0)


def test_exclusion_rules_of_seed_002():
    ex = ExclusionConfig()
    calm = check_trial(ex, [0.5, 2.0], np.zeros((4, 2)), np.ones(10))
    assert calm.valid and calm.reasons == [] and calm.responding_fraction == 1.0
    running = check_trial(ex, [0.5, 6.5], np.zeros((4, 2)), np.ones(10))
    assert not running.valid and running.reasons == ["running"]
    moved = check_trial(ex, [0.0], np.array([[0, 0], [2.5, 2.0]]), np.ones(10))   # |(2.5, 2)| = 3.2 px
    assert moved.reasons == ["motion"] and moved.max_shift_px == pytest.approx(np.hypot(2.5, 2.0))
    z = np.array([0.3] * 4 + [0.1] * 6)                                              # 40 % responded
    assert check_trial(ex, [0.0], np.zeros((1, 2)), z).reasons == ["targets"]
    z = np.array([0.25] * 6 + [0.0] * 4)                                              # 60 % responded
    assert check_trial(ex, [0.0], np.zeros((1, 2)), z).valid
    z = np.array([0.3] * 5 + [0.0] * 5)                            # seed 002: "50 % or more failed" → excluded
    assert check_trial(ex, [0.0], np.zeros((1, 2)), z).reasons == ["targets"]
    dropped = check_trial(ex, [7.0], np.zeros((1, 2)), None, dropped_frames=2)
    assert dropped.reasons == ["running", "dropped_frames"]
