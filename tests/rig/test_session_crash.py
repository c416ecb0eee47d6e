"""The crash promise, tested for real: a writer process is SIGKILLed at random moments, and every file must
open with every committed trial intact (and be resumable)."""
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from rig.session import SessionReader, SessionWriter

sys.path.insert(0, str(Path(__file__).parent))
import session_writer_child as child  # noqa: E402

KILLS = 24


def _run_and_kill(tmp_path: Path, seed: int) -> tuple[Path, int]:
    """Start a writer, SIGKILL it after a random delay; return the file and the last trial it reported."""
    path = tmp_path / f"kill{seed}.h5"
    proc = subprocess.Popen([sys.executable, str(Path(child.__file__)), str(path), str(seed)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent)
    assert proc.stdout.readline().strip() == "created"
    time.sleep(np.random.default_rng(seed).uniform(0.0, 0.8))
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    committed = [int(line.split()[1]) for line in out.splitlines() if line.startswith("committed")]
    return path, (committed[-1] if committed else -1)


def _check_intact(path: Path, last_reported: int) -> int:
    with SessionReader(path) as reader:
        assert not reader.closed_cleanly
        trials = reader.trials()
        n = len(trials)
        # Everything reported committed is there; at most the trial in progress beyond it.
        assert n >= last_reported + 1
        assert n <= last_reported + 2
        for k in range(n):
            expected = child.trial_row(k)
            for column, value in expected.items():
                got = trials[column][k]
                assert got == value, (path, k, column, got, value)
            assert trials["trial"][k] == k
            np.testing.assert_array_equal(trials.response[k], child.trial_responses(k))
        frames_needed = child.FRAMES_PER_TRIAL * n
        planes = child.cell_planes()
        for p in range(3):
            traces = reader.traces(p)
            assert len(traces.frame) >= frames_needed
            for f in range(frames_needed):
                expected = child.frame_values(p, f, int((planes == p).sum()))
                np.testing.assert_array_equal(traces.F[f], expected)
                np.testing.assert_array_equal(traces.neuropil[f], -expected)
                assert traces.frame[f] == f
        events = reader.events()
        assert set(range(n)) <= set(events["trial"].tolist())
        for h in reader.holograms():
            np.testing.assert_array_equal(reader.hologram_phase(h.index), np.full(child.SLM_SHAPE, h.ensemble))
        return n


def test_sigkill_at_random_moments_keeps_every_committed_trial(tmp_path):
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda s: _run_and_kill(tmp_path, s), range(KILLS)))
    reported = [last for _, last in runs]
    assert sum(last >= 0 for last in reported) >= KILLS // 2, "kills should mostly land mid-session"
    for path, last in runs:
        _check_intact(path, last)


def test_sigkill_during_creation_leaves_no_file_or_a_readable_one(tmp_path):
    for seed in range(6):
        path = tmp_path / f"early{seed}.h5"
        proc = subprocess.Popen([sys.executable, str(Path(child.__file__)), str(path), str(seed)],
                                stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent)
        time.sleep(np.random.default_rng(seed).uniform(0.2, 1.0))  # imports take ~0.5 s: before or during create
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        committed = [int(line.split()[1]) for line in out.splitlines() if line.startswith("committed")]
        if path.exists():
            _check_intact(path, committed[-1] if committed else -1)
        else:
            assert not committed


def test_crashed_session_is_recovered_and_resumed(tmp_path):
    path, last = _run_and_kill(tmp_path, 1000)
    n = _check_intact(path, last)
    writer = SessionWriter.open(path)  # recovers: the crashed original is kept beside it
    assert writer.n_trials == n
    backups = list(tmp_path.glob("kill1000.crashed-*.h5"))
    assert len(backups) == 1
    writer.append_trial(child.trial_row(n), child.trial_responses(n))
    writer.close()
    with SessionReader(path) as reader:
        assert reader.closed_cleanly
        assert len(reader.trials()) == n + 1
        assert reader.trials()["power_mw"][n] == child.trial_row(n)["power_mw"]
    with SessionReader(backups[0]) as original:
        assert len(original.trials()) == n


def test_reader_follows_a_live_writer_from_another_process(tmp_path):
    path = tmp_path / "live.h5"
    proc = subprocess.Popen([sys.executable, str(Path(child.__file__)), str(path), "7"],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent)
    try:
        assert proc.stdout.readline().strip() == "created"
        while not proc.stdout.readline().startswith("committed 5"):
            pass
        with SessionReader(path) as reader:
            assert not reader.opened_cleanly
            first = len(reader.trials())
            assert first >= 6
            with pytest.raises(Exception, match="another running process"):
                SessionWriter.open(path)
            while not proc.stdout.readline().startswith(f"committed {first + 20}"):
                pass
            reader.refresh()
            assert len(reader.trials()) >= first + 20
    finally:
        proc.kill()
        proc.wait()
