"""A dry run on the simulated microscope, scored against the planted truth (online analysis on simulator movies).

The session runs the seed-002 tuning block at 10 repetitions (the preset has 40; 10 keeps the test short) and the
full power test (12.5–100 mW in 12.5 mW steps, 3 repetitions) on a 400 µm field, then
:func:`rig.ground_truth.score_session` matches every found cell to the simulated soma it images. Thresholds sit below the measured figures (docs/online.md, "Accuracy on the
simulator") with a margin for the finite sample; each fails for a broken stage: a random PO gives ~45°, an OSI
unrelated to tuning r ≈ 0, a power test that ignores the responses is steps off.
"""
from pathlib import Path

import numpy as np
import pytest
import yaml

from rig.cli import main
from rig.ground_truth import format_score, score_session

ROOT = Path(__file__).resolve().parents[2]

PROTOCOL = """\
kind: protocol
name: accuracy
power_test:
  powers_mw: [12.5, 25.0, 37.5, 50.0, 62.5, 75.0, 87.5, 100.0]
  repetitions: 3
tuning:
  repetitions: 10
  iti_s: 2.0
stimulation:
  repetitions: 1
  no_stim_repetitions: 1
optimizer:
  kind: optimizer
  ensembles:
    - {count: 4, spatial: any, tuning: any}
  min_distance_um: 30.0
  restarts: 1
  seed: 0
"""


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("truth")
    rig = yaml.safe_load((ROOT / "configs/rig/sim.yaml").read_text())
    rig["imaging"].update(fov_um=[400.0, 400.0], pixels=[256, 256])   # same pixel size, a quarter of the cells
    (folder / "rig.yaml").write_text(yaml.safe_dump(rig))
    (folder / "protocol.yaml").write_text(PROTOCOL)
    out = folder / "s.h5"
    code = main(["-q", "dry-run", "--rig", str(folder / "rig.yaml"), "--protocol", str(folder / "protocol.yaml"),
                 "--out", str(out), "--no-progress", "--seed", "0"])
    assert code == 0
    score = score_session(out)
    print(format_score(score))
    return score


def test_every_found_cell_is_a_simulated_soma(scored):
    assert scored["cells_found"] > 100
    assert scored["cells_matched"] == scored["cells_found"]


def test_visual_responsiveness_found(scored):
    assert scored["responsive_recall"] > 0.6
    assert scored["responsive_false_positive_rate"] < 0.2


def test_preferred_orientation_within_10_degrees(scored):
    assert scored["po_cells"] > 30
    assert scored["po_median_error_deg"] < 10.0


def test_osi_follows_planted_osi(scored):
    assert scored["osi_cells"] > 30
    assert scored["osi_correlation"] > 0.7
    assert abs(scored["osi_bias"]) < 0.1
    # the analysis of imaged trials should not beat exact spike counts (beyond the sampling of ~90 cells), and
    # should come close to them: 0.79 against 0.85 here with the matched responses; the window estimator with a
    # blank reference was ~0.15 below the ceiling (docs/online.md)
    assert scored["osi_correlation"] < scored["osi_correlation_ceiling"] + 0.05
    assert scored["osi_correlation"] > scored["osi_correlation_ceiling"] - 0.11


@pytest.fixture(scope="module")
def population():
    import sims

    rig = yaml.safe_load((ROOT / "configs/rig/sim.yaml").read_text())
    from rig.config import RigProfile

    return sims.build_microscope(RigProfile.model_validate(rig), seed=3).population


def test_osi_ceiling_rises_with_repetitions_towards_one(population):
    from rig.ground_truth import osi_correlation_ceiling

    cells = np.flatnonzero(population.responsive)[:300]
    kw = dict(directions_deg=[0, 45, 90, 135, 180, 225, 270, 315], stimulus_s=1.0, draws=5)
    ceiling = [osi_correlation_ceiling(population, cells, repetitions=r, **kw) for r in (3, 10, 40, 2000)]
    assert np.all(np.diff(ceiling) > 0)                      # more trials, less Poisson noise
    assert ceiling[-1] > 0.99                                # the estimator is unbiased in the limit
    assert 0.3 < ceiling[1] < 0.97                           # 10 trials: Poisson counts of a few spikes
    # a longer grating is more spikes per trial: less relative noise
    assert osi_correlation_ceiling(population, cells, repetitions=10, **{**kw, "stimulus_s": 4.0}) > ceiling[1]


def test_power_test_recovers_planted_stimmable_power(scored):
    assert scored["power_test_cells"] >= 30
    assert scored["power_within_one_step"] >= 0.8
    assert abs(scored["power_median_error_steps"]) < 0.5     # unbiased: not systematically a step low or high
