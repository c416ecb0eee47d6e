"""The online pipelines in the runner's own process (``--online inline``), behind the interface the imaging loop
(:class:`rig.runner.acquisition.Acquisition`) uses for any analysis backend; the other backend is
:class:`rig.runner.online_link.RemoteAnalysis` (the online server in a child process).

The interface: ``attach`` (footprints per plane, a trace writer), ``set_references``, ``frame`` (one image),
``add_trial`` (targets as each plane's footprint indices), ``completed``/``take`` (a trial's per-plane records),
``noise_sd`` (per plane), ``report``, ``flush``, ``close``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Optional, Sequence

import numpy as np

from online import OnlineConfig, OnlinePipeline


@dataclass(frozen=True)
class PlaneRecord:
    """One plane's completed trial: response per cell of that plane (ΔF/F), window sizes, largest shift (px)."""

    response: np.ndarray
    n_baseline_frames: int
    n_response_frames: int
    max_shift_px: float


#: ``write(plane, f_cell, f_neuropil, volume, t_s, dy, dx)``: one accepted frame's traces to the session file
#: (cells; scalars), or a block of frames' (frames × cells; arrays of volume, t_s, dy, dx).
TraceWriter = Callable[..., None]


class InlineAnalysis:
    """The online pipelines in this process (``--online inline``: tests and debugging)."""

    def __init__(self):
        self.pipelines: list[OnlinePipeline] = []
        self._records: list[dict] = []
        self._write: Optional[TraceWriter] = None

    @property
    def attached(self) -> bool:
        return bool(self.pipelines)

    @property
    def config(self) -> OnlineConfig:
        return self.pipelines[0].config

    def attach(self, footprints: Sequence, plane_rows: Sequence[np.ndarray], frame_shape, config: OnlineConfig,
               write: TraceWriter) -> None:
        self.pipelines = [OnlinePipeline(fp, tuple(frame_shape), config) for fp in footprints]
        self._records = [dict() for _ in self.pipelines]
        self._write = write

    def set_references(self, refs: Sequence[np.ndarray]) -> None:
        for pipe, ref in zip(self.pipelines, refs):
            pipe.motion.set_reference(ref)

    def frame(self, plane: int, image, volume: int, t: float) -> None:
        result = self.pipelines[plane].process(image, frame_index=volume, t_s=t)
        if result.accepted and result.traces is not None:
            tr = result.traces
            self._write(plane, tr.f_cell, tr.f_neuropil, volume, t, result.dy, result.dx)
        if result.completed_trials:
            done = set(result.completed_trials)
            for rec in self.pipelines[plane].records[-len(done):]:
                if rec.event.trial in done:
                    self._records[plane][rec.event.trial] = PlaneRecord(
                        rec.response, rec.n_baseline_frames, rec.n_response_frames, rec.max_shift_px)

    def add_trial(self, key: Hashable, kind: str, onset: int, offset: int, targets: Optional[list], *,
                  direction_deg, ensemble, power_mw) -> None:
        """``targets``: per plane, that plane's footprint indices (None: no targets given)."""
        for k, pipe in enumerate(self.pipelines):
            pipe.add_trial(key, kind, int(onset), int(offset), direction_deg=direction_deg, ensemble=ensemble,
                           targets=None if targets is None else targets[k], power_mw=power_mw)

    def completed(self, key: Hashable) -> bool:
        return all(key in r for r in self._records)

    def take(self, key: Hashable) -> list[Optional[PlaneRecord]]:
        return [r.pop(key, None) for r in self._records]

    def noise_sd(self) -> list[np.ndarray]:
        return [p.noise_sd for p in self.pipelines]

    def report(self) -> list[dict]:
        return [p.report() for p in self.pipelines]

    def flush(self) -> None:
        """Everything sent so far is analysed and written (nothing to wait for in this process)."""

    def close(self) -> None:
        pass
