"""The one exception type of the hardware layer."""
from __future__ import annotations


class HardwareError(RuntimeError):
    """A device, its SDK or its configuration is not usable. The message says what to check or change."""

    exit_code = 2


class MaskError(ValueError):
    """A mask (or LUT) failed its checks and was not sent to the SLM. The message says what is wrong."""

    exit_code = 2
