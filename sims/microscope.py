"""The simulated microscope: every simulated part wired to one tissue and one clock.

``SimulatedMicroscope`` takes plain values (the rig profile's SLM, laser and imaging numbers) so it does not depend
on the rig package; :func:`build_microscope` reads them from a ``RigProfile``. Same values and seed → the same
cells, network, hidden mapping, and (for the same sequence of calls) the same frames.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .activity import Activity
from .clock import SimClock
from .config import SimConfig
from .errors import SimError
from .laser import MockLaser, PulseTrain
from .mapping import make_mapping
from .mock_slm import MockSLM
from .network import sample_network
from .optics import light_at_cells, spike_probability
from .population import make_population
from .responder import Responder
from .scanner import MockScanner
from .stimulus import MockTreadmill, MockVisualStimulus


class SimulatedMicroscope:
    """Population, ground-truth network, responder, mock SLM, laser, scanner, visual stimulus and treadmill.

    Parameters are the rig profile's values: ``slm_shape`` (rows, cols), ``pitch_um``, ``wavelength_um``,
    ``focal_length_um``, ``pixel_fill_fraction``, ``defocus_sigma_um``, ``bit_depth``, ``settle_time_ms``;
    ``max_power_per_target_mw``, ``max_total_power_mw``; ``planes_z_um``, ``fov_um`` (height, width), ``pixels``
    (rows, cols), ``volume_rate_hz``; plus ``sim_config`` and ``seed``.
    """

    def __init__(self, *, slm_shape=(1152, 1920), pitch_um=9.2, wavelength_um=1.04, focal_length_um=10000.0,
                 pixel_fill_fraction=1.0, defocus_sigma_um=300.0, bit_depth=8, settle_time_ms=3.0,
                 max_power_per_target_mw=200.0, max_total_power_mw=2000.0, planes_z_um=(-30.0, 0.0, 30.0),
                 fov_um=(800.0, 800.0), pixels=(512, 512), volume_rate_hz=6.0,
                 sim_config: Optional[SimConfig] = None, seed: int = 0, clock: Optional[SimClock] = None):
        self.config = sim_config or SimConfig()
        self.seed = int(seed)
        self.clock = clock or SimClock()
        self.population = make_population(self.config, planes_z_um, fov_um, self.seed)
        self.network = sample_network(self.population, self.config, self.seed)
        self.responder = Responder(self.network, self.config.response_gain)
        self.mapping = make_mapping(fov_um, self.config.calibration_distortion_um, self.seed)
        z = np.asarray(planes_z_um, dtype=np.float64)
        self.slm = MockSLM(slm_shape, pitch_um, wavelength_um, focal_length_um, pixel_fill_fraction, defocus_sigma_um,
                           bit_depth, mapping=self.mapping, z_range_um=(z.min() - 45.0, z.max() + 45.0),
                           clock=self.clock, settle_s=settle_time_ms / 1000.0)
        self.laser = MockLaser(max_power_per_target_mw, max_total_power_mw, self.clock, on_pulse=self._deliver)
        self.visual = MockVisualStimulus(self.clock)
        self.treadmill = MockTreadmill(self.config, self.clock, self.seed)
        self.activity = Activity(self.population, self.config, self.seed, visual=self.visual)
        self.scanner = MockScanner(self.population, self.activity, self.config, self.clock, self.seed, pixels=pixels,
                                   volume_rate_hz=volume_rate_hz, laser=self.laser, slm=self.slm,
                                   sleep_until=self.clock.sleep_until)
        self.um_per_px = self.scanner.um_per_px

    # --------------------------------------------------------------------------------------- light → tissue
    def light_at_cells(self, total_power_mw: float) -> np.ndarray:
        """Light (mW-equivalent) each imaged cell receives from the shown mask at a laser power."""
        xyz, power = self.slm.delivered(total_power_mw)
        if len(power) == 0:
            return np.zeros(self.population.n)
        c = self.config
        return light_at_cells(xyz, power, self.population.xyz_um, c.ppsf_radial_hwhm_um, c.ppsf_axial_hwhm_um)

    def spike_probability(self, total_power_mw: float) -> np.ndarray:
        """Expected spikes per pulse of every imaged cell for the shown mask at a laser power."""
        c, pop = self.config, self.population
        return spike_probability(self.light_at_cells(total_power_mw), pop.stimmable_power_mw, pop.opsin,
                                 c.spike_hill_exponent, c.spike_probability_at_stimmable)

    def _deliver(self, train: PulseTrain) -> None:
        """Laser callback: the shown mask's light drives cells directly and, through them, the network."""
        if self.slm.current is None:
            return
        p = self.spike_probability(train.total_mw)
        if not np.any(p > 0):
            return
        duration = train.n_pulses / train.rate_hz
        net = self.responder.respond(p * train.n_pulses).astype(np.float64)
        net = np.maximum(net, -self.population.baseline_rate_hz * duration)
        self.activity.add_train(train.pulse_times_s, p, net / duration)

    @property
    def mock_slm(self) -> MockSLM:
        """Alias of :attr:`slm`."""
        return self.slm

    @property
    def visual_stimulus(self) -> MockVisualStimulus:
        """Alias of :attr:`visual`."""
        return self.visual

    # ------------------------------------------------------------------------------------------ helpers
    def imaging_to_pixels(self, xyz_um) -> np.ndarray:
        """(row_px, col_px, z_um) of imaging (x, y, z) µm points (pixel centres at integer indices)."""
        p = np.atleast_2d(np.asarray(xyz_um, dtype=np.float64))
        return np.column_stack([p[:, 1] / self.um_per_px[0], p[:, 0] / self.um_per_px[1], p[:, 2]])

    def pixels_to_imaging(self, rcz) -> np.ndarray:
        """Imaging (x, y, z) µm of (row_px, col_px, z_um) points."""
        p = np.atleast_2d(np.asarray(rcz, dtype=np.float64))
        return np.column_stack([p[:, 1] * self.um_per_px[1], p[:, 0] * self.um_per_px[0], p[:, 2]])

    def connectome(self):
        """The ground-truth network as pandas tables ``(cells, synapses)`` (see :meth:`sims.network.Network.to_tables`)."""
        return self.network.to_tables(self.population)

    def close(self) -> None:
        for part in (self.slm, self.laser, self.scanner, self.visual, self.treadmill):
            part.close()


