"""Recovery of a session file whose writer died (``kill -9``, power cut) before closing it.

HDF5 leaves such a file's consistency flag set: a plain open fails and only a SWMR reader gets in. To append
again (``holostim resume``), the file is rebuilt: its contents are copied through a SWMR reader into a fresh
file, trial rows cut short by the crash are dropped, and the fresh file takes the original's place. The
original is kept beside it, renamed, so nothing already saved is lost.
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import h5py
import numpy as np

from .errors import SessionError
from .lock import writer_alive


def _opens_cleanly(path: Path) -> bool:
    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False


def needs_recovery(path: Path) -> bool:
    """True when ``path`` was left open by a writer that is no longer running."""
    path = Path(path)
    if _opens_cleanly(path):
        return False
    if writer_alive(path):
        raise SessionError(f"{path} is being written by another running process; stop it before resuming")
    try:
        with h5py.File(path, "r", swmr=True):
            return True
    except OSError as err:
        raise SessionError(f"{path} cannot be opened even by a SWMR reader ({err}); it is not a session "
                           "file or it is damaged") from None


def committed_trials(table: np.ndarray) -> int:
    """Number of leading trial rows that were completely written (their ``trial`` equals their index)."""
    ok = table["trial"] == np.arange(len(table))
    return int(len(table) if ok.all() else np.argmin(ok))


def recover_session(path: Path) -> Path:
    """Rebuild a crashed session file in place; return where the original was kept."""
    path = Path(path)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    backup = path.with_name(f"{path.stem}.crashed-{stamp}{path.suffix}")
    rebuilt = path.with_name(path.name + ".recovering")
    with h5py.File(path, "r", swmr=True) as src, h5py.File(rebuilt, "w", libver="latest") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            src.copy(src[name], dst, name=name)
        n = committed_trials(dst["trials/table"][...])
        dst["trials/table"].resize(n, axis=0)
        dst["trials/response"].resize(n, axis=0)
    os.replace(path, backup)
    os.replace(rebuilt, path)
    return backup
