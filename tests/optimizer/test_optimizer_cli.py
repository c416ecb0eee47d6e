"""`holostim optimize` round trip: CSV in, JSON out, table printed; user errors exit 2 without a traceback."""
import json

import numpy as np
import pandas as pd
import pytest

from optimizer import synthetic_cells
from rig.cli import main

SPEC = """\
kind: optimizer
ensembles:
  - {count: 2, spatial: compact, tuning: cotuned}
  - {count: 2, spatial: diffuse, tuning: untuned}
sweeps: 10
restarts: 1
time_budget_s: 30
seed: 4
"""


@pytest.fixture()
def files(tmp_path):
    cells = synthetic_cells(800, seed=9)
    cells["id"] = [f"c{i:04d}" for i in range(len(cells))]       # string ids survive the round trip
    csv = tmp_path / "cells.csv"
    cells.to_csv(csv, index=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    return cells, csv, spec, tmp_path / "ensembles.json"


def test_csv_round_trip(files, capsys):
    cells, csv, spec, out = files
    assert main(["optimize", str(csv), "--spec", str(spec), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [e["spatial"] for e in data["ensembles"]] == ["compact", "compact", "diffuse", "diffuse"]
    assert [e["tuning"] for e in data["ensembles"]] == ["cotuned", "cotuned", "untuned", "untuned"]
    by_id = cells.set_index("id")
    for ens in data["ensembles"]:
        assert len(ens["cells"]) == 10 and set(ens["cells"]) <= set(by_id.index)
        xyz = by_id.loc[ens["cells"], ["x_um", "y_um", "z_um"]].to_numpy()
        d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)[np.triu_indices(10, 1)]
        assert d.mean() == pytest.approx(ens["spread_um"]) and d.min() >= 30
        assert ens["total_power_mw"] == pytest.approx(by_id.loc[ens["cells"], "power_mw"].sum())
        assert ens["rules_met"]
    printed = capsys.readouterr().out
    assert "spread" in printed and "ensOSI" in printed and "wrote 4 ensembles" in printed
    # same seed through the CLI → same file
    again = out.with_name("again.json")
    assert main(["optimize", str(csv), "--spec", str(spec), "--out", str(again)]) == 0
    assert [e["cells"] for e in json.loads(again.read_text())["ensembles"]] == \
        [e["cells"] for e in data["ensembles"]]


def test_user_errors_exit_2_and_leave_no_file(files, capsys):
    cells, csv, spec, out = files
    broken = csv.with_name("broken.csv")
    cells.drop(columns=["power_mw"]).to_csv(broken, index=False)
    assert main(["optimize", str(broken), "--spec", str(spec), "--out", str(out)]) == 2
    assert "power_mw" in capsys.readouterr().err and not out.exists()
    assert main(["optimize", str(csv), "--spec", str(spec), "--out", str(out), "--sweeps", "0"]) == 2
    assert main(["optimize", str(csv.with_name("nope.csv")), "--spec", str(spec), "--out", str(out)]) == 2


def test_parquet_without_pyarrow_says_what_to_do(files, capsys):
    pytest.importorskip("pandas")
    try:
        import pyarrow  # noqa: F401
        pytest.skip("pyarrow is installed")
    except ImportError:
        pass
    cells, csv, spec, out = files
    parquet = csv.with_suffix(".parquet")
    parquet.write_bytes(b"PAR1")
    assert main(["optimize", str(parquet), "--spec", str(spec), "--out", str(out)]) == 2
    assert "pyarrow" in capsys.readouterr().err


def test_parquet_round_trip_when_pyarrow_is_present(files):
    pytest.importorskip("pyarrow")
    cells, csv, spec, out = files
    parquet = csv.with_suffix(".parquet")
    pd.read_csv(csv).to_parquet(parquet)
    assert main(["optimize", str(parquet), "--spec", str(spec), "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["ensembles"]) == 4
