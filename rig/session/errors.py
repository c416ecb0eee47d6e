"""The session file's one exception type."""


class SessionError(ValueError):
    """A session file cannot be written or read as asked. The message says what to change."""

    exit_code = 2
