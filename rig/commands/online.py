"""``holostim online …``: the online analysis pipeline from the command line.

``holostim online replay MOVIE --footprints F --events E --out OUT`` runs a recorded movie through the same
streaming pipeline the rig uses, frame by frame, and writes what it computed:

* ``tuning.csv``: ``cell, po_deg, osi, gosi, responsive, p_anova, resp_0 … resp_315`` (mean response per
  direction), then ``sem_*``, ``pd_deg``, ``peak_direction_deg``, ``tuned``, ``fit_r2``;
* ``shifts.csv``: ``frame, dy, dx, clipped`` (pixels) for every accepted frame;
* ``traces.h5``: ``f_cell, f_neuropil, f, f0, dff`` (frames × cells, NaN rows for rejected frames),
  ``frame_index``, per-trial ``trial_responses`` (trials × cells) and the trials' table;
* ``trials.csv`` (one row per completed trial), ``photostim.csv`` and ``power_test.csv`` when the events hold
  photostimulation, and ``report.json`` (the pipeline's counters of bad input).

Files are written under temporary names and renamed at the end, so a failed replay leaves no half-written output.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from online import OnlineConfig, OnlineError, OnlinePipeline, TrialEvent, load_footprints

log = logging.getLogger(__name__)

EVENT_COLUMNS = ("trial", "kind", "onset_frame", "offset_frame", "direction_deg", "ensemble")
_TRACE_FIELDS = ("f_cell", "f_neuropil", "f", "f0", "dff")
_FLUSH_FRAMES = 256


def register(subparsers) -> None:
    group = subparsers.add_parser("online", help="online analysis: replay a recorded movie, or serve it over ZMQ")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(dest="online_command", metavar="SUBCOMMAND")
    replay = sub.add_parser("replay", help="run a recorded movie (TIFF or HDF5) through the online pipeline")
    replay.add_argument("movie", help="multi-page TIFF (ScanImage or plain) or HDF5 as FILE.h5:/dataset")
    replay.add_argument("--footprints", required=True,
                        help=".npy of cells × rows × cols weights/booleans, or a suite2p stat.npy")
    replay.add_argument("--events", required=True,
                        help="CSV with columns trial, kind, onset_frame, offset_frame, direction_deg, ensemble "
                             "(optional: targets as '3;17;42', power_mw)")
    replay.add_argument("--out", required=True, help="output folder (created; existing files are replaced)")
    replay.add_argument("--dataset", help="HDF5 dataset path (instead of FILE.h5:/dataset)")
    replay.add_argument("--shape", type=int, nargs=2, metavar=("ROWS", "COLS"),
                        help="frame shape for a suite2p stat.npy (default: the movie's)")
    replay.add_argument("--config", help="YAML: a protocol (its 'online' section is used) or OnlineConfig fields")
    replay.add_argument("--channels", type=int, help="interleaved channels in the TIFF (default: from ScanImage "
                                                     "metadata, else 1)")
    replay.add_argument("--channel", type=int, default=0, help="which channel to analyse, 0-based (default 0)")
    replay.add_argument("--max-frames", type=int, help="stop after this many frames")
    replay.add_argument("--frame-rate", type=float, metavar="HZ",
                        help="frames per second of the movie (one plane); grating responses then use the indicator "
                             "model (matched filter). Default: the config's frame_rate_hz, else a single-plane "
                             "ScanImage TIFF's scanFrameRate")
    replay.set_defaults(func=_replay)

    serve = sub.add_parser("serve", help="serve the online analysis over ZMQ: frames in, ΔF/F and tuning out",
                           description="PULL frames and trial events on the profile's zmq.online, run the online "
                                       "pipeline per plane, PUB ΔF/F, trial responses, tuning and counters on "
                                       "zmq.online_results, until a 'shutdown' message, SIGINT or SIGTERM. "
                                       "Prints the bound endpoints on stdout.")
    serve.add_argument("--rig", required=True, help="rig profile YAML (its zmq section is used)")
    serve.add_argument("--footprints", action="append", default=None, metavar="F",
                       help=".npy of cells × rows × cols per imaging plane, repeated in plane order (or send "
                            "them in a 'configure' message)")
    serve.add_argument("--config", help="YAML: a protocol (its 'online' section is used) or OnlineConfig fields")
    serve.add_argument("--endpoint", help="frames endpoint to bind (default: the profile's zmq.online)")
    serve.add_argument("--results", help="results endpoint to bind (default: the profile's zmq.online_results)")
    serve.add_argument("--dff-every", type=int, default=1, help="publish ΔF/F every N frames of a plane")
    serve.set_defaults(func=_serve)


# ---------------------------------------------------------------------------------------------- inputs
def load_online_config(path: Optional[str]) -> OnlineConfig:
    """OnlineConfig from a protocol YAML's ``online`` section, a YAML of its fields, or the defaults."""
    if path is None:
        return OnlineConfig()
    from pydantic import ValidationError

    from rig.config import ConfigError, load_protocol, read_yaml
    data = read_yaml(path)
    if data.get("kind") == "protocol" or "tuning" in data or "power_test" in data:
        return load_protocol(path).online
    try:
        return OnlineConfig(**{k: v for k, v in data.items() if k != "kind"})
    except ValidationError as err:
        raise ConfigError(f"{path}: not valid online settings: {err}") from None


