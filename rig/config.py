"""Configuration: rig profiles and protocols as validated pydantic models, loaded from YAML.

Three kinds of file, each a YAML mapping with an optional ``kind:`` key (``rig``, ``protocol`` or
``optimizer``; inferred from the keys when absent):

* a **rig profile** (:class:`RigProfile`) describes the hardware: SLM, stimulation laser, imaging, ZMQ endpoints
  and which backend drives them (``sim`` or real drivers);
* a **protocol** (:class:`Protocol`) describes the experiment of seed 002: power test, tuning block, stimulation
  block, exclusion rules, the ensembles to design (an :class:`optimizer.OptimizerSpec`, inline or a path) and the
  online-analysis settings;
* an **optimizer spec** (:class:`optimizer.OptimizerSpec`) on its own.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting. A file with
problems raises :class:`ConfigError`, whose message lists every wrong field with its path, the value given and
what is allowed.
"""
from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any, Literal, Optional, Union
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from online.config import OnlineConfig
from optimizer.spec import OptimizerSpec
from sims.config import SimConfig

ConfigKind = Literal["rig", "protocol", "optimizer"]


class ConfigError(ValueError):
    """A configuration file or value is wrong. The message says which fields and what is allowed."""

    exit_code = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ----------------------------------------------------------------------------------------------------------- rig
class DiffractionEfficiency(_Strict):
    """How the SLM's diffraction efficiency falls off away from the zero order, used to correct per-spot weights.

    Lateral: the square-pixel sinc² envelope, I ∝ sinc²(a·x·pitch/(λf))·sinc²(a·y·pitch/(λf)), with ``a`` the
    pixel's active fraction. Axial: defocused spots lose power because the defocus phase is sampled by finite
    pixels and partly clipped by the pupil; modelled as a Gaussian loss exp(−z²/(2·σ_z²)).
    """

    pixel_fill_fraction: float = Field(
        1.0, gt=0, le=1, description="active fraction of a pixel's pitch (sets the sinc² envelope width)")
    defocus_sigma_um: float = Field(
        300.0, gt=0, description="σ of the Gaussian efficiency loss with defocus z, µm")


class SlmConfig(_Strict):
    """Spatial light modulator (seed 002: Meadowlark HSP1920-1064-HSP8, 1920 × 1152 pixels)."""

    driver: Literal["sim", "meadowlark", "monitor"] = Field("sim", description="which SLM driver")
    shape: tuple[int, int] = Field((1152, 1920), description="(rows, cols) of SLM pixels")
    pitch_um: float = Field(9.2, gt=0, description="pixel pitch, µm")
    wavelength_um: float = Field(1.04, gt=0, description="stimulation wavelength in the medium, µm")
    focal_length_um: float = Field(
        10000.0, gt=0, description="effective focal length of the SLM→sample Fourier transform, in sample space, µm")
    lut_file: Optional[Path] = Field(None, description="Meadowlark-style phase→level lookup table; none = linear")
    bit_depth: Literal[8, 16] = Field(8, description="device levels: 8-bit or 16-bit")
    min_targets: int = Field(3, ge=1, description="fewest targets in a hologram (seed 002: 3)")
    settle_time_ms: float = Field(3.0, ge=0, description="liquid-crystal settling after a new mask, ms")
    efficiency: DiffractionEfficiency = Field(default_factory=DiffractionEfficiency)
    monitor_index: Optional[int] = Field(None, ge=0, description="display index, for the 'monitor' driver")
    sdk_path: Optional[Path] = Field(None, description="Blink SDK folder, for the 'meadowlark' driver")

    @field_validator("shape")
    @classmethod
    def _positive_shape(cls, value):
        if min(value) < 2:
            raise ValueError(f"SLM shape must be at least 2 × 2 pixels, got {value}")
        return value

    @property
    def reachable_half_field_um(self) -> float:
        """Largest |x| or |y| a hologram can reach in the sample, λf/(2·pitch), µm."""
        return self.wavelength_um * self.focal_length_um / (2.0 * self.pitch_um)


