"""The session file: one HDF5 file per session, crash-safe, readable while written (docs/session-format.md)."""
from .errors import SessionError
from .format import FORMAT_VERSION, InvalidFlag
from .reader import SessionReader
from .recover import needs_recovery, recover_session
from .writer import SessionWriter

__all__ = ["FORMAT_VERSION", "InvalidFlag", "SessionError", "SessionReader", "SessionWriter", "needs_recovery",
           "recover_session"]
