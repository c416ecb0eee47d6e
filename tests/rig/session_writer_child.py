"""A process that writes a session with deterministic contents, reporting each committed trial on stdout.

Used by test_session_crash.py, which SIGKILLs it at random moments. Usage: python session_writer_child.py PATH SEED
"""
import sys
import time

import numpy as np

from rig.config import OptimizerSpec, Protocol, RigProfile
from rig.session import SessionWriter

N_CELLS = 24
FRAMES_PER_TRIAL = 3
SLM_SHAPE = (64, 96)


def make_configs():
    rig = RigProfile(slm={"shape": SLM_SHAPE}, imaging={"planes_z_um": [-30.0, 0.0, 30.0]})
    protocol = Protocol(optimizer=OptimizerSpec(ensembles=[{"count": 3}]))
    return rig, protocol


def cell_planes():
    return np.arange(N_CELLS) % 3


def trial_row(k):
    return {"block": "stim", "condition": "ensemble" if k % 4 else "no_stim", "ensemble": k % 7,
            "direction_deg": float(k % 8) * 45.0, "power_mw": 10.0 + k, "t_start_s": 2.0 * k,
            "t_end_s": 2.0 * k + 1.5, "frame_start": FRAMES_PER_TRIAL * k,
            "frame_end": FRAMES_PER_TRIAL * (k + 1), "valid": k % 5 != 0, "invalid_flags": 1 if k % 5 == 0 else 0}


def trial_responses(k):
    return (k + np.arange(N_CELLS) / 1000.0).astype(np.float32)


def frame_values(plane, frame, n):
    return (1000.0 * frame + 10.0 * plane + np.arange(n)).astype(np.float32)


def main(path, seed):
    rng = np.random.default_rng(seed)
    rig, protocol = make_configs()
    w = SessionWriter.create(path, rig=rig, protocol=protocol, seed=seed)
    planes = cell_planes()
    w.write_cells(np.arange(N_CELLS), rng.random((N_CELLS, 3)), planes,
                  masks=[(np.arange(4) + i, np.ones(4)) for i in range(N_CELLS)])
    print("created", flush=True)
    for k in range(100000):
        for f in range(FRAMES_PER_TRIAL * k, FRAMES_PER_TRIAL * (k + 1)):
            for p in range(3):
                n = int((planes == p).sum())
                v = frame_values(p, f, n)
                w.append_frames(p, v[None], -v[None], [f], [f * 0.5])
        w.append_event("photostim_on", 2.0 * k, frame=FRAMES_PER_TRIAL * k, trial=k, value=k)
        if k % 10 == 3:
            w.append_hologram(np.full(SLM_SHAPE, k, np.float32), ensemble=k, n_targets=10, laser_power_mw=k,
                              efficiency=0.8, uniformity=0.97)
        w.append_trial(trial_row(k), trial_responses(k))
        print(f"committed {k}", flush=True)
        time.sleep(rng.uniform(0, 0.004))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
