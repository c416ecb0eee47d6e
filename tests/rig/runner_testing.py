"""Shared pieces of the session-runner tests: a tiny protocol (every stage, few trials) and file helpers."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

#: Every stage of the seed-002 protocol with as few trials as still exercise them (~25 s on 2 cores).
TINY_PROTOCOL = """\
kind: protocol
name: tiny
power_test:
  powers_mw: [25.0, 50.0, 75.0]
  cells_per_group: 5
  pulses: 5
  pulse_ms: 5.0
  pulse_rate_hz: 30.0
  repetitions: 1
  iti_s: 1.0
  power_margin: 1.15
tuning:
  directions_deg: [0, 90, 180, 270]
  blank: true
  repetitions: 2
  stimulus_s: 1.0
  iti_s: 1.0
stimulation:
  pulses: 10
  pulse_rate_hz: 10.0
  pulse_ms: 5.0
  repetitions: 3
  no_stim_repetitions: 2
  iti_s: 0.5
  baseline_s: 1.0
  response_s: 1.5
optimizer:
  kind: optimizer
  ensembles:
    - {count: 3, spatial: any, tuning: any}
  min_distance_um: 30.0
  restarts: 1
  seed: 0
online:
  reference_frames: 30
ppsf: false
"""

SEED = 3


def write_rig(folder: Path, repo_root: Path) -> Path:
    """The default simulated rig with steadier imaging (small motion, no jumps), so few trials are lost to the
    seed-002 motion rule and the tiny protocol keeps enough valid trials to analyse."""
    import yaml

    data = yaml.safe_load((repo_root / "configs/rig/sim.yaml").read_text())
    data["sim"] = {**(data.get("sim") or {}), "motion_step_px": 0.05, "motion_jump_rate_hz": 0.0}
    path = folder / "rig.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def write_protocol(folder: Path) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(TINY_PROTOCOL)
    return path


def datasets(path: Path) -> dict:
    """Every dataset of a session file (compound ones without their wall-clock 'utc' column)."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                value = obj[()]
                if isinstance(value, np.ndarray) and value.dtype.names and "utc" in value.dtype.names:
                    value = value[[n for n in value.dtype.names if n != "utc"]]
                out[name] = value
        f.visititems(visit)
    return out


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) and a.dtype.names:
        return len(a) == len(b) and all(np.array_equal(a[n], b[n], equal_nan=a[n].dtype.kind == "f")
                                        for n in a.dtype.names)
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)