def split_h5_path(movie: str, dataset: Optional[str]) -> tuple[Path, Optional[str]]:
    """(file, dataset) from ``FILE.h5:/dataset`` or ``--dataset``."""
    path = Path(movie)
    if not path.exists() and ":" in movie:
        head, tail = movie.rsplit(":", 1)
        if Path(head).exists():
            return Path(head), dataset or tail
    return path, dataset


def movie_shape_and_frames(movie: str, dataset: Optional[str], channels: Optional[int],
                           channel: int) -> tuple[tuple[int, int], int, Iterator[np.ndarray]]:
    """(frame shape, number of frames, iterator over frames) of a TIFF or an HDF5 dataset."""
    path, dataset = split_h5_path(movie, dataset)
    if not path.is_file():
        raise OnlineError(f"movie {movie} does not exist")
    if path.suffix.lower() in (".h5", ".hdf5", ".hdf") or dataset is not None:
        return _h5_frames(path, dataset)
    if path.suffix.lower() in (".tif", ".tiff"):
        return _tiff_frames(path, channels, channel)
    raise OnlineError(f"movie {path}: give a .tif/.tiff or an .h5 file (FILE.h5:/dataset)")


def _h5_frames(path: Path, dataset: Optional[str]):
    import h5py
    if not dataset:
        raise OnlineError(f"{path}: name the dataset, as {path}:/dataset or with --dataset")
    with h5py.File(path, "r") as f:
        if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
            raise OnlineError(f"{path} has no dataset {dataset!r}")
        shape = f[dataset].shape
    if len(shape) != 3:
        raise OnlineError(f"{path}:{dataset} must be frames × rows × cols, got shape {shape}")

    def frames():
        with h5py.File(path, "r") as f:
            ds = f[dataset]
            for a in range(0, shape[0], 64):
                block = ds[a:a + 64]
                yield from block
    return tuple(shape[1:]), int(shape[0]), frames()


def _scanimage_channels(tif) -> Optional[int]:
    try:
        meta = tif.scanimage_metadata or {}
        saved = meta.get("FrameData", {}).get("SI.hChannels.channelSave")
    except Exception:  # noqa: BLE001 - metadata is a convenience; --channels overrides it
        return None
    if saved is None:
        return None
    return len(saved) if isinstance(saved, (list, tuple)) else 1


def scanimage_frame_rate(metadata: Optional[dict]) -> Optional[float]:
    """Frames per second of a single-plane ScanImage recording from its metadata (``tifffile``'s
    ``scanimage_metadata``), or None: not ScanImage, no rate, or a volume (fast-z or a stack), whose planes are
    interleaved in the file and each sampled at the volume rate."""
    frame = (metadata or {}).get("FrameData", {})
    rate = frame.get("SI.hRoiManager.scanFrameRate")
    slices = frame.get("SI.hStackManager.numSlices", 1)
    per_volume = frame.get("SI.hFastZ.numFramesPerVolume", 1)
    volume = bool(frame.get("SI.hFastZ.enable", False)) or any(
        isinstance(n, (int, float)) and n > 1 for n in (slices, per_volume))
    if volume or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
        return None
    return float(rate)


def _with_frame_rate(config: OnlineConfig, rate_hz: float) -> OnlineConfig:
    """``config`` with ``frame_rate_hz`` set (validated)."""
    return OnlineConfig(**{**config.model_dump(), "frame_rate_hz": rate_hz})


def movie_frame_rate(movie: str, dataset: Optional[str]) -> Optional[float]:
    """:func:`scanimage_frame_rate` of a ScanImage TIFF; None for other movies."""
    path, dataset = split_h5_path(movie, dataset)
    if dataset is not None or path.suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile
    try:
        with tifffile.TiffFile(path) as tif:
            return scanimage_frame_rate(tif.scanimage_metadata) if tif.is_scanimage else None
    except Exception:  # noqa: BLE001 - metadata is a convenience; --frame-rate overrides it
        return None


