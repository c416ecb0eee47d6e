"""A child server's tie to the process that started it: standard input.

The session runner starts its helper servers (online analysis, SLM) as child processes with a pipe on their
standard input and never writes to it. When the runner goes away — a normal exit, a crash, even ``kill -9`` — the
operating system closes the pipe and the child reads end-of-file: it stops serving, and if that does not happen
within :data:`ORPHAN_EXIT_S` it exits anyway. An orphan must never linger: it would hold a port, and the parent's
output pipes, for ever.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable

#: After its parent is gone, the child exits this long after asking its server to stop, stopped or not, s.
ORPHAN_EXIT_S = 10.0


def watch_stdin(stop: Callable[[], None], orphan_exit_s: float = ORPHAN_EXIT_S) -> threading.Thread:
    """Call ``stop`` when standard input closes; exit the process (status 3) ``orphan_exit_s`` later if still
    running. Returns the (daemon) watching thread."""
    fd = sys.stdin.fileno()

    def watch():
        try:
            while os.read(fd, 4096):       # the raw descriptor: no buffered-reader lock held at shutdown
                pass
        except OSError:
            pass
        stop()
        time.sleep(orphan_exit_s)          # a daemon thread: gone with the process when the server stops in time
        print(f"{os.path.basename(sys.argv[0])}: parent gone and the server did not stop; exiting",
              file=sys.stderr, flush=True)
        os._exit(3)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
