"""Optimizer spec: what ensembles to design (seed 002, Methods, "Discrete optimizer").

A spec is a list of ensemble *groups*; each group asks for ``count`` ensembles of ``cells`` cells that obey a
spatial rule and a tuning rule. Thresholds default to seed 002 ("Offline analysis"):

* spatial ``compact``: mean pairwise 3D distance of the targets < 200 µm; ``diffuse``: > 200 µm; or an explicit
  ``[low_um, high_um]`` range.
* tuning ``cotuned``: ensemble OSI > 0.7 and mean member OSI > 0.5, around a target orientation;
  ``untuned``: ensemble OSI < 0.3 and mean member OSI < 0.5; ``any``: no tuning rule.

The nine cost criteria of seed 002 carry configurable weights (:class:`CriterionWeights`). Criterion 5 (no two
cells of one ensemble within ``min_distance_um``) is a hard constraint, so it has no weight.
"""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SpatialName = Literal["compact", "diffuse", "any"]
TuningName = Literal["cotuned", "untuned", "any"]

#: Seed 002: a close ensemble has mean pairwise distance < 200 µm, a far-apart one > 200 µm.
COMPACT_DIFFUSE_BOUNDARY_UM = 200.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Range(_Strict):
    """A closed interval ``[low, high]``."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if not self.low < self.high:
            raise ValueError(f"range low ({self.low}) must be below high ({self.high})")
        return self

    @classmethod
    def coerce(cls, value):
        """Accept ``[low, high]`` lists as well as ``{low:, high:}`` mappings."""
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError(f"a range is [low, high], got {len(value)} numbers")
            return {"low": value[0], "high": value[1]}
        return value


class EnsembleGroup(_Strict):
    """``count`` ensembles sharing one spatial rule and one tuning rule."""

    count: int = Field(ge=1, le=20, description="number of ensembles in this group")
    cells: int = Field(10, ge=3, le=50, description="cells per ensemble (seed 002: 10)")
    spatial: Union[SpatialName, Range] = Field(
        "any", description="'compact' (< 200 µm), 'diffuse' (> 200 µm), 'any', or [low_um, high_um] mean pairwise 3D distance")
    tuning: TuningName = Field("any", description="'cotuned', 'untuned' or 'any'")
    orientation_deg: Optional[list[float]] = Field(
        None, description="target orientations of cotuned ensembles, degrees in [0, 180); "
        "default: spread evenly over orientation space")
    ensemble_osi: Optional[Range] = Field(
        None, description="override of the ensemble-OSI rule (cotuned: (0.7, 1], untuned: [0, 0.3))")
    mean_osi: Optional[Range] = Field(
        None, description="override of the mean member OSI rule (cotuned: (0.5, 1], untuned: [0, 0.5))")
    orientation_tolerance_deg: float = Field(
        22.5, gt=0, le=90, description="how far the ensemble's orientation may sit from its target")
    weight: float = Field(1.0, gt=0, description="weight of this group's rule terms (7–9) in the cost")

    @field_validator("spatial", "ensemble_osi", "mean_osi", mode="before")
    @classmethod
    def _range_lists(cls, value):
        if isinstance(value, (list, tuple)):
            return Range.coerce(value)
        return value

    @field_validator("orientation_deg")
    @classmethod
    def _orientations_in_range(cls, value):
        if value is not None:
            bad = [v for v in value if not 0.0 <= v < 180.0]
            if bad:
                raise ValueError(f"orientations must lie in [0, 180) degrees, got {bad}")
        return value

    @model_validator(mode="after")
    def _orientation_needs_cotuned(self) -> "EnsembleGroup":
        if self.orientation_deg is not None:
            if self.tuning != "cotuned":
                raise ValueError("orientation_deg applies only to tuning: cotuned")
            if len(self.orientation_deg) not in (1, self.count):
                raise ValueError(
                    f"give one orientation for the group or one per ensemble ({self.count}), "
                    f"got {len(self.orientation_deg)}")
        return self

    def spatial_range_um(self) -> tuple[float, float]:
        """The allowed mean pairwise distance, µm, as an open interval (low, high)."""
        if isinstance(self.spatial, Range):
            return (self.spatial.low, self.spatial.high)
        if self.spatial == "compact":
            return (0.0, COMPACT_DIFFUSE_BOUNDARY_UM)
        if self.spatial == "diffuse":
            return (COMPACT_DIFFUSE_BOUNDARY_UM, float("inf"))
        return (0.0, float("inf"))

    def ensemble_osi_range(self) -> tuple[float, float]:
        """Allowed ensemble OSI (OSI of the members' mean tuning curve), seed 002 thresholds by default."""
        if self.ensemble_osi is not None:
            return (self.ensemble_osi.low, self.ensemble_osi.high)
        return {"cotuned": (0.7, 1.0), "untuned": (0.0, 0.3)}.get(self.tuning, (0.0, 1.0))

    def mean_osi_range(self) -> tuple[float, float]:
        """Allowed mean OSI of the members, seed 002 thresholds by default."""
        if self.mean_osi is not None:
            return (self.mean_osi.low, self.mean_osi.high)
        return {"cotuned": (0.5, 1.0), "untuned": (0.0, 0.5)}.get(self.tuning, (0.0, 1.0))


class CriterionWeights(_Strict):
    """Weights of the cost terms; the numbers are seed 002's nine criteria (5 is hard, so absent)."""

    distinct: float = Field(1.0, ge=0, description="(1) ensembles maximally distinct from each other")
    reuse: float = Field(1.0, ge=0, description="(2) few reuses of a cell across holograms")
    power: float = Field(0.5, ge=0, description="(3) low stimmable power preferred")
    responsive: float = Field(0.5, ge=0, description="(4) visually responsive cells preferred")
    spread: float = Field(0.5, ge=0, description="(6) cells spread out within an ensemble")
    spatial: float = Field(10.0, ge=0, description="(7) the spatial rule")
    ensemble_osi: float = Field(10.0, ge=0, description="(8) the ensemble-OSI rule")
    mean_osi: float = Field(10.0, ge=0, description="(9) the mean-selectivity rule")


class OptimizerSpec(_Strict):
    """Everything the discrete ensemble optimizer needs besides the cell table."""

    kind: Literal["optimizer"] = "optimizer"
    ensembles: list[EnsembleGroup] = Field(min_length=1, description="ensemble groups")
    weights: CriterionWeights = Field(default_factory=CriterionWeights)
    min_distance_um: float = Field(
        30.0, ge=0, description="(5, hard) no two cells of one ensemble closer than this, 3D µm (seed 002: 30 µm)")
    time_budget_s: float = Field(2.0, gt=0, description="wall-time budget of the search, seconds")
    restarts: int = Field(1, ge=1, description="independent restarts sharing the sweeps; the best result is kept "
                                               "(at a 2-s budget one long chain beats several short ones)")
    sweeps: Optional[int] = Field(
        None, ge=1, le=10000, description="annealing sweeps per restart (every slot of every ensemble once); "
        "default: 36 shared by the restarts (about the default time budget on one core)")
    seed: int = Field(0, ge=0, description="random seed of the search")

    @model_validator(mode="after")
    def _ensemble_count(self) -> "OptimizerSpec":
        total = self.total_ensembles
        if not 3 <= total <= 20:
            raise ValueError(f"seed 002 designs 3–20 ensembles per session; this spec asks for {total}")
        return self

    @property
    def total_ensembles(self) -> int:
        return sum(g.count for g in self.ensembles)
