"""Session reader: opens a session file (finished, crashed, or still being written) and returns typed objects.

A file whose writer is alive or died keeps HDF5's consistency flag set; a plain open fails on it, so the reader
falls back to a SWMR open, which sees every flushed (committed) trial. Call :meth:`SessionReader.refresh` to
follow a live writer.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

import h5py
import numpy as np

from . import format as fmt
from .errors import SessionError
from .recover import committed_trials
from .records import (Behaviour, Calibration, Cells, Ensemble, Events, HologramRecord, PlaneTraces, PowerTest,
                      SessionInfo, TrialTable, Tuning)


def _text(ds: h5py.Dataset) -> str:
    value = ds[()]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class SessionReader:
    """Read a session file. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        if not self.path.exists():
            raise SessionError(f"{self.path} does not exist")
        try:
            self._f = h5py.File(self.path, "r")
            self.opened_cleanly = True
        except OSError:
            try:
                self._f = h5py.File(self.path, "r", swmr=True)
            except OSError as err:
                raise SessionError(f"{self.path} is not a readable HDF5 file ({err})") from None
            self.opened_cleanly = False
        if self._f.attrs.get("format") != fmt.FORMAT_NAME:
            self._f.close()
            raise SessionError(f"{self.path} is an HDF5 file but not a holostim session")
        version = str(self._f.attrs["format_version"])
        if version.split(".")[0] != fmt.FORMAT_VERSION.split(".")[0]:
            self._f.close()
            raise SessionError(f"{self.path} has session format {version}; this holostim reads "
                               f"{fmt.FORMAT_VERSION.split('.')[0]}.x — use a matching holostim version")
        self.format_version = version

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "SessionReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def refresh(self) -> None:
        """See what a live writer has flushed since the last look (SWMR readers only)."""
        if not self.opened_cleanly:
            def visit(_name, obj):
                if isinstance(obj, h5py.Dataset):
                    obj.refresh()
            self._f.visititems(visit)

    # ------------------------------------------------------------------------------------------------ metadata
    @property
    def seed(self) -> int:
        return int(self._f.attrs["seed"])

    @property
    def rig_text(self) -> str:
        """The rig profile as given (YAML)."""
        return _text(self._f["meta/rig_yaml"])

    @property
    def protocol_text(self) -> str:
        """The protocol as given (YAML)."""
        return _text(self._f["meta/protocol_yaml"])

    @property
    def rig(self):
        """The validated rig profile (:class:`rig.config.RigProfile`)."""
        from rig.config import RigProfile

        return RigProfile.model_validate_json(_text(self._f["meta/rig_json"]))

    @property
    def protocol(self):
        """The validated protocol (:class:`rig.config.Protocol`)."""
        from rig.config import Protocol

        return Protocol.model_validate_json(_text(self._f["meta/protocol_json"]))

    @property
    def software(self) -> dict[str, str]:
        return json.loads(_text(self._f["meta/software"]))

    @property
    def extra(self) -> dict:
        return json.loads(_text(self._f["meta/extra_json"]))

    def stages(self) -> list[tuple[str, float, str]]:
        """(name, t_s, utc) of each completed stage, in order, including 'closed' markers."""
        return [(r["name"].decode(), float(r["t_s"]), r["utc"].decode()) for r in self._f["stages"][...]]

    @property
    def closed_cleanly(self) -> bool:
        """The writer closed the file (its last act was the 'closed' marker) and the file opens plainly."""
        names = [s[0] for s in self.stages()]
        return self.opened_cleanly and bool(names) and names[-1] == fmt.CLOSED_STAGE

    # ------------------------------------------------------------------------------------------------ contents
    def cells(self) -> Cells:
        g = self._f["cells"]
        return Cells(**{name: g[name][...] for name in (
            "id", "position_um", "plane", "pixel_rc", "red", "mask_start", "mask_count", "mask_pixels",
            "mask_weights")})

    def calibration(self) -> Optional[Calibration]:
        data = self._f["calibration/model_json"][...]
        if not len(data):
            return None
        return Calibration(json.loads(data.tobytes().decode("utf-8")), self._f["calibration/residual_um"][...])

    def ppsf_fwhm_um(self) -> np.ndarray:
        """Measured (radial, axial) PPSF FWHM per cell, µm; empty if not measured."""
        return self._f["ppsf/fwhm_um"][...]

    def power_test(self) -> Optional[PowerTest]:
        g = self._f["power_test"]
        if not len(g["powers_mw"]):
            return None
        return PowerTest(g["powers_mw"][...], g["response"][...], g["stimmable_power_mw"][...])

    def tuning(self) -> Optional[Tuning]:
        g = self._f["tuning"]
        if not len(g["directions_deg"]):
            return None
        return Tuning(**{name: g[name][...] for name in (
            "directions_deg", "mean", "sem", "blank_mean", "po_deg", "osi", "gosi", "responsive", "p_anova")})

    def ensembles(self) -> list[Ensemble]:
        table = self._f["ensembles/table"][...]
        targets = self._f["ensembles/targets"][...]
        out = []
        for row in table:
            mine = targets[targets["ensemble"] == row["ensemble"]]
            out.append(Ensemble(
                index=int(row["ensemble"]), cells=mine["cell"], power_mw=mine["power_mw"],
                spatial=row["spatial"].decode(), tuning=row["tuning"].decode(),
                target_orientation_deg=float(row["target_orientation_deg"]),
                orientation_deg=float(row["orientation_deg"]), spread_um=float(row["spread_um"]),
                ensemble_osi=float(row["ensemble_osi"]), mean_osi=float(row["mean_osi"])))
        return out

    def holograms(self) -> list[HologramRecord]:
        return [HologramRecord(int(r["hologram"]), int(r["ensemble"]), int(r["n_targets"]),
                               float(r["laser_power_mw"]), float(r["efficiency"]), float(r["uniformity"]))
                for r in self._f["holograms/table"][...]]

    def hologram_phase(self, index: int) -> np.ndarray:
        """Phase mask ``index`` (float32 radians, SLM shape)."""
        n = len(self._f["holograms/table"])
        if not 0 <= index < n:
            raise SessionError(f"hologram {index} does not exist; the session has {n}")
        return self._f["holograms/phase"][index]

    def trials(self) -> TrialTable:
        """Committed trials only: a row cut short by a crash is left out."""
        table = self._f["trials/table"][...]
        n = committed_trials(table)
        response = self._f["trials/response"][:n]
        return TrialTable(table[:n], response)

    @property
    def n_planes(self) -> int:
        return int(self._f.attrs["n_planes"])

    def traces(self, plane: int) -> PlaneTraces:
        key = f"traces/plane{plane}"
        if key not in self._f:
            raise SessionError(f"plane {plane} does not exist; the session has {self.n_planes} planes")
        g = self._f[key]
        # Under SWMR, datasets flushed together can differ by a batch: keep frames present in all of them.
        n = min(g[name].shape[0] for name in ("F", "neuropil", "frame", "t_s", "shift_px"))
        return PlaneTraces(plane, g["cells"][...], g["F"][:n], g["neuropil"][:n], g["frame"][:n],
                           g["t_s"][:n], g["shift_px"][:n])

    def events(self) -> Events:
        return Events(self._f["events"][...])

    def behaviour(self) -> Behaviour:
        rows = self._f["behaviour"][...]
        return Behaviour(rows["t_s"], rows["frame"], rows["running_cm_s"])

    def info(self) -> SessionInfo:
        """Summary: format, configs, stages, counts, and whether the file was closed cleanly."""
        trials = self.trials()
        blocks = trials["block"]
        valid = trials.valid
        rig = self.rig
        protocol = self.protocol
        return SessionInfo(
            path=str(self.path), format_version=self.format_version,
            created_utc=str(self._f.attrs["created_utc"]), seed=self.seed, software=self.software,
            rig_name=rig.name, backend=rig.backend, protocol_name=protocol.name,
            stages=[s[0] for s in self.stages() if s[0] != fmt.CLOSED_STAGE],
            closed_cleanly=self.closed_cleanly,
            n_cells=len(self._f["cells/id"]), n_ensembles=len(self._f["ensembles/table"]),
            n_holograms=len(self._f["holograms/table"]), n_trials=len(trials), n_trials_valid=int(valid.sum()),
            trials_by_block={b: int((blocks == b).sum()) for b in fmt.BLOCKS if (blocks == b).any()},
            valid_by_block={b: int(valid[blocks == b].sum()) for b in fmt.BLOCKS if (blocks == b).any()},
            n_frames=[int(self._f[f"traces/plane{k}/frame"].shape[0]) for k in range(self.n_planes)],
            n_events=len(self._f["events"]))