class LaserConfig(_Strict):
    """Stimulation laser and its power modulator. The maxima are a safety limit enforced before any output."""

    driver: Literal["sim", "nidaq"] = Field("sim", description="power control driver (NI-DAQ → Pockels cell)")
    max_power_per_target_mw: float = Field(
        200.0, gt=0, description="most laser power allotted to any one target, mW at the sample: its share of the "
        "hologram's laser power before diffraction losses, an upper bound on what the target receives")
    max_total_power_mw: float = Field(2000.0, gt=0, description="most total laser power at the sample, mW")
    pulse_ms: float = Field(5.0, gt=0, description="default pulse width, ms (seed 002: 5 ms)")
    daq_channel: Optional[str] = Field(None, description="NI-DAQ analog output, e.g. 'Dev1/ao0'")
    power_calibration_file: Optional[Path] = Field(
        None, description="CSV of command volts vs measured mW at the sample, for the Pockels cell")

    @model_validator(mode="after")
    def _per_target_within_total(self) -> "LaserConfig":
        if self.max_power_per_target_mw > self.max_total_power_mw:
            raise ValueError(
                f"max_power_per_target_mw ({self.max_power_per_target_mw}) exceeds max_total_power_mw "
                f"({self.max_total_power_mw})")
        return self


class ImagingConfig(_Strict):
    """Calcium imaging (seed 002: three 800 × 800 µm planes 30 µm apart, 5.2–6.2 Hz per volume)."""

    driver: Literal["sim", "scanimage"] = Field("sim", description="imaging source")
    planes_z_um: list[float] = Field([-30.0, 0.0, 30.0], min_length=1, description="z of each plane, µm")
    fov_um: tuple[float, float] = Field((800.0, 800.0), description="(height, width) of the field of view, µm")
    pixels: tuple[int, int] = Field((512, 512), description="(rows, cols) per frame")
    volume_rate_hz: float = Field(6.0, gt=0, description="volumes (all planes) per second")
    red_channel: bool = Field(True, description="a red (mRuby nuclei) reference image is available")

    @field_validator("planes_z_um")
    @classmethod
    def _distinct_sorted(cls, value):
        if len(set(value)) != len(value):
            raise ValueError(f"plane depths must be distinct, got {value}")
        if list(value) != sorted(value):
            raise ValueError(f"plane depths must be in increasing order, got {value}")
        return value

    @field_validator("fov_um", "pixels")
    @classmethod
    def _positive_pair(cls, value):
        if min(value) <= 0:
            raise ValueError(f"both numbers must be positive, got {value}")
        return value

    @property
    def um_per_px(self) -> tuple[float, float]:
        return (self.fov_um[0] / self.pixels[0], self.fov_um[1] / self.pixels[1])


def _endpoint(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


class ZmqConfig(_Strict):
    """ZMQ endpoints of the rig's processes. Loopback only unless ``allow_remote`` is set."""

    controller: str = Field(_endpoint(5555), description="controller commands (REQ/REP)")
    events: str = Field(_endpoint(5556), description="controller events and progress (PUB)")
    slm_server: str = Field(_endpoint(5557), description="SLM server commands (REQ/REP)")
    online: str = Field(_endpoint(5558), description="online analysis frames in (PUSH/PULL)")
    online_results: str = Field(_endpoint(5559), description="online analysis results (PUB)")
    imaging: str = Field(_endpoint(5560), description="imaging bridge frames and events (PUB)")
    heartbeat_s: float = Field(0.5, gt=0, description="heartbeat interval, s")
    timeout_s: float = Field(3.0, gt=0, description="a peer silent this long is lost, s")
    allow_remote: bool = Field(False, description="permit endpoints on non-loopback addresses")

    @field_validator("controller", "events", "slm_server", "online", "online_results", "imaging")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme == "ipc" or parsed.scheme == "inproc":
            return value
        if parsed.scheme != "tcp" or not parsed.hostname or parsed.port is None:
            raise ValueError(f"an endpoint is 'tcp://HOST:PORT' or 'ipc://PATH', got {value!r}")
        return value

    @model_validator(mode="after")
    def _loopback_only(self) -> "ZmqConfig":
        if self.allow_remote:
            return self
        for name in ("controller", "events", "slm_server", "online", "online_results", "imaging"):
            host = urlparse(getattr(self, name)).hostname
            if host is None or host == "localhost":
                continue
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise ValueError(
                    f"{name} endpoint uses {host}, which is not loopback; set allow_remote: true to permit it")
        return self


class VisualConfig(_Strict):
    """Visual stimulus display (seed 002, "Calcium imaging": 2,048 × 1,536 Retina iPad LCD 10 cm from the mouse).

    ``visual_stimulus: zmq`` sends commands to ``python -m rig.drivers.stimulus_server`` at ``endpoint``;
    ``visual_stimulus: psychopy`` draws on ``monitor_index`` of this computer. Spatial frequency is converted to
    pixels at the screen centre from ``screen_distance_cm`` and ``screen_width_cm``.
    """

    endpoint: str = Field("tcp://127.0.0.1:5561", description="stimulus server commands (REQ/REP)")
    timeout_s: float = Field(2.0, gt=0, description="a stimulus server reply later than this is an error, s")
    allow_remote: bool = Field(False, description="permit a stimulus server on a non-loopback address")
    screen_distance_cm: float = Field(10.0, gt=0, description="eye to screen, cm (seed 002: 10 cm)")
    screen_width_cm: float = Field(19.7, gt=0, description="visible width of the display, cm (9.7-inch iPad: 19.7)")
    monitor_index: int = Field(1, ge=0, description="display the stimulus window opens on")

    @field_validator("endpoint")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        return ZmqConfig._valid_endpoint(value)

    @model_validator(mode="after")
    def _loopback_only(self) -> "VisualConfig":
        host = urlparse(self.endpoint).hostname
        if self.allow_remote or host in (None, "localhost"):
            return self
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"visual endpoint uses {host}, which is not loopback; set visual.allow_remote: true "
                             "to permit a stimulus server on another computer")
        return self


