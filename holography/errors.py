"""The one exception type of the holography package."""
from __future__ import annotations


class HologramError(ValueError):
    """Input a user can get wrong (targets, weights, powers, files). The message says what to change."""

    exit_code = 2
