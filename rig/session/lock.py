"""A writer's claim on a session file, released by the operating system when the writer dies.

The HDF5 consistency flag alone cannot tell a live SWMR writer from a crashed one; this lock can. The writer
holds an exclusive lock on ``SESSION.h5.lock`` for as long as it has the file open; the kernel drops the lock
when the process ends, however it ends (``kill -9`` included).
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import SessionError

try:  # POSIX
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # Windows rig PCs
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


class WriterLock:
    """Exclusive claim on a session file; raises :class:`SessionError` if another live process holds it."""

    def __init__(self, path: Path):
        self.path = lock_path(Path(path))
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(self._fd):
            os.close(self._fd)
            raise SessionError(f"{path} is being written by another running process; wait for it to finish "
                               "or stop it first")
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        _unlock(self._fd)
        os.close(self._fd)
        self._fd = None


def writer_alive(path: Path) -> bool:
    """Whether a live process holds the writer lock of ``path``."""
    lock = lock_path(Path(path))
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        if _try_lock(fd):
            _unlock(fd)
            return False
        return True
    finally:
        os.close(fd)