def _tiff_frames(path: Path, channels: Optional[int], channel: int):
    import tifffile
    try:
        tif = tifffile.TiffFile(path)
    except Exception as err:  # noqa: BLE001 - unreadable TIFF is the user's to fix
        raise OnlineError(f"cannot read TIFF {path}: {err}") from None
    n_ch = channels or (_scanimage_channels(tif) if tif.is_scanimage else None) or 1
    if not 0 <= channel < n_ch:
        tif.close()
        raise OnlineError(f"--channel {channel} is not one of the {n_ch} channel(s)")
    pages = tif.pages
    first = pages[0].shape
    if len(first) != 2:
        tif.close()
        raise OnlineError(f"{path}: pages must be single-channel 2-D images, got page shape {first}")
    n = (len(pages) - channel + n_ch - 1) // n_ch

    def frames():
        try:
            for i in range(channel, len(pages), n_ch):
                yield pages[i].asarray()
        finally:
            tif.close()
    return tuple(first), n, frames()


def _cell(value):
    """A CSV cell as None when empty/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _targets(value) -> Optional[tuple[int, ...]]:
    value = _cell(value)
    if value is None:
        return None
    text = str(value).replace(",", ";").replace(" ", ";")
    return tuple(int(float(t)) for t in text.split(";") if t.strip())


def read_events(path: str) -> list[TrialEvent]:
    """Trial events from the replay CSV (rows with unusable values are passed on; the pipeline counts them)."""
    import pandas as pd
    if not Path(path).is_file():
        raise OnlineError(f"events file {path} does not exist")
    try:
        table = pd.read_csv(path, dtype={"ensemble": str, "targets": str, "kind": str})
    except Exception as err:  # noqa: BLE001 - unreadable CSV is the user's to fix
        raise OnlineError(f"cannot read events CSV {path}: {err}") from None
    missing = [c for c in EVENT_COLUMNS if c not in table.columns]
    if missing:
        raise OnlineError(f"{path} lacks column(s) {missing}; it needs {list(EVENT_COLUMNS)}")
    events = []
    for row_no, row in enumerate(table.to_dict("records"), start=2):
        try:
            offset = _cell(row["offset_frame"])
            direction = _cell(row["direction_deg"])
            power = _cell(row.get("power_mw"))
            trial = _cell(row["trial"])
            events.append(TrialEvent(
                trial=int(trial) if isinstance(trial, float) and float(trial).is_integer() else trial,
                kind=str(_cell(row["kind"]) or "").strip().lower(),
                onset_frame=int(row["onset_frame"]),
                offset_frame=None if offset is None else int(offset),
                direction_deg=None if direction is None else float(direction),
                ensemble=None if _cell(row["ensemble"]) is None else str(row["ensemble"]).strip(),
                targets=_targets(row.get("targets")), power_mw=None if power is None else float(power)))
        except (TypeError, ValueError) as err:
            raise OnlineError(f"{path}, line {row_no}: {err}; fix that row") from None
    return sorted(events, key=lambda e: e.onset_frame)


# ---------------------------------------------------------------------------------------------- outputs
class _TraceWriter:
    """Appends per-frame traces to resizable HDF5 datasets in blocks."""

    def __init__(self, path: Path, n_cells: int):
        import h5py
        self.file = h5py.File(path, "w")
        self.n_cells = n_cells
        for name in _TRACE_FIELDS:
            self.file.create_dataset(name, (0, n_cells), maxshape=(None, n_cells), dtype="f4",
                                     chunks=(_FLUSH_FRAMES, max(1, min(n_cells, 256))))
        self.file.create_dataset("frame_index", (0,), maxshape=(None,), dtype="i8", chunks=(4096,))
        self._rows: list = []

    def add(self, index: int, traces) -> None:
        self._rows.append((index, traces))
        if len(self._rows) >= _FLUSH_FRAMES:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        n0, n = self.file["frame_index"].shape[0], len(self._rows)
        nan = np.full(self.n_cells, np.nan, np.float32)
        for name in _TRACE_FIELDS:
            ds = self.file[name]
            ds.resize(n0 + n, axis=0)
            ds[n0:] = np.stack([nan if t is None else getattr(t, name) for _, t in self._rows])
        fi = self.file["frame_index"]
        fi.resize(n0 + n, axis=0)
        fi[n0:] = [i for i, _ in self._rows]
        self._rows = []


def _direction_label(d: float) -> str:
    return str(int(d)) if float(d).is_integer() else f"{d:g}"


def tuning_table(pipe: OnlinePipeline):
    import pandas as pd
    tu = pipe.tuning()
    cells = np.arange(pipe.n_cells)
    if tu is None:
        cols = ["cell", "po_deg", "osi", "gosi", "responsive", "p_anova"]
        return pd.DataFrame({c: (cells if c == "cell" else np.nan) for c in cols})
    table = {"cell": cells, "po_deg": tu.po_deg, "osi": tu.osi, "gosi": tu.gosi,
             "responsive": tu.responsive.astype(int), "p_anova": tu.p_anova}
    for j, d in enumerate(tu.directions_deg):
        table[f"resp_{_direction_label(d)}"] = tu.mean[:, j]
    for j, d in enumerate(tu.directions_deg):
        table[f"sem_{_direction_label(d)}"] = tu.sem[:, j]
    table.update(pd_deg=tu.pd_deg, peak_direction_deg=tu.peak_direction_deg, tuned=tu.tuned.astype(int),
                 fit_r2=tu.fit.r2)
    return pd.DataFrame(table)


def photostim_tables(pipe: OnlinePipeline):
    import pandas as pd
    rows = []
    for key, ev in sorted(pipe.photostim().items(), key=lambda kv: str(kv[0])):
        targeted = np.isin(np.arange(pipe.n_cells), ev.targets)
        for c in range(pipe.n_cells):
            rows.append(dict(ensemble=key, cell=c, targeted=int(targeted[c]), mean_z=ev.mean_z[c],
                             ci_low=ev.ci_low[c], ci_high=ev.ci_high[c], n_trials=int(ev.n_trials[c]),
                             n_excluded_trials=ev.n_excluded))
    stim = pd.DataFrame(rows) if rows else None
    pt = pipe.power_test()
    power = None
    if pt is not None:
        power = pd.DataFrame({"cell": np.arange(pipe.n_cells), "tested": pt.tested.astype(int),
                              "stimmable_power_mw": pt.stimmable_power_mw})
        for j, p in enumerate(pt.powers_mw):
            power[f"mean_z_{p:g}mw"] = pt.mean_z[:, j]
    return stim, power


def trials_table(pipe: OnlinePipeline):
    import pandas as pd
    outcomes = {o["trial"]: o for o in pipe.trial_outcomes()}
    rows = []
    for r in pipe.records:
        e = r.event
        o = outcomes.get(e.trial, {})
        rows.append(dict(trial=e.trial, kind=e.kind, onset_frame=e.onset_frame, offset_frame=e.offset_frame,
                         direction_deg=e.direction_deg, ensemble=e.ensemble, power_mw=e.power_mw,
                         max_shift_px=r.max_shift_px, motion_excluded=int(r.motion_excluded),
                         n_baseline_frames=r.n_baseline_frames, n_response_frames=r.n_response_frames,
                         responded_fraction=o.get("responded_fraction"), excluded=int(bool(o.get("excluded")))
                         if o else int(not r.valid), reason=o.get("reason", "")))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- replay
def run_replay(movie: str, footprints_path: str, events_path: str, out: str, *, dataset: Optional[str] = None,
               shape: Optional[tuple[int, int]] = None, config: Optional[OnlineConfig] = None,
               channels: Optional[int] = None, channel: int = 0, max_frames: Optional[int] = None) -> dict:
    """Replay ``movie`` through :class:`OnlinePipeline` and write the outputs to ``out``; returns the report."""
    config = config or OnlineConfig()
    frame_shape, n_frames, frames = movie_shape_and_frames(movie, dataset, channels, channel)
    if config.frame_rate_hz is None:
        rate = movie_frame_rate(movie, dataset)
        if rate is not None:                # ScanImage says it: the indicator model can be placed in time
            config = _with_frame_rate(config, rate)
    footprints = load_footprints(footprints_path, tuple(shape) if shape else frame_shape,
                                 max_pixels=config.neuropil_max_pixels, inner_px=config.neuropil_inner_px,
                                 max_radius_px=config.neuropil_max_radius_px)
    if footprints.shape != tuple(frame_shape):
        raise OnlineError(f"footprints are {footprints.shape} pixels but the movie's frames are {frame_shape}")
    events = read_events(events_path)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    pipe = OnlinePipeline(footprints, frame_shape, config)
    partial: dict[str, Path] = {}

    def tmp(name: str) -> Path:
        partial[name] = out_dir / f".{name}.partial-{os.getpid()}"
        return partial[name]
    try:
        writer = _TraceWriter(tmp("traces.h5"), pipe.n_cells)
        k = 0
        for i, frame in enumerate(frames):
            if max_frames is not None and i >= max_frames:
                break
            while k < len(events) and events[k].onset_frame <= i:
                pipe.add_event(events[k])
                k += 1
            result = pipe.process(frame, frame_index=i)
            writer.add(i, result.traces)
        for event in events[k:]:  # events after the last frame: counted as pending
            pipe.add_event(event)
        writer.flush()
        _write_trial_responses(writer.file, pipe)
        writer.file.close()
        _write_tables(pipe, tmp)
        report = pipe.report()
        report["movie"] = dict(path=str(movie), frames=n_frames, shape=list(frame_shape))
        tmp("report.json").write_text(json.dumps(report, indent=2, default=str))
        for name, path in partial.items():
            os.replace(path, out_dir / name)
        partial.clear()
        return report
    finally:
        for path in partial.values():
            path.unlink(missing_ok=True)


def _write_trial_responses(h5, pipe: OnlinePipeline) -> None:
    recs = pipe.records
    h5.create_dataset("trial_responses", data=np.array([r.response for r in recs], np.float32).reshape(
        len(recs), pipe.n_cells))
    h5.create_dataset("trial_ids", data=np.array([str(r.event.trial) for r in recs], dtype="S"))
    h5.create_dataset("shifts", data=pipe.shifts.astype(np.float32))
    h5.attrs["config"] = pipe.config.model_dump_json()


def _write_tables(pipe: OnlinePipeline, tmp) -> None:
    import pandas as pd
    tuning_table(pipe).to_csv(tmp("tuning.csv"), index=False)
    sh = pipe.shifts
    pd.DataFrame({"frame": sh[:, 0].astype(int), "dy": sh[:, 1], "dx": sh[:, 2],
                  "clipped": sh[:, 3].astype(int)}).to_csv(tmp("shifts.csv"), index=False)
    trials_table(pipe).to_csv(tmp("trials.csv"), index=False)
    stim, power = photostim_tables(pipe)
    if stim is not None:
        stim.to_csv(tmp("photostim.csv"), index=False)
    if power is not None:
        power.to_csv(tmp("power_test.csv"), index=False)


def _serve(args: argparse.Namespace) -> int:
    from rig.commands.servers import _check_endpoint, serve_until_stopped
    from rig.config import load_rig
    from rig.online_server import OnlineServer

    rig = load_rig(args.rig)
    endpoint, results = args.endpoint or rig.zmq.online, args.results or rig.zmq.online_results
    _check_endpoint(rig, endpoint, "online")
    _check_endpoint(rig, results, "online_results", "--results")
    config = load_online_config(args.config)
    footprints = [load_footprints(path) for path in args.footprints] if args.footprints else None
    import zmq

    from rig.config import ConfigError
    try:
        server = OnlineServer(endpoint, results, footprints, config, dff_every=args.dff_every)
    except zmq.ZMQError as err:
        raise ConfigError(f"cannot bind {endpoint} / {results}: {err}; is another online server running? "
                          f"Pick other endpoints with --endpoint/--results") from None
    return serve_until_stopped(server, "online server", f"{server.endpoint} results on {server.results_endpoint}")


def _replay(args: argparse.Namespace) -> int:
    config = load_online_config(args.config)
    if args.frame_rate is not None:
        if not (math.isfinite(args.frame_rate) and args.frame_rate > 0):
            raise OnlineError(f"--frame-rate must be a positive number of frames per second, got {args.frame_rate}")
        config = _with_frame_rate(config, args.frame_rate)
    report = run_replay(args.movie, args.footprints, args.events, args.out, dataset=args.dataset,
                        shape=args.shape, config=config, channels=args.channels, channel=args.channel,
                        max_frames=args.max_frames)
    counts = report["counts"]
    problems = {k: v for k, v in counts.items() if k not in ("frames_received", "frames_accepted",
                                                             "trials_completed")}
    print(f"replayed {counts.get('frames_accepted', 0)}/{counts.get('frames_received', 0)} frames, "
          f"{counts.get('trials_completed', 0)} trials → {args.out}"
          + (f"; problems: {problems}" if problems else ""))
    if "frame rate unknown" in report["visual_responses"]:
        print("note: grating responses are window means (" + report["visual_responses"] + "); give --frame-rate "
              "for the matched-filter responses")
    return 0
