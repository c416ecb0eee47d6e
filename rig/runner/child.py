"""A helper server as a child process of the session runner (``python -m <module>``).

The child binds free loopback ports and announces them as one JSON line on its standard output; its standard input
is a pipe the runner never writes to, so the child stops when the runner is gone, even after ``kill -9``
(:mod:`rig.lifeline`). It is started in its own session (process group), so a Ctrl-C reaches only the runner, which
turns the laser off before it stops its children (:meth:`ChildProcess.stop`).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional, Sequence

from .errors import RunnerError

#: How long a child may take to import and bind, s.
STARTUP_TIMEOUT_S = 120.0


class ChildProcess:
    """``python -m module *args`` with the checkout on its path; ``what`` names it in errors."""

    def __init__(self, module: str, args: Sequence[str] = (), what: str = "the child process"):
        self.what = what
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])        # the checkout: works without an installed package
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        cmd = [sys.executable, "-m", module, "--log-level", str(level), *map(str, args)]
        kwargs = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        if os.name == "posix":
            kwargs["start_new_session"] = True                   # Ctrl-C goes to the runner only
        else:
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        self.proc = subprocess.Popen(cmd, **kwargs)
        self._line: queue.Queue = queue.Queue(maxsize=1)
        threading.Thread(target=self._read_line, name=f"{module}-stdout", daemon=True).start()
        self._announced: Optional[dict] = None

    def _read_line(self) -> None:
        try:
            line = self.proc.stdout.readline()
        except (OSError, ValueError):
            line = b""
        self._line.put(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def announcement(self, timeout_s: float = STARTUP_TIMEOUT_S) -> dict:
        """The JSON object the child printed once bound; RunnerError (child stopped) if it does not come."""
        if self._announced is None:
            try:
                line = self._line.get(timeout=timeout_s)
            except queue.Empty:
                self.stop()
                raise RunnerError(f"{self.what} did not start within {timeout_s:g} s") from None
            try:
                announced = json.loads(line.decode("utf-8"))
                if not isinstance(announced, dict):
                    raise ValueError(line)
            except ValueError:
                code = self.proc.poll()
                self.stop()
                raise RunnerError(f"{self.what} failed to start"
                                  + (f" (exit code {code}; its error is above)" if code is not None else
                                     f"; it printed {line[:200]!r}")) from None
            self._announced = announced
        return self._announced

    def stop(self, grace_s: float = 2.0) -> Optional[int]:
        """Stop the child: stdin closed (it stops serving), then SIGTERM, then SIGKILL; returns its exit code."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        for step in (None, self.proc.terminate, self.proc.kill):
            if step is not None and self.proc.poll() is None:
                try:
                    step()
                except OSError:
                    pass
            try:
                code = self.proc.wait(timeout=grace_s)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            code = self.proc.poll()
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        return code
