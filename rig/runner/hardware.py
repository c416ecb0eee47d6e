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
    opened = []
    try:
        for name, opener in (("laser", _open_laser), ("imaging", _open_imaging),
                             ("visual", lambda r: _open_named("visual_stimulus", r.visual_stimulus, r)),
                             ("treadmill", lambda r: _open_named("treadmill", r.treadmill, r)),
                             ("slm", lambda r: open_slm(r) if open_slm_here else None)):
            opened.append((name, opener(rig)))
    except BaseException:
        # a device that fails to open must not leave the others open (the laser first: its driver turns it off)
        for _, device in opened:
            if device is not None:
                try:
                    device.close()
                except Exception:  # noqa: BLE001 - keep closing the rest
                    log.exception("closing a device after a failed start")
        raise
    devices = dict(opened)
    return HardwareBundle(slm=devices["slm"], laser=devices["laser"], imaging=devices["imaging"],
                          visual=devices["visual"], treadmill=devices["treadmill"], clock=MonotonicClock(),
                          simulated=False)


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


def _open_named(what: str, name: str, rig):
    """The visual stimulus (``visual_stimulus: zmq|psychopy``) or treadmill (``treadmill: nidaq``) of ``rig``."""
    if what == "visual_stimulus" and name == "zmq":
        from rig.drivers.visual_stimulus import ZmqVisualStimulus
        return ZmqVisualStimulus.from_config(rig.visual)  # pings: a missing server fails here, clearly
    if what == "visual_stimulus" and name == "psychopy":
        from rig.drivers.visual_stimulus import PsychoPyStimulus
        return PsychoPyStimulus.from_config(rig.visual)
    if what == "treadmill" and name == "nidaq":
        from rig.drivers.treadmill import NidaqTreadmill
        return NidaqTreadmill.from_config(rig.running_wheel)
    raise RunnerError(f"{what}: {name!r} has no real driver; use visual_stimulus: zmq or psychopy and "
                      "treadmill: nidaq, or the simulated rig (backend: sim)")
