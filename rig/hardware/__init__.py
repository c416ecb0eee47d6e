"""Hardware interfaces (typing Protocols) the rig drives, and the records that pass through them."""
from rig.hardware.clock import MonotonicClock
from rig.hardware.errors import HardwareError
from rig.hardware.frames import Frame, ShownMask
from rig.hardware.protocols import SLM, Clock, ImagingSource, StimulationLaser, Treadmill, VisualStimulus

__all__ = ["SLM", "Clock", "Frame", "HardwareError", "ImagingSource", "MonotonicClock", "ShownMask",
           "StimulationLaser", "Treadmill", "VisualStimulus"]
