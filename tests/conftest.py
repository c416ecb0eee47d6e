"""Fixtures for the whole suite, and the sweep of processes the tests leave behind."""
import faulthandler
import gc
import os
import signal
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (configs/ lives there)."""
    return Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------ leftover processes
# Tests start servers, runners and online-analysis children as processes. One that outlives the test run keeps
# the run's stdout/stderr open, so whatever waits for the run's output waits for ever. Every process started
# from this run inherits the marker below; at the end, any still alive is reported and killed.
_RUN_MARKER = "HOLOSTIM_TEST_RUN"


def pytest_configure(config):
    os.environ[_RUN_MARKER] = f"{os.getpid()}-{time.time_ns()}"
    # A socket left open by a failed test, with unsent messages and the default linger (wait for ever), makes
    # the context's termination at interpreter exit block for ever: tests' sockets of the shared context
    # default to dropping unsent messages instead.
    import zmq

    zmq.Context.instance().setsockopt(zmq.LINGER, 0)


def _marked_processes(marker: str) -> list[int]:
    needle = f"{_RUN_MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:                     # gone, or not ours
            continue
    return found


def pytest_unconfigure(config):
    # Collect now, while the interpreter is whole: sockets and contexts held in reference cycles (a failed
    # test's traceback) are closed in order, not torn down in arbitrary order at exit.
    gc.collect()
    # Last resort: if the interpreter still hangs on the way out, dump every thread's stack and exit (status 1)
    # rather than stall the run. A C-level watchdog: it works during interpreter finalization too.
    faulthandler.dump_traceback_later(120, exit=True, file=sys.__stderr__)
    _kill_leftover_processes()


def _kill_leftover_processes() -> None:
    marker = os.environ.get(_RUN_MARKER)
    if not marker or not Path("/proc/self/environ").exists():
        return
    leftovers = _marked_processes(marker)
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if leftovers:
        print(f"\nkilled {len(leftovers)} process(es) left running by the tests: {leftovers}", file=sys.stderr)