class WheelConfig(_Strict):
    """Running wheel read by a rotary encoder on an NI-DAQ counter (seed 002: run speed recorded)."""

    counter_channel: Optional[str] = Field(None, description="NI-DAQ counter, e.g. 'Dev1/ctr0'")
    decoding: Literal["x1", "x2", "x4", "edges"] = Field(
        "x4", description="quadrature decoding of an A/B encoder, or 'edges' for a single-channel encoder")
    wheel_diameter_cm: float = Field(15.0, gt=0, description="wheel diameter where the mouse runs, cm")
    counts_per_revolution: float = Field(
        4096.0, gt=0, description="counter counts per wheel turn after decoding (x4: 4 × encoder lines)")
    window_s: float = Field(0.25, gt=0, description="speed = distance over this sliding window, s")
    invert: bool = Field(False, description="flip the sign so forward running reads positive")


class RigProfile(_Strict):
    """A rig: its hardware, endpoints, and which backend drives it."""

    kind: Literal["rig"] = "rig"
    name: str = Field("rig", min_length=1)
    backend: Literal["sim", "hardware"] = Field("sim", description="'sim' (simulated microscope) or real drivers")
    slm: SlmConfig = Field(default_factory=SlmConfig)
    laser: LaserConfig = Field(default_factory=LaserConfig)
    imaging: ImagingConfig = Field(default_factory=ImagingConfig)
    zmq: ZmqConfig = Field(default_factory=ZmqConfig)
    visual_stimulus: Literal["sim", "psychopy", "zmq"] = Field("sim", description="visual stimulus driver")
    treadmill: Literal["sim", "nidaq"] = Field("sim", description="running-speed source")
    visual: VisualConfig = Field(default_factory=VisualConfig, description="stimulus display (zmq, psychopy)")
    running_wheel: WheelConfig = Field(default_factory=WheelConfig, description="encoder wheel (treadmill: nidaq)")
    calibration_file: Optional[Path] = Field(None, description="saved imaging↔SLM calibration to check and reuse")
    sim: Optional[SimConfig] = Field(None, description="simulated-microscope parameters (backend: sim)")

    @model_validator(mode="after")
    def _backend_matches_drivers(self) -> "RigProfile":
        drivers = {"slm.driver": self.slm.driver, "laser.driver": self.laser.driver,
                   "imaging.driver": self.imaging.driver, "visual_stimulus": self.visual_stimulus,
                   "treadmill": self.treadmill}
        if self.backend == "sim":
            real = {k: v for k, v in drivers.items() if v != "sim"}
            if real:
                raise ValueError(f"backend 'sim' needs every driver to be 'sim', but {real}")
            if self.sim is None:
                self.sim = SimConfig()
        else:
            simulated = [k for k, v in drivers.items() if v == "sim"]
            if simulated:
                raise ValueError(f"backend 'hardware' needs real drivers, but {simulated} are 'sim'")
            if self.sim is not None:
                raise ValueError("a 'sim' section only applies to backend 'sim'")
        return self


