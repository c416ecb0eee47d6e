"""The one exception type of the simulated microscope."""
from __future__ import annotations


class SimError(ValueError):
    """Bad input to the simulated microscope; the message says what to change."""

    exit_code = 2