def build_microscope(rig: Any, seed: int = 0, clock: Optional[SimClock] = None) -> SimulatedMicroscope:
    """A :class:`SimulatedMicroscope` from a rig profile (``rig.config.RigProfile``) with ``backend: sim``."""
    if getattr(rig, "backend", "sim") != "sim":
        raise SimError(f"the simulated microscope needs a rig profile with backend 'sim', got {rig.backend!r}")
    slm, laser, imaging = rig.slm, rig.laser, rig.imaging
    eff = slm.efficiency
    return SimulatedMicroscope(
        slm_shape=tuple(slm.shape), pitch_um=slm.pitch_um, wavelength_um=slm.wavelength_um,
        focal_length_um=slm.focal_length_um, pixel_fill_fraction=eff.pixel_fill_fraction,
        defocus_sigma_um=eff.defocus_sigma_um, bit_depth=slm.bit_depth, settle_time_ms=slm.settle_time_ms,
        max_power_per_target_mw=laser.max_power_per_target_mw, max_total_power_mw=laser.max_total_power_mw,
        planes_z_um=tuple(imaging.planes_z_um), fov_um=tuple(imaging.fov_um), pixels=tuple(imaging.pixels),
        volume_rate_hz=imaging.volume_rate_hz, sim_config=rig.sim or SimConfig(), seed=seed, clock=clock)
