"""Settings of the online pipeline (seed 002, Methods, "Online analysis", "Offline analysis", "Exclusion criteria").

Frame counts rather than seconds: the online pipeline sees frame indices only; the rig converts its protocol's
seconds with the imaging frame rate when it builds this model.
"""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class OnlineConfig(BaseModel):
    """Streaming analysis parameters. Defaults follow seed 002 where it gives a number."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- motion correction ------------------------------------------------------------------------------------
    reference_frames: int = Field(100, ge=1, description="frames averaged into the motion-correction reference")
    max_shift_px: float = Field(30.0, gt=0, description="largest rigid shift accepted, pixels; larger is clipped and flagged")
    reference_update_rate: float = Field(
        0.0, ge=0, lt=1, description="after the reference is built, weight of each registered frame in an "
                                     "exponential update of the reference; 0 keeps it fixed")
    reference_update_every_frames: int = Field(
        100, ge=1, description="how often an updating reference is re-transformed (it costs one FFT)")
    registration_smooth_px: float = Field(
        1.5, gt=0, description="s.d. of the Gaussian that smooths the phase-correlation peak, pixels "
                               "(suite2p smooths it by ~1.15 px); it also sets the spectral band used")
    registration_downsample: Optional[Literal[1, 2]] = Field(
        None, description="estimate shifts at full (1) or half (2) resolution; default: half on frames of 256 px "
                          "and more (a quarter of the work, shift error ~0.01 px on 512² frames), else full")

    # --- extraction ---------------------------------------------------------------------------------------------
    neuropil_coefficient: Union[float, Literal["auto"]] = Field(
        0.7, description="c in F = F_cell − c·F_neuropil; 'auto' estimates it per cell")
    neuropil_max_pixels: int = Field(350, ge=1, description="annulus size cap, pixels (seed 002: up to 350)")
    neuropil_inner_px: float = Field(
        2.0, ge=0, description="gap between any cell and the neuropil annulus, pixels (suite2p's inner radius)")
    neuropil_max_radius_px: float = Field(
        60.0, gt=0, description="annulus pixels lie at most this far from the cell's centre, pixels")
    neuropil_auto_frames: int = Field(
        500, ge=10, description="frames used to estimate c per cell when neuropil_coefficient is 'auto'")
    neuropil_auto_max: float = Field(1.0, gt=0, description="upper clip of an estimated neuropil coefficient")

    # --- ΔF/F -------------------------------------------------------------------------------------------------
    baseline_percentile: float = Field(10.0, gt=0, lt=100, description="F0 percentile (seed 002: 10th)")
    baseline_window_frames: int = Field(1000, ge=10, description="F0 running window, frames (seed 002: 1,000)")
    min_baseline: float = Field(
        1.0, gt=0, description="F0 below this (fluorescence units) is raised to it before dividing, so a dim "
                               "neuropil-subtracted cell cannot blow ΔF/F up")

    # --- trials -----------------------------------------------------------------------------------------------
    trial_baseline_frames: int = Field(
        6, ge=1, description="frames before onset that form a trial's baseline window (protocol baseline_s × rate)")
    response_extra_frames: int = Field(
        0, ge=0, description="frames after offset_frame still counted in the response window (GCaMP decay)")
    indicator_decay_s: Optional[float] = Field(
        1.6, gt=0, description="calcium indicator decay time constant, s (GCaMP6s ≈ 1.6 s, Chen et al. 2013); "
        "with it, the baseline window's level is extrapolated into the response window as a decay, so the tail of "
        "the previous trial is not counted as a response (null: plain baseline mean)")
    indicator_rise_s: float = Field(
        0.26, ge=0, description="calcium indicator rise time constant, s (GCaMP6s half-rise ≈ 0.18 s, τ ≈ 0.26 s, "
        "Chen et al. 2013), for the matched response estimator's template")
    decay_corrected_kinds: list[Literal["grating", "blank", "photostim"]] = Field(
        ["grating", "blank"], description="trial kinds whose response uses the indicator model "
        "(visual_response_estimator). Both estimators measure responses against a level that a tuning curve can "
        "reference (the resting level or the blanks), which photostim z-scores, judged against 0, cannot: by "
        "default photostim responses keep the plain baseline of seed 002")
    visual_response_estimator: Literal["matched", "window"] = Field(
        "matched", description="response of the decay_corrected_kinds: 'matched', the least-squares amplitude of "
        "the expected response on the decay-filtered (deconvolved) ΔF/F, in units of the mean evoked ΔF/F over the "
        "response window (online/indicator.py; ~0.07 higher OSI correlation with the simulator's truth at 10 "
        "repetitions); 'window', the response window's mean minus the baseline extrapolated as a decay")
    resting_level_frames: int = Field(
        600, ge=0, description="for the matched estimator: frames before each response window's end whose quiet "
        "frames (outside every trial's evoked span) give each cell's resting level, subtracted from its responses; "
        "0: none, the blank reference removes the offset instead (~100 s at 6 Hz: 300–600 frames gave the best OSI "
        "on the simulator, 3,000 let slow drifts in)")
    subtract_blank: Optional[bool] = Field(
        None, description="tuning curve = mean response − mean blank response; null: only where the responses "
        "carry an offset the blanks must remove (the window estimator, or matched without a resting level)")
    visual_stimulus_s: Optional[float] = Field(
        None, gt=0, description="duration of the stimulus of those trials, s, for the matched template (the rig "
        "sets the grating duration); null: each trial's onset → offset_frame")
    frame_rate_hz: Optional[float] = Field(
        None, gt=0, description="frames per second of one plane, to turn indicator_decay_s into frames; null: "
        "estimated from the frames' timestamps (without either, the plain baseline is used)")
    history_frames: int = Field(
        3000, ge=100, description="ΔF/F frames kept for trial windows; an event older than this is too late")
    max_trial_motion_px: float = Field(
        3.0, gt=0, description="a trial whose shift exceeds this is excluded (seed 002: 3 px = 4.7 µm)")

    # --- tuning -----------------------------------------------------------------------------------------------
    anova_alpha: float = Field(0.05, gt=0, lt=1, description="visual responsiveness: one-way ANOVA p below this")
    po_method: Literal["fit", "peak"] = Field(
        "fit", description="preferred orientation from the double-von-Mises fit (seed 000) or the direction of "
                           "the largest mean response (seed 002)")
    tuned_osi_threshold: float = Field(0.25, ge=0, le=1, description="a cell is tuned when OSI exceeds this "
                                                                    "(seed 002 figures use OSI > 0.25)")

    # --- photostimulation -------------------------------------------------------------------------------------
    response_z_threshold: float = Field(
        0.25, gt=0, description="a targeted cell responded if its z-scored response exceeds this (seed 002: 0.25)")
    max_failed_fraction: float = Field(
        0.5, gt=0, le=1, description="a photostim trial is excluded when this fraction or more of its targets "
                                     "failed to respond (seed 002: 50 %)")
    confidence: float = Field(0.95, gt=0, lt=1, description="level of the evoked-response confidence intervals")
    power_test_alpha: float = Field(
        0.05, gt=0, lt=1, description="one-sided significance level of a power-test response")

    @property
    def blank_reference(self) -> bool:
        """Whether tuning curves subtract the mean blank response (``subtract_blank``, or its automatic choice)."""
        if self.subtract_blank is not None:
            return self.subtract_blank
        return self.visual_response_estimator == "window" or self.resting_level_frames == 0
