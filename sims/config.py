"""Parameters of the simulated microscope that are not part of the rig profile.

Every field has a default, so ``sim: {}`` (or no section at all) gives the calibrated simulator. Sources of the
numbers are in docs/simulator.md; the short form is in each description.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SimConfig(BaseModel):
    """Biology and optics of the simulated microscope. See docs/simulator.md for sources."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # ---------------------------------------------------------------------------------------------- population
    cell_density_per_mm3: float = Field(
        80000.0, gt=0, description="excitatory cells per mm³ of L2/3 that are imaged")
    opsin_negative_fraction: float = Field(0.2, ge=0, le=1, description="fraction of imaged cells without opsin")
    inhibitory_per_excitatory: float = Field(
        0.25, ge=0, description="inhibitory cells per excitatory cell (≈ 20 % of cortical neurons are inhibitory)")
    slab_margin_um: float = Field(
        15.0, ge=0, description="cells exist this far above the top plane and below the bottom plane, µm")
    detection_half_depth_um: float = Field(
        4.0, gt=0, description="a soma is detected when its centre lies within this of an imaging plane, µm")
    soma_radius_um: float = Field(6.0, gt=0, description="mean soma radius, µm (L2/3 pyramidal cells)")
    network_box_um: float = Field(
        1400.0, gt=0, description="side of the periodic box of the network, µm (seed 002 model: 1400 µm)")
    visually_responsive_fraction: float = Field(
        0.5, ge=0, le=1, description="fraction of imaged cells that respond to gratings")
    stimmable_power_median_mw: float = Field(
        35.0, gt=0, description="median stimmable power, mW (power test spans 12.5–100 mW, seed 002)")
    stimmable_power_log_sd: float = Field(0.55, ge=0, description="s.d. of ln(stimmable power)")
    baseline_rate_median_hz: float = Field(1.0, gt=0, description="median spontaneous rate under a grey screen, Hz")
    baseline_rate_log_sd: float = Field(0.6, ge=0, description="s.d. of ln(baseline rate)")
    visual_peak_rate_hz: float = Field(4.0, ge=0, description="median extra rate at the preferred direction, Hz")

    # -------------------------------------------------------------------------------------- network (seed 002)
    sigma_e_broad_um: float = Field(
        110.0, gt=0, description="broad E kernel σ, µm (anatomical fit to Rossi et al. 2020: 145; seed 002 ED Fig. 9f,g: functional scales are narrower)")
    sigma_i_broad_um: float = Field(
        80.0, gt=0, description="broad I kernel σ, µm (anatomical fit to Rossi et al. 2020: 108; narrowed like σ_E)")
    sigma_e_narrow_um: float = Field(16.0, gt=0, description="narrow E kernel σ, µm (fitted to seed 002 Fig. 2a; ~10–20 µm)")
    kappa_e: float = Field(0.15, ge=0, le=1, description="weight of the narrow E component (fitted)")
    sigma_i_narrow_um: float = Field(20.0, gt=0, description="narrow I kernel σ, µm")
    kappa_i: float = Field(0.0, ge=0, le=1, description="weight of the narrow I component")
    w_ee: float = Field(0.0165, ge=0, description="effective E→E strength (seed 002 released model: 0.0165)")
    w_eie: float = Field(-0.025, le=0, description="effective E→I→E strength, w_ei·w_ie (fitted)")
    w_ie: float = Field(0.2, gt=0, description="E→I strength; w_ei = w_eie / w_ie")
    feature_r0: float = Field(0.05, ge=0, description="E→E feature kernel baseline (Rossi et al. 2020 fit)")
    feature_rp: float = Field(0.07, ge=0, description="E→E feature kernel peak (Rossi et al. 2020 fit)")
    feature_sigma_deg: float = Field(29.0, gt=0, description="E→E feature kernel width, degrees")
    feature_i_r0: float = Field(0.05, ge=0, description="E→I and I→E feature kernel baseline")
    feature_i_rp: float = Field(0.03, ge=0, description="E→I and I→E feature kernel peak (fitted to seed 002 Fig. 3c)")
    feature_i_sigma_deg: float = Field(40.0, gt=0, description="E→I and I→E feature kernel width, degrees")
    synapses_per_cell: int = Field(
        400, ge=10, description="sampled input synapses per cell and pathway (sets the network's granularity)")
    response_gain: float = Field(
        800.0, gt=0, description="extra spikes per unit of the linear model response (sets the ΔF/F scale, "
        "calibrated to seed 002 Fig. 2a)")

    # ------------------------------------------------------------------------------------ optics and opsin
    ppsf_radial_hwhm_um: float = Field(7.7, gt=0, description="physiological PSF radial HWHM, µm (seed 002)")
    ppsf_axial_hwhm_um: float = Field(18.5, gt=0, description="physiological PSF axial HWHM, µm (seed 002)")
    spike_hill_exponent: float = Field(
        6.0, gt=0, description="steepness of spike probability vs power: 6 takes p from 0.1 to 0.9 over 2.1× power, "
        "the steep onset of ChroME-family opsins (seed 002: 1.1–1.2 × the stimmable power already makes the "
        "response faithful)")
    spike_probability_at_stimmable: float = Field(
        0.5, gt=0, lt=1, description="probability of a spike per pulse at the stimmable power: 0.5 makes the "
        "stimmable power the half-activation power, which is what a power test of 5 pulses × 3 repetitions finds as "
        "the lowest power with a significant response")
    calibration_distortion_um: float = Field(
        4.0, ge=0, description="scale of the hidden nonlinear imaging↔SLM distortion, µm")

    # -------------------------------------------------------------------------------------------- imaging
    dff_per_spike: float = Field(0.23, gt=0, description="GCaMP6s ΔF/F of one spike (Chen et al. 2013)")
    tau_rise_s: float = Field(0.26, gt=0, description="GCaMP6s rise time constant, s (half-rise ≈ 0.18 s)")
    tau_decay_s: float = Field(1.6, gt=0, description="GCaMP6s decay time constant, s (half-decay ≈ 1.1 s)")
    baseline_photons: float = Field(
        60.0, gt=0, description="photons per soma pixel per frame at rest (sets shot noise)")
    neuropil_fraction: float = Field(0.3, ge=0, description="neuropil brightness relative to a resting soma")
    drift_fraction_per_hour: float = Field(0.1, ge=0, description="slow baseline drift, fraction per hour")
    motion_step_px: float = Field(
        0.05, ge=0, description="s.d. of the rigid-motion random walk per frame, pixels; with its 200-frame "
                       "relaxation the wander has a stationary s.d. of 10× this (0.5 px), so few trials pass 3 px")
    motion_jump_rate_hz: float = Field(0.005, ge=0, description="rate of sudden motion jumps, per second")
    motion_jump_px: float = Field(4.0, ge=0, description="s.d. of a motion jump, pixels")
    stim_artifact_photons: float = Field(
        200.0, ge=0, description="extra photons per pixel on lines scanned while the stimulation laser fires")
    dropped_frame_rate: float = Field(0.0, ge=0, lt=1, description="probability that a frame is dropped")

    # ------------------------------------------------------------------------------------------ behaviour
    running_bout_rate_per_min: float = Field(0.5, ge=0, description="running bouts per minute")
    running_bout_mean_s: float = Field(8.0, gt=0, description="mean running bout duration, s")
    running_speed_cm_s: float = Field(15.0, ge=0, description="mean speed during a bout, cm/s (> 6 cm/s excludes)")

    @model_validator(mode="after")
    def _narrow_is_narrow(self) -> "SimConfig":
        if self.kappa_e > 0 and self.sigma_e_narrow_um >= self.sigma_e_broad_um:
            raise ValueError(
                f"sigma_e_narrow_um ({self.sigma_e_narrow_um}) must be below sigma_e_broad_um ({self.sigma_e_broad_um})")
        if self.kappa_i > 0 and self.sigma_i_narrow_um >= self.sigma_i_broad_um:
            raise ValueError(
                f"sigma_i_narrow_um ({self.sigma_i_narrow_um}) must be below sigma_i_broad_um ({self.sigma_i_broad_um})")
        return self

    @property
    def w_ei(self) -> float:
        """I→E strength, w_eie / w_ie."""
        return self.w_eie / self.w_ie
