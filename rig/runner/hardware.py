"""The hardware a session drives, as one bundle of :mod:`rig.hardware` Protocol objects.

``build_sim_hardware`` wires the simulated microscope (:mod:`sims`) into the bundle; ``build_real_hardware`` opens
the drivers a rig profile names. The controller touches hardware only through this bundle. ``slide`` is an
optional capability: a calibration slide the imaging system can image instead of tissue (the simulator's
calibration-slide mode; on a real rig the slide is mounted by hand and a saved calibration is checked instead).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from rig.hardware.protocols import SLM, Clock, ImagingSource, StimulationLaser, Treadmill, VisualStimulus

from .errors import RunnerError

log = logging.getLogger(__name__)


@dataclass
class HardwareBundle:
    """Everything a session drives. ``simulated`` says whether time is simulated (a dry run)."""

    slm: SLM
    laser: StimulationLaser
    imaging: ImagingSource
    visual: VisualStimulus
    treadmill: Treadmill
    clock: Clock
    simulated: bool
    slide: Optional[Callable[[Optional[float]], None]] = None
    microscope: Any = None            # the SimulatedMicroscope in a dry run (ground truth for tests)
    closers: list = field(default_factory=list)

    def close(self) -> None:
        """Laser off first, then close every device (errors of one do not stop the others)."""
        try:
            self.laser.off()
        finally:
            for dev in (self.laser, self.slm, self.imaging, self.visual, self.treadmill, *self.closers):
                if dev is None:
                    continue
                try:
                    dev.close()
                except Exception:  # noqa: BLE001 - closing must reach every device
                    pass


def build_sim_hardware(rig, seed: int) -> HardwareBundle:
    """The simulated microscope of ``rig`` (backend ``sim``) as a bundle; its clock advances with the frames."""
    import sims

    micro = sims.build_microscope(rig, seed=seed)
    return HardwareBundle(slm=micro.slm, laser=micro.laser, imaging=micro.scanner, visual=micro.visual,
                          treadmill=micro.treadmill, clock=micro.clock, simulated=True,
                          slide=micro.scanner.set_slide, microscope=micro)


def build_real_hardware(rig, open_slm_here: bool = False) -> HardwareBundle:
    """Open the real drivers of ``rig`` (backend ``hardware``). Drivers import their SDKs lazily.

    The SLM normally belongs to a separate ``holostim slm-server`` process, so it is opened here only when
    ``open_slm_here`` (the ``--slm direct`` or ``server`` modes)."""
    from rig.drivers.factory import open_slm
    from rig.hardware.clock import MonotonicClock

    if rig.backend != "hardware":
        raise RunnerError(f"rig profile {rig.name!r} has backend {rig.backend!r}; `holostim run` needs "
                          "backend: hardware (use `holostim dry-run` for the simulated microscope)")
    laser = _open_laser(rig)
    imaging = _open_imaging(rig)
    visual = _open_named("visual_stimulus", rig.visual_stimulus)
    treadmill = _open_named("treadmill", rig.treadmill)
    return HardwareBundle(slm=open_slm(rig) if open_slm_here else None, laser=laser, imaging=imaging, visual=visual,
                          treadmill=treadmill,
                          clock=MonotonicClock(), simulated=False)


def _open_laser(rig):
    if rig.laser.driver == "nidaq":
        from rig.drivers.nidaq_laser import NidaqLaser
        return NidaqLaser.from_config(rig.laser)
    raise RunnerError(f"no real driver for laser.driver {rig.laser.driver!r}")


def _open_imaging(rig):
    if rig.imaging.driver == "scanimage":
        from rig.drivers.scanimage_bridge import ScanImageBridge
        return ScanImageBridge(rig.zmq.imaging, red_channel=2 if rig.imaging.red_channel else None)
    raise RunnerError(f"no real driver for imaging.driver {rig.imaging.driver!r}")


def _open_named(what: str, name: str):
    raise RunnerError(f"{what}: {name!r} has no driver in this version of holostim; run the visual stimulus and "
                      f"treadmill through the simulated rig (backend: sim) or add a driver")
