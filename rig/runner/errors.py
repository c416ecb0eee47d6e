"""Errors of the session runner: one a user can fix (exit code 2) and a pause (exit code 3)."""
from __future__ import annotations


class RunnerError(ValueError):
    """A session cannot run as configured; the message says what to change."""

    exit_code = 2


class SessionPaused(RuntimeError):
    """The session stopped safely (laser off first) and can be continued with ``holostim resume``."""

    exit_code = 3
