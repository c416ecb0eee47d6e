"""The holostim command line: help, version, config validate/schema, session info; exit codes."""
import json
import subprocess
import sys

import numpy as np

from rig.cli import main
from rig.config import load_protocol, load_rig
from rig.session import SessionWriter


def test_help_and_version(capsys):
    assert main([]) == 0
    assert "config" in capsys.readouterr().out
    proc = subprocess.run([sys.executable, "-m", "rig.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("holostim ")


def test_config_validate_good_and_bad(repo_root, tmp_path, capsys):
    assert main(["config", "validate", str(repo_root / "configs/rig/sim.yaml")]) == 0
    assert "valid rig config" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: rig\nslm: {pitch_um: 0, shape: [1152]}\nlaser: {max_power_per_target_mw: -1}\n")
    assert main(["config", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err and "slm.pitch_um" in err and "slm.shape" in err and "laser." in err
    assert "Traceback" not in err


def test_config_schema_is_json(capsys):
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"rig", "protocol", "optimizer"} <= set(schema)


def test_session_info_text_and_json(repo_root, tmp_path, capsys):
    path = tmp_path / "s.h5"
    rig = load_rig(repo_root / "configs/rig/sim.yaml")
    rig.slm.shape = (16, 16)
    with SessionWriter.create(path, rig=rig, protocol=load_protocol(repo_root / "configs/protocols/oldenburg2024.yaml"),
                              seed=5, rig_text="kind: rig\n") as w:
        w.write_cells([1, 2, 3], np.zeros((3, 3)), [0, 1, 2])
        w.append_trial({"block": "stim", "condition": "ensemble", "valid": False, "invalid_flags": 1})
        w.append_trial({"block": "stim", "condition": "no_stim"})
    assert main(["session", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cells          3" in out and "2 written, 1 valid" in out and "closed cleanly yes" in out
    assert main(["session", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_trials"] == 2 and info["n_trials_valid"] == 1 and info["closed_cleanly"] is True
    assert info["stages"] == ["targets"] and info["configs"]["rig"] == "kind: rig\n"
    assert main(["session", "info", str(tmp_path / "nope.h5")]) == 2
