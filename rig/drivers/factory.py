"""Open the SLM a rig profile names: the one place that maps ``slm.driver`` to a driver class."""
from __future__ import annotations

from typing import Optional

from rig.config import RigProfile
from rig.hardware.errors import HardwareError
from rig.hardware.protocols import SLM

SLM_DRIVERS = ("auto", "null", "meadowlark", "monitor")


def open_slm(rig: RigProfile, driver: Optional[str] = None) -> SLM:
    """The SLM driver for ``rig`` (``driver`` overrides ``rig.slm.driver``; ``auto`` or None uses it).

    ``sim`` and ``null`` give a :class:`~rig.drivers.null_slm.NullSLM` of the profile's shape: in a dry run the
    SLM server only has to hold and switch masks, and the simulated microscope learns which mask is shown from the
    server's replies.
    """
    name = rig.slm.driver if driver in (None, "auto") else driver
    if name in ("sim", "null"):
        from rig.drivers.null_slm import NullSLM
        return NullSLM(rig.slm.shape, rig.slm.bit_depth)
    if name == "meadowlark":
        from rig.drivers.meadowlark import MeadowlarkSLM
        return MeadowlarkSLM.from_config(rig.slm)
    if name == "monitor":
        from rig.drivers.monitor_slm import MonitorSLM
        return MonitorSLM.from_config(rig.slm)
    raise HardwareError(f"unknown SLM driver {name!r}; use one of: sim, {', '.join(SLM_DRIVERS[1:])}")
