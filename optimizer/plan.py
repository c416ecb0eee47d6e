"""Expand an :class:`OptimizerSpec`'s groups into one :class:`EnsemblePlan` per ensemble to design.

Cotuned ensembles get target orientations: those given in the spec; the others — all cotuned ensembles of all
groups that give no orientation, M in total — are spread evenly over orientation space at 0°, 180°/M, 2·180°/M, …
(seed 002: "we used this optimizer to ensure that the chosen ensembles were evenly distributed across feature
(orientation) space"). Targets are dealt to the groups in turn, so each group on its own is spread evenly too
(two groups of five: one gets 0°, 36°, 72°, …, the other 18°, 54°, 90°, …), and ensembles of different groups
do not compete for the same cells.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .spec import EnsembleGroup, OptimizerSpec


@dataclass(frozen=True)
class EnsemblePlan:
    """The rules one ensemble must meet (intervals are open: the value must lie strictly inside)."""

    index: int
    group: int
    n_cells: int
    spatial_label: str
    tuning: str
    spatial_um: tuple[float, float]
    ensemble_osi: tuple[float, float]
    mean_osi: tuple[float, float]
    target_deg: Optional[float]
    tolerance_deg: float
    weight: float

    @property
    def label(self) -> str:
        target = f" @ {self.target_deg:g}°" if self.target_deg is not None else ""
        return f"{self.spatial_label}/{self.tuning}{target}"


def spatial_label(group: EnsembleGroup) -> str:
    if isinstance(group.spatial, str):
        return group.spatial
    return f"{group.spatial.low:g}–{group.spatial.high:g} µm"


def expand(spec: OptimizerSpec) -> list[EnsemblePlan]:
    """One plan per ensemble, in spec order."""
    plans: list[EnsemblePlan] = []
    auto = _auto_targets(spec)
    for g, group in enumerate(spec.ensembles):
        targets = _targets(group) if g not in auto else auto[g]
        for i in range(group.count):
            plans.append(EnsemblePlan(
                index=len(plans), group=g, n_cells=group.cells, spatial_label=spatial_label(group),
                tuning=group.tuning, spatial_um=group.spatial_range_um(),
                ensemble_osi=group.ensemble_osi_range(), mean_osi=group.mean_osi_range(),
                target_deg=targets[i], tolerance_deg=group.orientation_tolerance_deg, weight=group.weight))
    return plans


def _targets(group: EnsembleGroup) -> list[Optional[float]]:
    if group.tuning != "cotuned":
        return [None] * group.count
    given = group.orientation_deg
    return [float(given[0])] * group.count if len(given) == 1 else [float(v) for v in given]


def _auto_targets(spec: OptimizerSpec) -> dict[int, list[float]]:
    """Targets of the cotuned groups without given orientations, dealt in turn from one even spread."""
    groups = [g for g, group in enumerate(spec.ensembles)
              if group.tuning == "cotuned" and group.orientation_deg is None]
    order = [(g, i) for i in range(max((spec.ensembles[g].count for g in groups), default=0))
             for g in groups if i < spec.ensembles[g].count]
    targets: dict[int, list[float]] = {g: [] for g in groups}
    for k, (g, _) in enumerate(order):
        targets[g].append(k * 180.0 / len(order))
    return targets
