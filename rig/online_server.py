"""The online analysis server (``holostim online serve``): frames in, ΔF/F, trial responses and tuning out.

It PULLs messages of :data:`rig.wire.controller_messages.OnlineInput` on ``zmq.online`` (frames as raw arrays
with a dtype/shape header, :mod:`rig.wire.framing`; trial on/off events and ``configure`` on the same channel,
so events stay in order with the frames) and runs one :class:`online.OnlinePipeline` per imaging plane. It
PUBlishes on ``zmq.online_results`` multipart messages ``[topic, JSON, array header, buffers…]``:

* ``dff``: ``{"type": "dff", "plane", "frame_index", "accepted", "reason", "dy", "dx"}`` + ΔF/F per cell
  (float32), every ``dff_every`` frames of a plane;
* ``trial``: ``{"type": "trial_response", "plane", "trial", "kind", "valid", "max_shift_px"}`` + the response per
  cell (mean ΔF/F in the response window minus the baseline window), when a trial completes;
* ``tuning``: ``{"type": "tuning", "plane", "directions_deg", "n_trials"}`` + ``po_deg, osi, gosi, responsive,
  mean`` (cells × directions), after each completed grating/blank trial once two directions were shown (unless
  a ``configure`` turned it off);
* ``report``: ``{"type": "online_report", "counts", "planes"}``: the server's counters of bad messages and each
  pipeline's :meth:`~online.OnlinePipeline.report`, on a ``report`` request and every ``report_every_s``;
* ``traces`` (only when a ``configure`` asked for them): ``{"type": "traces", "plane", "frame_index", "t_s",
  "dy", "dx"}`` + ``f_cell, f_neuropil`` per cell, for every accepted frame (the session runner writes them);
* ``sync``: ``{"type": "sync", "seq", "frames", "traces"}`` + the noise s.d. per cell of each plane, in answer to
  a ``sync`` message: everything sent before it has been handled and its publications precede this one.

Run as ``python -m rig.online_server`` it is the session runner's child process (``holostim dry-run``'s default
``--online process``): it binds free loopback ports, prints them as one JSON line, and exits when its standard
input closes (the runner is gone, even after a ``kill -9``), on SIGTERM/SIGINT or a ``shutdown`` message.

A bad message (not decodable, unknown, invalid, a frame for a plane that does not exist, before ``configure``)
is counted under its reason and never stops the server; bad frame contents are counted by the pipelines.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Optional, Sequence

import numpy as np
import zmq
from pydantic import ValidationError

import scipy.sparse as sp

from online import Footprints, OnlineConfig, OnlineError, OnlinePipeline, TrialEvent
from rig.lifeline import watch_stdin
from rig.wire import framing, messages as m
from rig.wire import controller_messages as cm
from rig.wire.errors import WireError

log = logging.getLogger(__name__)

#: Largest message part accepted, bytes (a 16-bit 2048 × 2048 frame is 8 MB); ZMQ drops a peer sending more.
MAX_PART_BYTES = 64 * 1024 * 1024


class OnlineServer:
    """Serve the online analysis over ZMQ.

    Parameters
    ----------
    endpoint : PULL endpoint to bind (frames and events in); ``tcp://127.0.0.1:*`` picks a free port.
    results_endpoint : PUB endpoint to bind (results out).
    footprints : optional, per plane a footprint stack (cells × rows × cols) or :class:`online.Footprints`;
        without them the server waits for a ``configure`` message.
    config : :class:`online.OnlineConfig` of the pipelines (a ``configure`` may replace it).
    dff_every : publish ΔF/F every this many frames of a plane (0: never; the session runner's child, whose
        subscriber takes the raw traces instead).
    report_every_s : publish the counters at least this often, seconds.
    results_hwm : messages the PUB socket queues per subscriber before dropping (0 = never drop: the session
        runner's child, whose one subscriber must receive every trace and response).
    frames_hwm : messages the PULL socket queues before senders wait (bounds the memory of a backlog of frames).
    """

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5558", results_endpoint: str = "tcp://127.0.0.1:5559",
                 footprints: Optional[Sequence[np.ndarray]] = None, config: Optional[OnlineConfig] = None,
                 dff_every: int = 1, report_every_s: float = 1.0, context: Optional[zmq.Context] = None,
                 results_hwm: int = 1000, frames_hwm: int = 1000):
        if dff_every < 0:
            raise OnlineError(f"dff_every must be 0 (never) or more, got {dff_every}")
        context = context or zmq.Context.instance()
        self.config = config or OnlineConfig()
        self.dff_every = int(dff_every)
        self.report_every_s = float(report_every_s)
        self.counts: Counter = Counter()
        self.pipelines: list[OnlinePipeline] = []
        self._published: list[int] = []
        self._traces_sent: list[int] = []
        self._traces_pending: list[list] = []
        self.publish_traces = False
        self.traces_batch = 1
        self.publish_tuning = True
        self._offsets = np.zeros(1, np.int64)
        self._stop = threading.Event()
        self._pull = context.socket(zmq.PULL)
        self._pull.setsockopt(zmq.LINGER, 0)
        self._pull.setsockopt(zmq.MAXMSGSIZE, MAX_PART_BYTES)
        self._pull.setsockopt(zmq.RCVHWM, int(frames_hwm))
        self._pub = context.socket(zmq.PUB)
        self._pub.setsockopt(zmq.LINGER, 500)
        self._pub.setsockopt(zmq.SNDHWM, int(results_hwm))
        try:
            self._pull.bind(endpoint)
            self._pub.bind(results_endpoint)
        except zmq.ZMQError:
            self._pull.close(linger=0)
            self._pub.close(linger=0)
            raise
        self.endpoint: str = self._pull.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.results_endpoint: str = self._pub.getsockopt(zmq.LAST_ENDPOINT).decode()
        if footprints is not None:
            self.configure(footprints, self.config)

    # ------------------------------------------------------------------------------------------------- set-up
    def configure(self, footprints: Sequence, config: Optional[OnlineConfig] = None) -> None:
        """(Re)build one pipeline per plane; raises OnlineError for unusable footprints.

        A plane's footprints are a cells × rows × cols stack, an :class:`online.Footprints`, or a sparse
        cells × pixels matrix (``(matrix, frame_shape)`` pairs: see :func:`csr_footprints`)."""
        if not len(footprints):
            raise OnlineError("configure needs one footprint stack (cells × rows × cols) per imaging plane")
        config = config or self.config
        pipes = []
        for k, fp in enumerate(footprints):
            if isinstance(fp, Footprints):
                pipes.append(OnlinePipeline(fp, fp.shape, config))
                continue
            if isinstance(fp, tuple) and len(fp) == 2 and sp.issparse(fp[0]):
                pipes.append(OnlinePipeline(fp[0], tuple(fp[1]), config))
                continue
            fp = np.asarray(fp)
            if fp.ndim != 3 or fp.shape[0] == 0 or fp.dtype.kind not in "biuf":
                raise OnlineError(f"plane {k}: footprints must be cells × rows × cols (weights or booleans) "
                                  f"with cells ≥ 1, got {fp.dtype} of shape {fp.shape}")
            pipes.append(OnlinePipeline(np.ascontiguousarray(fp), tuple(fp.shape[1:]), config))
        self.config, self.pipelines = config, pipes
        self._published = [0] * len(pipes)
        self._traces_sent = [0] * len(pipes)
        self._traces_pending = [[] for _ in pipes]
        self._offsets = np.cumsum([0] + [p.n_cells for p in pipes])
        log.info("online analysis of %d cells on %d planes", self._offsets[-1], len(pipes))

    # ------------------------------------------------------------------------------------------------ serving
    def serve(self, poll_ms: int = 50) -> None:
        """Handle messages until a ``shutdown`` message or :meth:`stop`; closes the sockets at the end."""
        last_report = time.monotonic()
        try:
            while not self._stop.is_set():
                if self._pull.poll(poll_ms):
                    for out in self.handle(self._pull.recv_multipart(copy=False)):
                        self._pub.send_multipart(out, copy=False)
                if time.monotonic() - last_report >= self.report_every_s:
                    self._pub.send_multipart(self._report())
                    last_report = time.monotonic()
            for out in self._flush_traces() + [self._report()]:
                self._pub.send_multipart(out)
        finally:
            self._pull.close(linger=0)
            self._pub.close(linger=500)

    def stop(self) -> None:
        """Ask :meth:`serve` to return (thread- and signal-safe)."""
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve, name="online-server", daemon=True)
        thread.start()
        return thread

    def handle(self, parts: Sequence) -> list[list]:
        """One incoming message → the publications it causes. Never raises: problems are counted."""
        self.counts["messages_received"] += 1
        try:
            message, arrays = framing.decode(parts)
            request = m.parse(cm.OnlineInput, message)
            if isinstance(request, (cm.Sync, cm.ReportRequest, m.Shutdown)):
                flushed = self._flush_traces()     # a barrier's answer counts every trace, sent before it
                return flushed + self._dispatch(request, arrays) + self._new_records()
            out = self._dispatch(request, arrays)
            records = self._new_records()
            return out + (self._flush_traces() + records if records else [])
        except WireError as err:
            return self._bad(f"messages_{err.kind}", str(err))
        except (OnlineError, ValidationError) as err:
            return self._bad("messages_invalid", str(err))
        except Exception as err:  # noqa: BLE001 - nothing a sender does may take the server down
            log.exception("online message failed")
            return self._bad("messages_internal", f"{type(err).__name__}: {err}")

    def _bad(self, kind: str, message: str) -> list:
        self.counts[kind] += 1
        if self.counts[kind] <= 3:
            log.warning("%s: %s", kind, message)
        return []

    def _dispatch(self, request, arrays: list[np.ndarray]) -> list[list]:
        if isinstance(request, cm.Configure):
            planes = csr_footprints(arrays, request.frame_shape) if request.encoding == "csr" else arrays
            self.configure(planes, OnlineConfig(**request.online) if request.online else self.config)
            self.publish_traces = bool(request.traces)
            self.traces_batch = int(request.traces_batch)
            self.publish_tuning = bool(request.tuning)
            return [self._report()]
        if isinstance(request, cm.ReportRequest):
            return [self._report()]
        if isinstance(request, cm.Sync):
            return [self._sync(request.seq)]
        if isinstance(request, m.Shutdown):
            self._stop.set()
            return []
        if not self.pipelines:
            return self._bad("messages_before_configure", f"a {request.type!r} message before any footprints")
        if isinstance(request, cm.OnlineFrame):
            return self._frame(request, arrays)
        if isinstance(request, cm.Reference):
            return self._reference(request, arrays)
        if arrays:
            raise WireError(f"a {request.type!r} message carries no arrays, got {len(arrays)}", "invalid")
        if isinstance(request, cm.TrialOn):
            return self._trial_on(request)
        return self._trial_off(request)

    def _frame(self, request: cm.OnlineFrame, arrays: list[np.ndarray]) -> list[list]:
        if len(arrays) != 1:
            return self._bad("frames_without_image", f"a frame carries one image, got {len(arrays)} arrays")
        if request.plane >= len(self.pipelines):
            return self._bad("frames_unknown_plane", f"plane {request.plane}: only {len(self.pipelines)} planes")
        pipe = self.pipelines[request.plane]
        result = pipe.process(arrays[0], frame_index=request.frame_index, t_s=request.t_s)
        out = []
        if result.accepted and self.publish_traces:
            tr = result.traces
            if self.traces_batch > 1:
                pending = self._traces_pending[request.plane]
                pending.append((result.frame_index, request.t_s, float(result.dy), float(result.dx),
                                tr.f_cell, tr.f_neuropil))
                if len(pending) >= self.traces_batch:
                    out.extend(self._flush_traces(request.plane))
            else:
                head = {"type": "traces", "plane": request.plane, "frame_index": result.frame_index,
                        "t_s": request.t_s, "dy": float(result.dy), "dx": float(result.dx)}
                out.append([b"traces", *framing.encode(head, [tr.f_cell, tr.f_neuropil])])
                self._traces_sent[request.plane] += 1
        if self.dff_every and result.accepted and pipe.counts["frames_accepted"] % self.dff_every == 0:
            head = {"type": "dff", "plane": request.plane, "frame_index": result.frame_index, "accepted": True,
                    "reason": None, "dy": float(result.dy), "dx": float(result.dx)}
            out.append([b"dff", *framing.encode(head, [result.dff.astype(np.float32)])])
        return out

    def _flush_traces(self, plane: Optional[int] = None) -> list[list]:
        """``traces_block`` publications of the frames held back (one plane, or all): per frame ``frame_index``,
        ``t_s``, ``dy``, ``dx`` in the header, cell and neuropil fluorescence as frames × cells arrays."""
        out = []
        for k in range(len(self._traces_pending)) if plane is None else (plane,):
            pending = self._traces_pending[k]
            if not pending:
                continue
            index, t, dy, dx, f_cell, f_neuropil = zip(*pending)
            head = {"type": "traces_block", "plane": k, "frame_index": [int(i) for i in index],
                    "t_s": [float(v) for v in t], "dy": list(dy), "dx": list(dx)}
            out.append([b"traces_block", *framing.encode(head, [np.stack(f_cell), np.stack(f_neuropil)])])
            self._traces_sent[k] += len(pending)
            pending.clear()
        return out

    def _new_records(self) -> list[list]:
        """Publications for the trials completed since the last call (by a frame, or by a late offset)."""
        out = []
        for plane, pipe in enumerate(self.pipelines):
            new = pipe.records[self._published[plane]:]
            self._published[plane] = len(pipe.records)
            for record in new:
                head = {"type": "trial_response", "plane": plane, "trial": record.event.trial,
                        "kind": record.event.kind, "valid": bool(record.valid),
                        "max_shift_px": _finite(record.max_shift_px),
                        "n_baseline_frames": int(record.n_baseline_frames),
                        "n_response_frames": int(record.n_response_frames),
                        "motion_excluded": bool(record.motion_excluded)}
                out.append([b"trial", *framing.encode(head, [np.asarray(record.response, np.float32)])])
            if self.publish_tuning and any(r.event.kind in ("grating", "blank") for r in new):
                out.extend(self._tuning(plane))
        return out

    def _tuning(self, plane: int) -> list[list]:
        pipe = self.pipelines[plane]
        tuning = pipe.tuning()
        if tuning is None:
            return []
        head = {"type": "tuning", "plane": plane, "directions_deg": [float(d) for d in tuning.directions_deg],
                "n_trials": len(pipe.trial_records("grating")) + len(pipe.trial_records("blank"))}
        arrays = [np.asarray(a, np.float32) for a in (tuning.po_deg, tuning.osi, tuning.gosi)]
        arrays += [np.asarray(tuning.responsive, bool), np.asarray(tuning.mean, np.float32)]
        return [[b"tuning", *framing.encode(head, arrays)]]

    def _trial_on(self, request: cm.TrialOn) -> list[list]:
        n_total = int(self._offsets[-1])
        targets = None
        if request.targets is not None:
            targets = np.asarray(request.targets, np.int64)
            if targets.size and targets.max() >= n_total:
                return self._bad("events_invalid", f"trial {request.trial!r}: targets must be cell indices "
                                                   f"0 … {n_total - 1}")
        for k, pipe in enumerate(self.pipelines):
            local = None
            if targets is not None:
                lo, hi = self._offsets[k], self._offsets[k + 1]
                local = tuple(int(t - lo) for t in targets if lo <= t < hi)
            pipe.add_event(TrialEvent(request.trial, request.kind, request.onset_frame, request.offset_frame,
                                      request.direction_deg, request.ensemble, local, request.power_mw))
        return []

    def _reference(self, request: cm.Reference, arrays: list[np.ndarray]) -> list[list]:
        if len(arrays) != 1:
            raise WireError(f"a reference carries one image, got {len(arrays)} arrays", "invalid")
        if request.plane >= len(self.pipelines):
            return self._bad("events_invalid", f"reference for plane {request.plane}: only {len(self.pipelines)} "
                                               "planes")
        self.pipelines[request.plane].motion.set_reference(arrays[0])
        return []

    def _sync(self, seq: int) -> list:
        """The barrier's answer: counters and each plane's noise s.d. (float64, as the pipelines hold it)."""
        head = {"type": "sync", "seq": int(seq),
                "frames": [int(p.counts["frames_received"]) for p in self.pipelines],
                "traces": list(self._traces_sent)}
        noise = [np.asarray(p.noise_sd, np.float64) for p in self.pipelines]
        return [b"sync", *framing.encode(head, noise)]

    def _trial_off(self, request: cm.TrialOff) -> list[list]:
        for pipe in self.pipelines:
            pipe.end_trial(request.trial, request.offset_frame)
        return []

    def _report(self) -> list[bytes]:
        planes = [pipe.report() for pipe in self.pipelines]
        body = {"type": "online_report", "counts": {k: int(v) for k, v in sorted(self.counts.items())},
                "planes": planes}
        return [b"report", framing.dumps_json(_plain(body))]


def _finite(value) -> Optional[float]:
    value = float(value)
    return value if np.isfinite(value) else None


def _plain(obj):
    """JSON-safe copy: numpy scalars as numbers, non-finite floats as None, anything else as text."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, np.ndarray):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def csr_footprints(arrays: Sequence[np.ndarray], frame_shape) -> list[tuple]:
    """Per plane ``(sparse cells × pixels matrix, frame_shape)`` from a ``configure``'s ``data, indices, indptr``
    triples; raises OnlineError when the arrays do not form valid matrices over ``frame_shape``."""
    if frame_shape is None or len(arrays) == 0 or len(arrays) % 3:
        raise OnlineError(f"encoding 'csr' needs frame_shape and three arrays (data, indices, indptr) per plane, "
                          f"got {len(arrays)} arrays")
    rows, cols = (int(n) for n in frame_shape)
    planes = []
    for k in range(len(arrays) // 3):
        data, indices, indptr = arrays[3 * k:3 * k + 3]
        if (data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1 or indices.dtype.kind not in "iu"
                or indptr.dtype.kind not in "iu" or data.dtype.kind not in "biuf" or len(indptr) < 2
                or len(data) != len(indices) or indptr[0] != 0 or indptr[-1] != len(indices)
                or np.any(np.diff(indptr) < 0) or (indices.size and not 0 <= indices.min() <= indices.max()
                                                   < rows * cols)):
            raise OnlineError(f"plane {k}: data, indices, indptr do not form a sparse cells × {rows * cols} "
                              "matrix (indices must be pixels of frame_shape, indptr start at 0 and rise)")
        matrix = sp.csr_matrix((np.array(data), np.array(indices), np.array(indptr)),
                               shape=(len(indptr) - 1, rows * cols))
        planes.append((matrix, (rows, cols)))
    return planes


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The session runner's child process: serve on loopback until stdin closes, SIGTERM/SIGINT or ``shutdown``.

    Prints one JSON line, ``{"endpoint": …, "results": …}``, once both sockets are bound."""
    import argparse
    import json
    import signal

    parser = argparse.ArgumentParser(prog="python -m rig.online_server",
                                     description="online analysis server as a child of a session runner")
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:*", help="PULL endpoint (frames and events in)")
    parser.add_argument("--results", default="tcp://127.0.0.1:*", help="PUB endpoint (results out)")
    parser.add_argument("--dff-every", type=int, default=0,
                        help="publish ΔF/F every N frames of a plane (default 0: never; the runner takes the traces)")
    parser.add_argument("--log-level", default="WARNING", help="logging level of this process")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="online server: %(levelname)s %(message)s")
    import cv2

    # one core for the analysis: the runner renders (or receives) frames on the other; OpenCV's own thread pool
    # would only compete with it (the warps are per pixel, so the numbers do not depend on the thread count)
    cv2.setNumThreads(1)
    for host in (args.endpoint, args.results):
        if not host.startswith(("tcp://127.0.0.1:", "tcp://localhost:", "ipc://", "inproc://")):
            raise SystemExit(f"python -m rig.online_server binds loopback only, got {host}; "
                             "use `holostim online serve` for a server other computers reach")
    # the runner waits when 2 × 32 frames are queued (its send queue and this one): a bounded backlog
    server = OnlineServer(args.endpoint, args.results, dff_every=args.dff_every, results_hwm=0, frames_hwm=32)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop())
    watch_stdin(server.stop)
    print(json.dumps({"endpoint": server.endpoint, "results": server.results_endpoint}), flush=True)
    server.serve(poll_ms=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
