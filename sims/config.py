"""Parameters of the simulated microscope that are not part of the rig profile."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SimConfig(BaseModel):
    """Biology and optics of the simulated microscope. See docs/simulator.md for sources."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    cell_density_per_mm3: float = Field(
        80000.0, gt=0, description="excitatory cells per mm³ of L2/3 that are imaged")
    opsin_negative_fraction: float = Field(0.2, ge=0, le=1, description="fraction of imaged cells without opsin")
    calibration_distortion_um: float = Field(
        4.0, ge=0, description="scale of the hidden nonlinear imaging↔SLM distortion, µm")
    motion_step_px: float = Field(0.15, ge=0, description="s.d. of the rigid-motion random walk per frame, pixels")
    dropped_frame_rate: float = Field(0.0, ge=0, lt=1, description="probability that a frame is dropped")
