"""``holostim sim ensembles`` and the simulator's config section."""
import numpy as np
import pandas as pd
import pytest

from rig.cli import main
from rig.config import ConfigError, load_rig, validate_mapping
from sims.config import SimConfig
from sims.rehearsal import COLUMNS


def test_sim_ensembles_writes_the_documented_columns(tmp_path, capsys):
    out = tmp_path / "responses.csv"
    assert main(["sim", "ensembles", "--seed", "3", "--kind", "compact", "--n", "2", "--out", str(out),
                 "--trials", "2"]) == 0
    df = pd.read_csv(out)
    assert tuple(df.columns) == COLUMNS
    assert set(df.ensemble) == {0, 1}
    assert (df.groupby("ensemble").ensemble_spread_um.first() < 200).all()
    assert df.delta_ori_deg.between(0, 90).all() and df.po_deg.between(0, 180).all()
    assert df.excluded.dtype == bool and df.excluded.any()
    # excluded cells are close to a target; far cells are never excluded
    assert df.min_distance_um[df.excluded].max() < 50 and not df.excluded[df.min_distance_um > 50].any()
    # one row per non-target cell: every cell but the ten targets
    assert df.groupby("ensemble").size().nunique() == 1
    again = tmp_path / "again.csv"
    main(["sim", "ensembles", "--seed", "3", "--kind", "compact", "--n", "2", "--out", str(again), "--trials", "2"])
    assert out.read_text() == again.read_text()                 # same seed → identical output


def test_sim_ensembles_uses_the_rig_profile_and_expected_mode(tmp_path):
    out = tmp_path / "r.csv"
    assert main(["sim", "ensembles", "--kind", "untuned", "--n", "1", "--out", str(out),
                 "--rig", "configs/rig/sim.yaml", "--expected"]) == 0
    df = pd.read_csv(out)
    assert df.ensemble_osi.iloc[0] < 0.3
    assert np.isfinite(df.response).all()


def test_sim_ensembles_bad_input_exits_2(tmp_path, capsys):
    assert main(["sim", "ensembles", "--kind", "random", "--n", "0", "--out", str(tmp_path / "x.csv")]) == 2
    assert "--n" in capsys.readouterr().err
    assert main(["sim", "ensembles", "--kind", "random", "--out", str(tmp_path / "no" / "x.csv")]) == 2
    with pytest.raises(SystemExit) as err:
        main(["sim", "ensembles", "--kind", "sideways", "--out", str(tmp_path / "x.csv")])
    assert err.value.code == 2


def test_sim_section_of_the_preset_validates_and_rejects_nonsense():
    rig = load_rig("configs/rig/sim.yaml")
    assert isinstance(rig.sim, SimConfig) and rig.sim.opsin_negative_fraction == 0.2
    with pytest.raises(ConfigError, match="sigma_e_narrow_um"):
        validate_mapping({"kind": "rig", "sim": {"sigma_e_narrow_um": 500.0}})
    with pytest.raises(ConfigError, match="kappa_e"):
        validate_mapping({"kind": "rig", "sim": {"kappa_e": 2.0}})
