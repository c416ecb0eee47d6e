"""The one exception type of the wire layer."""
from __future__ import annotations


class WireError(ValueError):
    """A message on the wire is malformed, of an unknown type, or has invalid fields.

    ``kind`` says which (``malformed``, ``unknown_type``, ``invalid``) so a server can put it in its error reply.
    """

    exit_code = 2

    def __init__(self, message: str, kind: str = "malformed"):
        super().__init__(message)
        self.kind = kind
