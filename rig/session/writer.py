"""Crash-safe session writer: one HDF5 file per session, appended as the experiment runs.

How the crash promise is kept:

* The whole layout (every group and resizable dataset, see :mod:`rig.session.format`) is built in a temporary
  file that is renamed into place only when complete, so the session path never holds a half-built file.
* The file is then reopened in HDF5 SWMR mode and only ever appended to. In SWMR mode HDF5 writes its metadata
  in dependency order, so a second process can follow the file live and a ``kill -9`` leaves a file that a
  SWMR reader opens (:class:`rig.session.reader.SessionReader` does this by itself).
* A trial is committed write-ahead: its frames and events are flushed first, then its row in the trial table,
  then the file is flushed again. A kill loses at most the trial in progress. Rows are pre-filled with
  ``trial = -1`` so a row whose write was cut short is recognised and skipped.

After a crash the file's consistency flag stays set and HDF5 refuses to open it for writing;
:meth:`SessionWriter.open` rebuilds it with :func:`rig.session.recover.recover_session` (keeping the original)
before appending again.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import h5py
import numpy as np

from . import format as fmt
from .errors import SessionError
from .lock import WriterLock

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def software_versions() -> dict[str, str]:
    """Versions of holostim and of the libraries that shape the results."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "hdf5": h5py.version.hdf5_version}
    for dist in ("holostim", "numpy", "scipy", "h5py", "pydantic", "pyzmq", "scikit-image", "opencv-python-headless"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return versions


def _resizable(group: h5py.Group, name: str, shape: tuple, dtype, chunks: tuple, fill=None, **kw) -> h5py.Dataset:
    maxshape = tuple(None for _ in shape)
    return group.create_dataset(name, shape=shape, maxshape=maxshape, dtype=dtype, chunks=chunks,
                                fillvalue=fill, **kw)


def build_layout(f: h5py.File, *, n_planes: int, slm_shape: tuple[int, int],
                 n_directions: int, n_powers: int) -> None:
    """Create every group and dataset of an empty session (format :data:`rig.session.format.FORMAT_VERSION`)."""
    nan32 = np.float32(np.nan)
    _resizable(f, "stages", (0,), fmt.STAGE_DTYPE, (64,))

    cells = f.create_group("cells")
    _resizable(cells, "id", (0,), "<i8", (1024,), fill=-1)
    _resizable(cells, "position_um", (0, 3), "<f4", (1024, 3), fill=nan32)
    _resizable(cells, "plane", (0,), "<i2", (1024,), fill=-1)
    _resizable(cells, "pixel_rc", (0, 2), "<f4", (1024, 2), fill=nan32)
    _resizable(cells, "red", (0,), "<f4", (1024,), fill=nan32)
    _resizable(cells, "mask_start", (0,), "<i8", (1024,), fill=-1)
    _resizable(cells, "mask_count", (0,), "<i8", (1024,), fill=0)
    _resizable(cells, "mask_pixels", (0,), "<i4", (16384,), fill=-1)
    _resizable(cells, "mask_weights", (0,), "<f4", (16384,), fill=nan32)

    calib = f.create_group("calibration")
    _resizable(calib, "model_json", (0,), "u1", (4096,))
    _resizable(calib, "residual_um", (0,), "<f4", (256,), fill=nan32)

    ppsf = f.create_group("ppsf")
    _resizable(ppsf, "fwhm_um", (0, 2), "<f4", (64, 2), fill=nan32)

    power = f.create_group("power_test")
    _resizable(power, "powers_mw", (0,), "<f4", (64,), fill=nan32)
    _resizable(power, "response", (0, n_powers), "<f4", (1024, n_powers), fill=nan32)
    _resizable(power, "stimmable_power_mw", (0,), "<f4", (1024,), fill=nan32)

    tuning = f.create_group("tuning")
    _resizable(tuning, "directions_deg", (0,), "<f4", (64,), fill=nan32)
    _resizable(tuning, "mean", (0, n_directions), "<f4", (1024, n_directions), fill=nan32)
    _resizable(tuning, "sem", (0, n_directions), "<f4", (1024, n_directions), fill=nan32)
    _resizable(tuning, "blank_mean", (0,), "<f4", (1024,), fill=nan32)
    for name in ("po_deg", "osi", "gosi", "p_anova"):
        _resizable(tuning, name, (0,), "<f4", (1024,), fill=nan32)
    _resizable(tuning, "responsive", (0,), "?", (1024,), fill=False)

    ens = f.create_group("ensembles")
    _resizable(ens, "table", (0,), fmt.ENSEMBLE_DTYPE, (64,))
    _resizable(ens, "targets", (0,), fmt.TARGET_DTYPE, (1024,))

    holo = f.create_group("holograms")
    _resizable(holo, "table", (0,), fmt.HOLOGRAM_DTYPE, (64,))
    # One mask per chunk row-block; shuffle + gzip keeps them lossless (float32 radians).
    rows, cols = slm_shape
    holo.create_dataset("phase", shape=(0, rows, cols), maxshape=(None, rows, cols), dtype="<f4",
                        chunks=(1, max(1, min(rows, 2 ** 20 // (4 * cols))), cols),
                        compression="gzip", compression_opts=1, shuffle=True)

    trials = f.create_group("trials")
    _resizable(trials, "table", (0,), fmt.TRIAL_DTYPE, (256,), fill=fmt.TRIAL_FILL)
    _resizable(trials, "response", (0, 0), "<f4", (256, 128), fill=nan32)

    traces = f.create_group("traces")
    chunk = (fmt.TRACE_CHUNK_FRAMES, fmt.TRACE_CHUNK_CELLS)
    for k in range(n_planes):
        plane = traces.create_group(f"plane{k}")
        _resizable(plane, "cells", (0,), "<i8", (1024,), fill=-1)
        _resizable(plane, "F", (0, 0), "<f4", chunk, fill=nan32)
        _resizable(plane, "neuropil", (0, 0), "<f4", chunk, fill=nan32)
        _resizable(plane, "frame", (0,), "<i8", (1024,), fill=-1)
        _resizable(plane, "t_s", (0,), "<f8", (1024,), fill=np.nan)
        _resizable(plane, "shift_px", (0, 2), "<f4", (1024, 2), fill=nan32)

    _resizable(f, "events", (0,), fmt.EVENT_DTYPE, (256,))
    _resizable(f, "behaviour", (0,), fmt.BEHAVIOUR_DTYPE, (1024,))


def _append(ds: h5py.Dataset, values: np.ndarray) -> None:
    """Append rows along axis 0."""
    n = ds.shape[0]
    ds.resize(n + len(values), axis=0)
    ds[n:n + len(values)] = values


def _set_column(ds: h5py.Dataset, values: np.ndarray) -> None:
    """Write a per-cell result, sizing the dataset to it."""
    values = np.asarray(values)
    ds.resize(values.shape)
    if values.size:
        ds[...] = values


def _bytes(text: str, width: int) -> bytes:
    data = text.encode("utf-8")
    if len(data) > width:
        raise SessionError(f"text {text!r} is longer than the {width}-byte field that stores it; shorten it")
    return data


class SessionWriter:
    """Append-only writer of one session file. Create with :meth:`create`, continue with :meth:`open`.

    Times are seconds on the session clock (``t_s``); frame numbers count imaging volumes from 0.
    """

    def __init__(self, path: Path, f: h5py.File, lock: WriterLock):
        self.path = path
        self._f = f
        self._lock = lock
        self._frames: dict[int, list[tuple]] = {}
        self._events: list[tuple] = []
        self._behaviour: list[tuple] = []
        self._stages = [s["name"].decode() for s in f["stages"][...]]
        table = f["trials/table"][...]
        self._n_trials = len(table)
        if (table["trial"] != np.arange(len(table))).any() or f["trials/response"].shape[0] != len(table):
            f.close()
            lock.release()
            raise SessionError(f"{path}: the trial table has rows cut short by a crash; "
                               "open it with SessionWriter.open, which recovers it")
        self._closed = False

    # ------------------------------------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, path: PathLike, *, rig, protocol, seed: int, rig_text: Optional[str] = None,
               protocol_text: Optional[str] = None, overwrite: bool = False,
               extra_metadata: Optional[Mapping[str, Any]] = None) -> "SessionWriter":
        """Create a new session file for ``rig`` (:class:`RigProfile`) and ``protocol`` (:class:`Protocol`).

        ``rig_text`` / ``protocol_text`` are the configs as the user gave them (YAML); the validated, normalised
        configs are stored beside them. An existing file is never replaced unless ``overwrite`` is set.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise SessionError(f"{path} already exists; choose another --out or remove it first")
        if not path.parent.exists():
            raise SessionError(f"folder {path.parent} does not exist; create it or choose another --out")
        partial = path.with_name(path.name + ".partial")
        n_dirs = len(protocol.tuning.directions_deg)
        with h5py.File(partial, "w", libver="latest") as f:
            f.attrs["format"] = fmt.FORMAT_NAME
            f.attrs["format_version"] = fmt.FORMAT_VERSION
            f.attrs["created_utc"] = _utc_now()
            f.attrs["seed"] = int(seed)
            f.attrs["n_planes"] = len(rig.imaging.planes_z_um)
            f.attrs["plane_z_um"] = np.asarray(rig.imaging.planes_z_um, dtype="<f4")
            f.attrs["frame_shape"] = np.asarray(rig.imaging.pixels, dtype="<i4")
            f.attrs["fov_um"] = np.asarray(rig.imaging.fov_um, dtype="<f4")
            f.attrs["slm_shape"] = np.asarray(rig.slm.shape, dtype="<i4")
            meta = f.create_group("meta")
            meta.create_dataset("software", data=json.dumps(software_versions()))
            meta.create_dataset("rig_yaml", data=rig_text if rig_text is not None else "")
            meta.create_dataset("protocol_yaml", data=protocol_text if protocol_text is not None else "")
            meta.create_dataset("rig_json", data=rig.model_dump_json())
            meta.create_dataset("protocol_json", data=protocol.model_dump_json())
            meta.create_dataset("extra_json", data=json.dumps(dict(extra_metadata or {}), default=str))
            build_layout(f, n_planes=len(rig.imaging.planes_z_um), slm_shape=tuple(rig.slm.shape),
                         n_directions=n_dirs, n_powers=len(protocol.power_test.powers_mw))
        os.replace(partial, path)
        return cls._open_swmr(path)

    @classmethod
    def open(cls, path: PathLike) -> "SessionWriter":
        """Open an existing session to append more (e.g. to resume). A crashed file is recovered first."""
        from .recover import needs_recovery, recover_session

        path = Path(path)
        if not path.exists():
            raise SessionError(f"{path} does not exist")
        if needs_recovery(path):
            backup = recover_session(path)
            log.warning("%s was not closed cleanly; recovered it (original kept as %s)", path, backup)
        return cls._open_swmr(path)

    @classmethod
    def _open_swmr(cls, path: Path) -> "SessionWriter":
        lock = WriterLock(path)
        try:
            f = h5py.File(path, "r+", libver="latest")
        except OSError as err:
            lock.release()
            raise SessionError(f"{path} cannot be opened for writing: {err}") from None
        try:
            if f.attrs.get("format") != fmt.FORMAT_NAME:
                raise SessionError(f"{path} is not a holostim session file")
            f.swmr_mode = True
        except BaseException:
            f.close()
            lock.release()
            raise
        return cls(path, f, lock)

    def close(self) -> None:
        """Flush everything, mark the session closed cleanly and close the file."""
        if self._closed:
            return
        self.flush()
        self._stage_row(fmt.CLOSED_STAGE)
        self._f.flush()
        self._f.close()
        self._lock.release()
        self._closed = True

    def __enter__(self) -> "SessionWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None and not self._closed:
            text = f"{exc_type.__name__}: {exc}".encode("utf-8")[:96].decode("utf-8", "ignore")
            self.append_event("error", t_s=np.nan, detail=text)
        self.close()

    # ---------------------------------------------------------------------------------------------- properties
    @property
    def n_trials(self) -> int:
        """Trials committed so far."""
        return self._n_trials

    @property
    def stages(self) -> list[str]:
        """Stage names completed so far, in order."""
        return [s for s in self._stages if s != fmt.CLOSED_STAGE]

    @property
    def n_cells(self) -> int:
        return int(self._f["cells/id"].shape[0])

    @property
    def n_holograms(self) -> int:
        return int(self._f["holograms/table"].shape[0])

    def _check_open(self) -> None:
        if self._closed:
            raise SessionError(f"{self.path} is closed; open it again with SessionWriter.open to append")

    # ------------------------------------------------------------------------------------------------- stages
    def _stage_row(self, name: str, t_s: float = np.nan) -> None:
        row = np.zeros(1, fmt.STAGE_DTYPE)
        row["name"] = _bytes(name, 32)
        row["t_s"] = t_s
        row["utc"] = _bytes(_utc_now(), 32)
        _append(self._f["stages"], row)
        self._stages.append(name)

    def mark_stage(self, name: str, t_s: float = np.nan) -> None:
        """Record that a protocol stage completed (after its data is flushed)."""
        self._check_open()
        if name not in fmt.STAGES:
            raise SessionError(f"unknown stage {name!r}; stages are {', '.join(fmt.STAGES)}")
        self.flush()
        self._stage_row(name, t_s)
        self._f.flush()

    def _require_new_stage(self, name: str) -> None:
        self._check_open()
        if name in self._stages:
            raise SessionError(f"stage {name!r} was already written to {self.path}; a stage is written once")

    def _require_cells(self, n: int, what: str) -> None:
        if n != self.n_cells:
            raise SessionError(f"{what} has {n} rows but the session has {self.n_cells} cells; one row per cell")

    # -------------------------------------------------------------------------------------------- stage data
    def write_cells(self, ids: Sequence[int], position_um: np.ndarray, plane: Sequence[int], *,
                    pixel_rc: Optional[np.ndarray] = None, red: Optional[np.ndarray] = None,
                    masks: Optional[Sequence[tuple[np.ndarray, np.ndarray]]] = None, t_s: float = np.nan) -> None:
        """Write the target cells and mark stage 'targets'.

        ``position_um``: (n, 3) x, y, z µm; ``plane``: imaging plane index per cell; ``pixel_rc``: (n, 2) centroid
        (row, col) in pixels; ``red``: nuclear mRuby brightness; ``masks``: per cell (flat pixel indices into its
        plane, weights).
        """
        self._require_new_stage("targets")
        ids = np.asarray(ids, dtype="<i8")
        n = len(ids)
        position_um = np.asarray(position_um, dtype="<f4").reshape(n, 3)
        plane = np.asarray(plane, dtype="<i2")
        n_planes = int(self._f.attrs["n_planes"])
        if len(np.unique(ids)) != n:
            raise SessionError("cell ids must be unique")
        if plane.shape != (n,) or (n and (plane.min() < 0 or plane.max() >= n_planes)):
            raise SessionError(f"each cell needs a plane index in 0..{n_planes - 1}")
        g = self._f["cells"]
        _set_column(g["id"], ids)
        _set_column(g["position_um"], position_um)
        _set_column(g["plane"], plane)
        _set_column(g["pixel_rc"], np.full((n, 2), np.nan, "<f4") if pixel_rc is None
                    else np.asarray(pixel_rc, "<f4").reshape(n, 2))
        _set_column(g["red"], np.full(n, np.nan, "<f4") if red is None else np.asarray(red, "<f4").reshape(n))
        if masks is not None:
            if len(masks) != n:
                raise SessionError(f"got {len(masks)} masks for {n} cells")
            counts = np.array([len(np.asarray(p)) for p, _ in masks], dtype="<i8")
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype("<i8")
            pixels = np.concatenate([np.asarray(p, "<i4").ravel() for p, _ in masks]) if n else np.zeros(0, "<i4")
            weights = np.concatenate([np.asarray(w, "<f4").ravel() for _, w in masks]) if n else np.zeros(0, "<f4")
            if len(pixels) != len(weights):
                raise SessionError("each mask needs as many weights as pixels")
            _set_column(g["mask_start"], starts)
            _set_column(g["mask_count"], counts)
            _set_column(g["mask_pixels"], pixels)
            _set_column(g["mask_weights"], weights)
        for k in range(n_planes):
            _set_column(self._f[f"traces/plane{k}/cells"], ids[plane == k])
            for name in ("F", "neuropil"):
                self._f[f"traces/plane{k}/{name}"].resize(int((plane == k).sum()), axis=1)
        self._f["trials/response"].resize(n, axis=1)
        self.mark_stage("targets", t_s)

    def write_calibration(self, model: Mapping[str, Any], residual_um: np.ndarray, t_s: float = np.nan) -> None:
        """Write the fitted imaging↔SLM calibration (a JSON-able mapping) and its residuals (µm)."""
        self._require_new_stage("calibration")
        data = np.frombuffer(json.dumps(model).encode("utf-8"), dtype="u1")
        _set_column(self._f["calibration/model_json"], data)
        _set_column(self._f["calibration/residual_um"], np.asarray(residual_um, "<f4").ravel())
        self.mark_stage("calibration", t_s)

    def write_ppsf(self, fwhm_um: np.ndarray, t_s: float = np.nan) -> None:
        """Write measured physiological PSF widths, one (radial, axial) FWHM row in µm per measured cell."""
        self._require_new_stage("ppsf")
        _set_column(self._f["ppsf/fwhm_um"], np.asarray(fwhm_um, "<f4").reshape(-1, 2))
        self.mark_stage("ppsf", t_s)

    def write_power_test(self, powers_mw: Sequence[float], response: np.ndarray, stimmable_power_mw: np.ndarray,
                         t_s: float = np.nan) -> None:
        """Write the power test: tested powers (mW), per-cell response at each power, stimmable power (NaN: none)."""
        self._require_new_stage("power_test")
        powers = np.asarray(powers_mw, "<f4")
        response = np.asarray(response, "<f4")
        width = self._f["power_test/response"].shape[1]
        if len(powers) != width or response.shape[1:] != (width,):
            raise SessionError(f"the protocol tests {width} powers; got {len(powers)} powers and a response "
                               f"of shape {response.shape}")
        self._require_cells(len(response), "power-test response")
        self._require_cells(len(stimmable_power_mw), "stimmable power")
        _set_column(self._f["power_test/powers_mw"], powers)
        _set_column(self._f["power_test/response"], response)
        _set_column(self._f["power_test/stimmable_power_mw"], np.asarray(stimmable_power_mw, "<f4"))
        self.mark_stage("power_test", t_s)

    def write_tuning(self, *, directions_deg: Sequence[float], mean: np.ndarray, sem: np.ndarray,
                     po_deg: np.ndarray, osi: np.ndarray, gosi: np.ndarray, responsive: np.ndarray,
                     p_anova: np.ndarray, blank_mean: Optional[np.ndarray] = None, t_s: float = np.nan) -> None:
        """Write per-cell tuning: curves (cells × directions, mean and s.e.m. of ΔF/F), PO, OSI, gOSI, ANOVA."""
        self._require_new_stage("tuning")
        g = self._f["tuning"]
        width = g["mean"].shape[1]
        if len(directions_deg) != width or np.shape(mean)[1:] != (width,) or np.shape(sem) != np.shape(mean):
            raise SessionError(f"the protocol has {width} directions; tuning curves must be cells × {width}")
        self._require_cells(len(mean), "tuning curves")
        _set_column(g["directions_deg"], np.asarray(directions_deg, "<f4"))
        _set_column(g["mean"], np.asarray(mean, "<f4"))
        _set_column(g["sem"], np.asarray(sem, "<f4"))
        n = len(mean)
        _set_column(g["blank_mean"], np.full(n, np.nan, "<f4") if blank_mean is None
                    else np.asarray(blank_mean, "<f4"))
        for name, values in (("po_deg", po_deg), ("osi", osi), ("gosi", gosi), ("p_anova", p_anova)):
            self._require_cells(len(values), name)
            _set_column(g[name], np.asarray(values, "<f4"))
        _set_column(g["responsive"], np.asarray(responsive, "?"))
        self.mark_stage("tuning", t_s)

    def write_ensembles(self, ensembles: Sequence[Mapping[str, Any]], t_s: float = np.nan) -> None:
        """Write the designed ensembles and mark stage 'ensembles'.

        Each ensemble is a mapping with ``cells`` (ids), ``power_mw`` (per-target request, mW) and optionally
        ``spatial``, ``tuning``, ``target_orientation_deg``, ``orientation_deg``, ``spread_um``,
        ``ensemble_osi``, ``mean_osi``.
        """
        self._require_new_stage("ensembles")
        known = set(self._f["cells/id"][...].tolist())
        table = np.zeros(len(ensembles), fmt.ENSEMBLE_DTYPE)
        targets = []
        for i, e in enumerate(ensembles):
            cells = np.asarray(e["cells"], "<i8")
            power = np.asarray(e["power_mw"], "<f4")
            if cells.shape != power.shape:
                raise SessionError(f"ensemble {i}: {len(cells)} cells but {len(power)} powers")
            unknown = sorted(set(cells.tolist()) - known)
            if unknown:
                raise SessionError(f"ensemble {i} names cells that are not in the session: {unknown[:10]}")
            table[i]["ensemble"] = i
            table[i]["spatial"] = _bytes(str(e.get("spatial", "")), 16)
            table[i]["tuning"] = _bytes(str(e.get("tuning", "")), 16)
            for key in ("target_orientation_deg", "orientation_deg", "spread_um", "ensemble_osi", "mean_osi"):
                value = e.get(key)
                table[i][key] = np.nan if value is None else value
            rows = np.zeros(len(cells), fmt.TARGET_DTYPE)
            rows["ensemble"], rows["cell"], rows["power_mw"] = i, cells, power
            targets.append(rows)
        _set_column(self._f["ensembles/table"], table)
        _set_column(self._f["ensembles/targets"],
                    np.concatenate(targets) if targets else np.zeros(0, fmt.TARGET_DTYPE))
        self.mark_stage("ensembles", t_s)

    def append_hologram(self, phase_rad: np.ndarray, *, ensemble: int, n_targets: int, laser_power_mw: float,
                        efficiency: float, uniformity: float) -> int:
        """Append one phase mask (float32 radians, SLM shape) with its figures; returns its index."""
        self._check_open()
        ds = self._f["holograms/phase"]
        phase_rad = np.asarray(phase_rad, dtype="<f4")
        if phase_rad.shape != ds.shape[1:]:
            raise SessionError(f"a mask must have the SLM's shape {ds.shape[1:]}, got {phase_rad.shape}")
        index = ds.shape[0]
        _append(ds, phase_rad[None])
        row = np.zeros(1, fmt.HOLOGRAM_DTYPE)
        row["hologram"], row["ensemble"], row["n_targets"] = index, ensemble, n_targets
        row["laser_power_mw"], row["efficiency"], row["uniformity"] = laser_power_mw, efficiency, uniformity
        _append(self._f["holograms/table"], row)
        self._f.flush()
        return index

    # ------------------------------------------------------------------------------------------- streaming
    def append_frames(self, plane: int, F: np.ndarray, neuropil: np.ndarray, frame: Sequence[int],
                      t_s: Sequence[float], shift_px: Optional[np.ndarray] = None) -> None:
        """Queue extracted fluorescence of one plane: ``F`` and ``neuropil`` are frames × cells of that plane.

        Written at the next :meth:`flush` (every committed trial flushes).
        """
        self._check_open()
        key = f"traces/plane{plane}"
        if key not in self._f:
            raise SessionError(f"plane {plane} does not exist; the rig images {self._f.attrs['n_planes']} planes")
        F = np.atleast_2d(np.asarray(F, "<f4"))
        neuropil = np.atleast_2d(np.asarray(neuropil, "<f4"))
        n_cells = self._f[key + "/F"].shape[1]
        if F.shape[1] != n_cells or neuropil.shape != F.shape:
            raise SessionError(f"plane {plane} has {n_cells} cells; F and neuropil must be frames × {n_cells}, "
                               f"got {F.shape} and {neuropil.shape}")
        frame = np.atleast_1d(np.asarray(frame, "<i8"))
        t_s = np.atleast_1d(np.asarray(t_s, "<f8"))
        shift = (np.full((len(F), 2), np.nan, "<f4") if shift_px is None
                 else np.asarray(shift_px, "<f4").reshape(len(F), 2))
        if len(frame) != len(F) or len(t_s) != len(F):
            raise SessionError("frame and t_s need one entry per row of F")
        self._frames.setdefault(plane, []).append((F, neuropil, frame, t_s, shift))

    def append_event(self, kind: str, t_s: float, *, frame: int = -1, trial: int = -1, value: float = np.nan,
                     detail: str = "") -> None:
        """Queue an event (stimulus on/off, photostim, pause, error, …); written at the next flush."""
        self._check_open()
        self._events.append((t_s, frame, trial, _bytes(kind, 32), value, _bytes(detail, 96)))

    def append_behaviour(self, t_s: float, frame: int, running_cm_s: float) -> None:
        """Queue a running-speed sample (cm/s); written at the next flush."""
        self._check_open()
        self._behaviour.append((t_s, frame, running_cm_s))

    def append_trial(self, row: Mapping[str, Any], responses: Optional[np.ndarray] = None) -> int:
        """Commit one completed trial: flush its data, then write its row, then flush again. Returns its id.

        ``row`` holds the columns of :data:`rig.session.format.TRIAL_DTYPE` (``trial`` is assigned here; missing
        columns take neutral defaults: -1 ids, NaN numbers, valid). ``responses``: per-cell response of this
        trial (ΔF/F), one value per session cell.
        """
        self._check_open()
        record = np.zeros(1, fmt.TRIAL_DTYPE)
        for name in ("ensemble", "hologram", "frame_start", "frame_end"):
            record[name] = -1
        for name in ("direction_deg", "power_mw", "t_scheduled_s", "t_start_s", "t_end_s",
                     "max_running_cm_s", "max_shift_px", "responding_fraction"):
            record[name] = np.nan
        record["valid"] = True
        unknown = set(row) - set(fmt.TRIAL_DTYPE.names)
        if unknown:
            raise SessionError(f"unknown trial columns {sorted(unknown)}; columns are {fmt.TRIAL_DTYPE.names}")
        for name, value in row.items():
            if name == "trial":
                continue
            if name in ("block", "condition"):
                value = _bytes(str(value), 16)
            record[name] = value
        if record["block"][0].decode() not in fmt.BLOCKS:
            raise SessionError(f"trial block must be one of {fmt.BLOCKS}, got {record['block'][0]!r}")
        if record["condition"][0].decode() not in fmt.CONDITIONS:
            raise SessionError(f"trial condition must be one of {fmt.CONDITIONS}, got {record['condition'][0]!r}")
        n_cells = self._f["trials/response"].shape[1]
        response_row = np.full((1, n_cells), np.nan, "<f4")
        if responses is not None:
            responses = np.asarray(responses, "<f4").ravel()
            if len(responses) != n_cells:
                raise SessionError(f"responses need one value per cell ({n_cells}), got {len(responses)}")
            response_row[0] = responses
        record["trial"] = self._n_trials
        self.flush()                                     # the trial's frames and events first
        _append(self._f["trials/response"], response_row)
        _append(self._f["trials/table"], record)
        self._f.flush()                                  # then the row: the trial is committed
        self._n_trials += 1
        return self._n_trials - 1

    def flush(self) -> None:
        """Write queued frames, events and behaviour samples and flush the file."""
        self._check_open()
        for plane, chunks in self._frames.items():
            if not chunks:
                continue
            g = self._f[f"traces/plane{plane}"]
            for i, name in enumerate(("F", "neuropil", "frame", "t_s", "shift_px")):
                _append(g[name], np.concatenate([c[i] for c in chunks]))
            chunks.clear()
        if self._events:
            _append(self._f["events"], np.array(self._events, dtype=fmt.EVENT_DTYPE))
            self._events.clear()
        if self._behaviour:
            _append(self._f["behaviour"], np.array(self._behaviour, dtype=fmt.BEHAVIOUR_DTYPE))
            self._behaviour.clear()
        self._f.flush()