# ------------------------------------------------------------------------------------------------------ protocol
class PowerTestConfig(_Strict):
    """Per-cell power test (seed 002, "Holographic stimulation"): groups of 5 cells, five 5 ms pulses, 12.5–100 mW."""

    powers_mw: list[float] = Field([12.5, 25.0, 37.5, 50.0, 62.5, 75.0, 87.5, 100.0], min_length=1,
                                   description="powers tested per cell, mW, increasing")
    cells_per_group: int = Field(5, ge=1, description="cells stimulated together (seed 002: 5)")
    pulses: int = Field(5, ge=1, description="pulses per trial (seed 002: 5)")
    pulse_ms: float = Field(5.0, gt=0, description="pulse width, ms (seed 002: 5)")
    pulse_rate_hz: float = Field(30.0, gt=0, description="pulse rate within a trial, Hz")
    repetitions: int = Field(3, ge=1, description="trials per group and power")
    iti_s: float = Field(1.0, ge=0, description="inter-trial interval, s")
    power_margin: float = Field(1.15, ge=1.1, le=1.2, description="stim power = stimmable power × this (seed 002: 1.1–1.2)")
    max_cells: Optional[int] = Field(
        None, ge=1, description="most cells the power test covers (the brightest red nuclei); default: one per "
                                "ensemble slot of the optimizer spec (count × cells), at least 40. Testing every "
                                "nucleus of a field (~800) would take hours at 8 powers × 3 repetitions")

    @field_validator("powers_mw")
    @classmethod
    def _increasing_positive(cls, value):
        if any(p <= 0 for p in value) or list(value) != sorted(set(value)):
            raise ValueError(f"powers must be positive, distinct and increasing, got {value}")
        return value


class TuningConfig(_Strict):
    """Drifting-grating tuning block (seed 002, "Calcium imaging": 1 s gratings, 8 directions + blank)."""

    directions_deg: list[float] = Field([0, 45, 90, 135, 180, 225, 270, 315], min_length=2,
                                        description="grating directions, degrees in [0, 360)")
    blank: bool = Field(True, description="interleave a grey-screen condition")
    repetitions: int = Field(
        40, ge=2, description="valid trials per condition (see retake_fraction). Seed 002 gives no number; with 1-s "
        "gratings and L2/3 response strengths, OSI is estimated to r ≈ 0.91 against the truth at 40 (0.81 at 10, "
        "0.90 at 30; docs/online.md): a ~20-min block")
    retake_fraction: float = Field(
        0.5, ge=0, le=2, description="trials excluded for running, motion or dropped frames (exclusion section) are "
        "presented again after the block, in random order, until every condition has `repetitions` valid trials "
        "or this fraction of the block's trials has been added; 0: no retakes")
    stimulus_s: float = Field(1.0, gt=0, description="grating duration, s")
    iti_s: float = Field(2.0, ge=0, description="grey screen between gratings, s")
    spatial_frequency_cpd: float = Field(0.08, gt=0, description="cycles per degree")
    temporal_frequency_hz: float = Field(1.0, gt=0, description="drift rate, Hz")
    contrast: float = Field(1.0, gt=0, le=1, description="Michelson contrast")
    size_deg: float = Field(50.0, gt=0, description="grating size, visual degrees")
    response_s: Optional[float] = Field(
        None, gt=0, description="response window from grating onset, s; default stimulus_s + min(1 s, iti_s / 2): "
        "GCaMP6s keeps rising for ~0.5–1 s after the spikes that a 1 s grating evokes, so the peak of the response "
        "comes after the grating ends (Chen et al. 2013); must end before the next grating (≤ stimulus_s + iti_s)")

    @property
    def response_window_s(self) -> float:
        """Response window from grating onset, s (``response_s`` or its default)."""
        if self.response_s is not None:
            return float(self.response_s)
        return self.stimulus_s + min(1.0, 0.5 * self.iti_s)

    @model_validator(mode="after")
    def _window_before_next_grating(self) -> "TuningConfig":
        if self.response_s is not None and self.response_s > self.stimulus_s + self.iti_s:
            raise ValueError(f"response_s ({self.response_s}) must not run into the next grating: at most "
                             f"stimulus_s + iti_s = {self.stimulus_s + self.iti_s:g} s")
        return self

    @field_validator("directions_deg")
    @classmethod
    def _directions_in_range(cls, value):
        bad = [d for d in value if not 0 <= d < 360]
        if bad or len(set(value)) != len(value):
            raise ValueError(f"directions must be distinct and in [0, 360), got {value}")
        return value


