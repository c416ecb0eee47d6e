"""Records that pass between imaging hardware and the rig."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One imaging frame of one plane and channel.

    ``counter`` is the source's frame number (gaps mean dropped frames); ``timestamp_s`` is the source's own
    time of the frame (ScanImage: seconds from the acquisition trigger); ``received_s`` is when this computer got
    it (``time.monotonic()``); ``plane`` is the 0-based plane index; ``channel`` the 1-based channel number.
    """

    counter: int
    timestamp_s: float
    received_s: float
    plane: int
    channel: int
    image: np.ndarray
    z_um: float = 0.0


@dataclass(frozen=True)
class ShownMask:
    """A mask the SLM has shown: its index and when the write completed (``time.monotonic()``, s)."""

    index: int
    shown_s: float
