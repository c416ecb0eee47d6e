"""The one exception type of the online package."""
from __future__ import annotations


class OnlineError(ValueError):
    """Bad input a user can fix (footprints, events, movie): the message says what to change."""

    exit_code = 2