class StimulationConfig(_Strict):
    """Ensemble stimulation block (seed 002: 10 pulses at 10 Hz, randomized and interleaved, no-stim controls)."""

    pulses: int = Field(10, ge=1, description="pulses per trial (seed 002: 10)")
    pulse_rate_hz: float = Field(10.0, gt=0, description="pulse rate, Hz (seed 002: 10)")
    pulse_ms: float = Field(5.0, gt=0, description="pulse width, ms")
    repetitions: int = Field(15, ge=1, description="trials per ensemble (seed 002: median 17, ≥ 11 analysed)")
    no_stim_repetitions: int = Field(15, ge=0, description="no-stim control trials in the block")
    iti_s: float = Field(3.0, ge=0, description="inter-trial interval, s")
    baseline_s: float = Field(1.0, ge=0, description="imaging before the first pulse, s")
    response_s: float = Field(2.0, gt=0, description="response window after the first pulse, s")

    @model_validator(mode="after")
    def _pulses_fit(self) -> "StimulationConfig":
        if self.pulse_ms / 1000.0 >= 1.0 / self.pulse_rate_hz:
            raise ValueError(
                f"pulse_ms ({self.pulse_ms}) must be shorter than the pulse period ({1000 / self.pulse_rate_hz:g} ms)")
        return self


class ExclusionConfig(_Strict):
    """Trial and cell exclusion (seed 002, "Exclusion criteria")."""

    max_running_cm_s: float = Field(6.0, gt=0, description="exclude trials with running above this, cm/s")
    max_motion_px: float = Field(3.0, gt=0, description="exclude trials with a shift above this, pixels")
    min_responding_fraction: float = Field(
        0.5, ge=0, lt=1, description="a trial is valid only when more than this fraction of its targets respond "
                                     "(seed 002: trials where 50 % or more failed are excluded)")
    response_z: float = Field(0.25, gt=0, description="a target responds above this z-scored fluorescence")
    offtarget_radial_um: float = Field(15.0, ge=0, description="off-target zone radius on a target's plane, µm")
    offtarget_adjacent_plane_um: float = Field(
        30.0, ge=0, description="off-target zone radius one plane away, µm")


class Protocol(_Strict):
    """The seed-002 experiment: power test → tuning → ensemble design → stimulation."""

    kind: Literal["protocol"] = "protocol"
    name: str = Field("protocol", min_length=1)
    power_test: PowerTestConfig = Field(default_factory=PowerTestConfig)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    stimulation: StimulationConfig = Field(default_factory=StimulationConfig)
    exclusion: ExclusionConfig = Field(default_factory=ExclusionConfig)
    optimizer: OptimizerSpec
    online: OnlineConfig = Field(default_factory=OnlineConfig)
    ppsf: bool = Field(False, description="measure the physiological PSF before the power test")

    @model_validator(mode="after")
    def _exclusion_drives_online(self) -> "Protocol":
        """The exclusion rules are set once, in ``exclusion``; the online pipeline takes them from there."""
        derived = {"response_z_threshold": self.exclusion.response_z,
                   "max_failed_fraction": 1.0 - self.exclusion.min_responding_fraction,
                   "max_trial_motion_px": self.exclusion.max_motion_px}
        clashes = [f"online.{k} ({getattr(self.online, k)}) disagrees with exclusion ({v:g})"
                   for k, v in derived.items()
                   if k in self.online.model_fields_set and abs(getattr(self.online, k) - v) > 1e-12]
        if clashes:
            raise ValueError("; ".join(clashes) + "; set these rules once, in the exclusion section")
        if any(getattr(self.online, k) != v for k, v in derived.items()):
            self.online = self.online.model_copy(update=derived)
        return self


_MODELS: dict[str, type[BaseModel]] = {"rig": RigProfile, "protocol": Protocol, "optimizer": OptimizerSpec}


# ---------------------------------------------------------------------------------------------------- loading
def read_yaml(path: Union[str, Path]) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a syntax error raises :class:`ConfigError` with the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings, got a {type(data).__name__}")
    return data


