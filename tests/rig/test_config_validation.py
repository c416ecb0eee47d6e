"""Config models: presets validate, bad files get one message listing every wrong field."""
import json
from pathlib import Path

import pytest
import yaml

from rig.config import (ConfigError, Protocol, RigProfile, json_schema, load_config, load_optimizer_spec,
                        load_protocol, load_rig, validate_mapping)

PRESETS = ["configs/rig/sim.yaml", "configs/rig/meadowlark-3dshot.yaml", "configs/protocols/oldenburg2024.yaml",
           "configs/optimizer/oldenburg2024.yaml"]


@pytest.mark.parametrize("preset", PRESETS + sorted(str(p) for p in Path("configs").glob("**/*.yaml")))
def test_presets_validate(repo_root, preset):
    load_config(repo_root / preset)


def test_sim_preset_matches_seed_002(repo_root):
    rig = load_rig(repo_root / "configs/rig/sim.yaml")
    assert rig.backend == "sim" and rig.sim is not None
    assert rig.slm.shape == (1152, 1920) and rig.slm.min_targets == 3
    assert rig.imaging.planes_z_um == [-30.0, 0.0, 30.0] and rig.imaging.fov_um == (800.0, 800.0)
    assert rig.imaging.um_per_px[0] * 3 == pytest.approx(4.6875)  # seed 002: 3 px ≈ 4.7 µm
    # the 800 µm FOV lies inside the SLM's reachable field
    assert rig.slm.reachable_half_field_um > 400
    protocol = load_protocol(repo_root / "configs/protocols/oldenburg2024.yaml")
    assert protocol.power_test.powers_mw[0] == 12.5 and protocol.power_test.powers_mw[-1] == 100.0
    assert (protocol.power_test.pulses, protocol.power_test.pulse_ms) == (5, 5.0)
    assert (protocol.stimulation.pulses, protocol.stimulation.pulse_rate_hz) == (10, 10.0)
    assert protocol.exclusion.max_running_cm_s == 6.0 and protocol.exclusion.max_motion_px == 3.0
    assert protocol.exclusion.min_responding_fraction == 0.5
    assert protocol.optimizer.total_ensembles == 20
    assert all(g.cells == 10 for g in protocol.optimizer.ensembles)


def test_every_wrong_field_is_listed_with_path_value_and_allowed(repo_root):
    data = yaml.safe_load((repo_root / "configs/rig/sim.yaml").read_text())
    data["backend"] = "real"
    data["slm"]["pitch_um"] = -9.2
    data["slm"]["pich_um"] = 9.2
    data["laser"]["max_total_power_mw"] = "lots"
    data["imaging"]["planes_z_um"] = [0.0, 0.0]
    with pytest.raises(ConfigError) as err:
        validate_mapping(data, source="my-rig.yaml")
    message = str(err.value)
    assert message.startswith("my-rig.yaml: 5 problems:")
    assert "backend: got \"real\"; input should be 'sim' or 'hardware'" in message
    assert "slm.pitch_um: got -9.2; input should be greater than 0" in message
    assert "slm.pich_um: unknown setting; allowed here:" in message and "pitch_um" in message
    assert "laser.max_total_power_mw: got \"lots\"" in message
    assert "imaging.planes_z_um: got [0.0, 0.0]; plane depths must be distinct" in message


def test_cross_field_rules():
    with pytest.raises(ConfigError, match="needs every driver to be 'sim'"):
        validate_mapping({"kind": "rig", "backend": "sim", "slm": {"driver": "meadowlark"}})
    with pytest.raises(ConfigError, match="exceeds max_total_power_mw"):
        validate_mapping({"kind": "rig", "laser": {"max_power_per_target_mw": 500, "max_total_power_mw": 100}})
    with pytest.raises(ConfigError, match="not loopback; set allow_remote"):
        validate_mapping({"kind": "rig", "zmq": {"controller": "tcp://10.0.0.5:5555"}})
    ok = validate_mapping({"kind": "rig", "zmq": {"controller": "tcp://10.0.0.5:5555", "allow_remote": True}})
    assert ok.zmq.allow_remote
    with pytest.raises(ConfigError, match="3–20 ensembles"):
        validate_mapping({"kind": "optimizer", "ensembles": [{"count": 2}]})
    with pytest.raises(ConfigError, match="shorter than the pulse period"):
        validate_mapping({"kind": "protocol", "optimizer": {"ensembles": [{"count": 3}]},
                          "stimulation": {"pulse_ms": 150, "pulse_rate_hz": 10}})
    with pytest.raises(ConfigError, match="power_margin"):
        validate_mapping({"kind": "protocol", "optimizer": {"ensembles": [{"count": 3}]},
                          "power_test": {"power_margin": 2.0}})


def test_exclusion_rules_are_set_once_and_reach_the_online_pipeline():
    base = {"kind": "protocol", "optimizer": {"ensembles": [{"count": 3}]}}
    p = validate_mapping({**base, "exclusion": {"response_z": 0.4, "min_responding_fraction": 0.3,
                                                "max_motion_px": 2.0}})
    assert p.online.response_z_threshold == 0.4
    assert p.online.max_failed_fraction == pytest.approx(0.7)
    assert p.online.max_trial_motion_px == 2.0
    with pytest.raises(ConfigError, match="set these rules once"):
        validate_mapping({**base, "online": {"response_z_threshold": 0.9}})


def test_yaml_errors_and_kinds(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("slm:\n  pitch_um: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(broken)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    mystery = tmp_path / "m.yaml"
    mystery.write_text("colour: blue\n")
    with pytest.raises(ConfigError, match="cannot tell what kind"):
        load_config(mystery)
    rig = tmp_path / "r.yaml"
    rig.write_text("kind: rig\n")
    with pytest.raises(ConfigError, match="expected a protocol"):
        load_protocol(rig)
    assert isinstance(load_rig(rig), RigProfile)


def test_protocol_loads_optimizer_spec_by_relative_path(repo_root):
    protocol = load_protocol(repo_root / "configs/protocols/oldenburg2024.yaml")
    spec = load_optimizer_spec(repo_root / "configs/optimizer/oldenburg2024.yaml")
    assert protocol.optimizer == spec


def test_schema_covers_all_kinds():
    schema = json_schema()
    assert set(schema) == {"rig", "protocol", "optimizer"}
    assert "slm" in schema["rig"]["properties"]
    json.dumps(schema)
    assert Protocol.model_json_schema()["title"] == "Protocol"


def test_tuning_response_window_default_and_limit():
    base = {"kind": "protocol", "optimizer": {"ensembles": [{"count": 3}]}}
    # default: the grating plus the indicator's rise after it, at most half the ITI
    assert validate_mapping({**base, "tuning": {"stimulus_s": 1.0, "iti_s": 2.0}}).tuning.response_window_s == 2.0
    assert validate_mapping({**base, "tuning": {"stimulus_s": 1.0, "iti_s": 1.0}}).tuning.response_window_s == 1.5
    assert validate_mapping({**base, "tuning": {"response_s": 1.2}}).tuning.response_window_s == 1.2
    with pytest.raises(ConfigError, match="must not run into the next grating"):
        validate_mapping({**base, "tuning": {"stimulus_s": 1.0, "iti_s": 2.0, "response_s": 3.5}})
