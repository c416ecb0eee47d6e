"""Settings of the online pipeline (seed 002, Methods, "Online analysis" and "Offline analysis")."""
from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class OnlineConfig(BaseModel):
    """Streaming analysis parameters. Defaults follow seed 002 where it gives a number."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    reference_frames: int = Field(100, ge=1, description="frames averaged into the motion-correction reference")
    max_shift_px: float = Field(30.0, gt=0, description="largest rigid shift accepted, pixels; larger is clipped and flagged")
    neuropil_coefficient: Union[float, Literal["auto"]] = Field(
        0.7, description="c in F = F_cell − c·F_neuropil; 'auto' estimates it per cell")
    neuropil_max_pixels: int = Field(350, ge=1, description="annulus size cap, pixels (seed 002: up to 350)")
    baseline_percentile: float = Field(10.0, gt=0, lt=100, description="F0 percentile (seed 002: 10th)")
    baseline_window_frames: int = Field(1000, ge=10, description="F0 running window, frames (seed 002: 1,000)")
    response_z_threshold: float = Field(
        0.25, gt=0, description="a targeted cell responded if its z-scored response exceeds this (seed 002: 0.25)")
    anova_alpha: float = Field(0.05, gt=0, lt=1, description="visual responsiveness: one-way ANOVA p below this")