def infer_kind(data: dict[str, Any]) -> ConfigKind:
    """The kind of a config mapping: its ``kind`` key, else guessed from characteristic keys."""
    kind = data.get("kind")
    if kind is not None:
        if kind not in _MODELS:
            raise ConfigError(f"kind: got {kind!r}; allowed: {', '.join(_MODELS)}")
        return kind
    keys = set(data)
    if keys & {"slm", "laser", "imaging", "backend", "zmq"}:
        return "rig"
    if keys & {"power_test", "tuning", "stimulation", "exclusion", "optimizer"}:
        return "protocol"
    if "ensembles" in keys:
        return "optimizer"
    raise ConfigError(
        "cannot tell what kind of config this is: add 'kind: rig', 'kind: protocol' or 'kind: optimizer'")


def _fields_at(model: type[BaseModel], loc: tuple) -> Optional[list[str]]:
    """Field names of the (nested) model that ``loc`` points into, for 'unknown field' messages."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return None
        annotation = fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            for c in candidates:  # list[Model]
                nested += [a for a in getattr(c, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return None
        current = nested[0]
    return sorted(getattr(current, "model_fields", {}))


def format_validation_error(err: ValidationError, model: type[BaseModel], source: str) -> str:
    """One message listing every wrong field: its dotted path, the value given, and what is allowed."""
    lines = [f"{source}: {err.error_count()} problem{'s' if err.error_count() != 1 else ''}:"]
    for item in err.errors(include_url=False):
        loc = tuple(item["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        given = item.get("input")
        if item["type"] == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            hint = f"unknown setting; allowed here: {', '.join(allowed)}" if allowed else "unknown setting"
            lines.append(f"  - {path}: {hint}")
            continue
        if item["type"] == "missing":
            lines.append(f"  - {path}: required but missing")
            continue
        msg = item["msg"].removeprefix("Value error, ")
        given_text = json.dumps(given, default=str) if not isinstance(given, dict) else "{…}"
        if len(given_text) > 80:
            given_text = given_text[:77] + "…"
        lines.append(f"  - {path}: got {given_text}; {msg[0].lower() + msg[1:] if msg else 'not allowed'}")
    return "\n".join(lines)


def validate_mapping(data: dict[str, Any], kind: Optional[ConfigKind] = None, source: str = "config",
                     base_dir: Optional[Path] = None) -> BaseModel:
    """Validate a config mapping into its model, raising :class:`ConfigError` listing every problem.

    A protocol's ``optimizer`` may be a path to an optimizer spec YAML, relative to ``base_dir``.
    """
    kind = kind or infer_kind(data)
    model = _MODELS[kind]
    data = dict(data)
    if kind == "protocol" and isinstance(data.get("optimizer"), str):
        spec_path = Path(data["optimizer"])
        if not spec_path.is_absolute() and base_dir is not None:
            spec_path = base_dir / spec_path
        data["optimizer"] = read_yaml(spec_path)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, model, source)) from None


def load_config(path: Union[str, Path], kind: Optional[ConfigKind] = None) -> BaseModel:
    """Load and validate a YAML config file of any kind (see module docstring)."""
    path = Path(path)
    data = read_yaml(path)
    if kind is not None and data.get("kind") not in (None, kind):
        raise ConfigError(f"{path}: expected a {kind} config, but the file says kind: {data.get('kind')}")
    return validate_mapping(data, kind, source=str(path), base_dir=path.parent)


def load_rig(path: Union[str, Path]) -> RigProfile:
    """Load a rig profile YAML."""
    return load_config(path, "rig")  # type: ignore[return-value]


def load_protocol(path: Union[str, Path]) -> Protocol:
    """Load a protocol YAML (its optimizer spec inline or by path)."""
    return load_config(path, "protocol")  # type: ignore[return-value]


def load_optimizer_spec(path: Union[str, Path]) -> OptimizerSpec:
    """Load an optimizer spec YAML."""
    return load_config(path, "optimizer")  # type: ignore[return-value]


def json_schema(kind: Optional[ConfigKind] = None) -> dict[str, Any]:
    """JSON Schema of one config kind, or of all three keyed by kind."""
    if kind is not None:
        return _MODELS[kind].model_json_schema()
    return {name: model.model_json_schema() for name, model in _MODELS.items()}
