"""A live status line on stderr (stage, trial k/n, valid fraction, time left) and the closing summary."""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def _clock(seconds: float) -> str:
    if seconds != seconds or seconds < 0:  # NaN or negative
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Status line writer. On a terminal the line is redrawn in place; otherwise a line every ``every_s``.

    ``time left`` is the experiment (session-clock) time the rest of the current block is scheduled to take; in a
    dry run the wall-clock estimate is shown beside it.
    """

    def __init__(self, stream: Optional[TextIO] = None, enabled: bool = True, every_s: float = 5.0):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.every_s = every_s
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._block_wall0: Optional[float] = None
        self._block_done0 = 0
        self._width = 0

    def stage(self, name: str, detail: str = "") -> None:
        """A stage starts."""
        self._block_wall0 = None
        self._print(f"[{name}] {detail}".rstrip(), force=True, newline=True)

    def trial(self, stage: str, k: int, n: int, valid: int, done: int, t_left_s: float, unit: str = "trial") -> None:
        """Trial ``k`` of ``n`` of ``stage`` committed; ``valid`` of ``done`` were valid so far."""
        now = time.perf_counter()
        if self._block_wall0 is None:
            self._block_wall0, self._block_done0 = now, k - 1
        rate = (k - self._block_done0) / max(now - self._block_wall0, 1e-9)
        wall_left = (n - k) / rate if rate > 0 else float("nan")
        frac = valid / done if done else float("nan")
        if frac == frac:
            text = (f"[{stage}] {unit} {k}/{n}  valid {frac:.0%}  left {_clock(t_left_s)} experiment"
                    f", ~{_clock(wall_left)} wall")
        elif t_left_s == t_left_s:
            text = f"[{stage}] {unit} {k}/{n}  left {_clock(t_left_s)} experiment, ~{_clock(wall_left)} wall"
        else:
            text = f"[{stage}] {unit} {k}/{n}  ~{_clock(wall_left)} wall"
        self._print(text, force=k == n)

    def message(self, text: str) -> None:
        self._print(text, force=True, newline=True)

    def _print(self, text: str, force: bool = False, newline: bool = False) -> None:
        """Redraw the line (terminal) or write it (log), at most every ``every_s`` unless forced."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            pad = max(self._width - len(text), 0)
            end = "\n" if newline or force else ""
            self.stream.write("\r" + text + " " * pad + end)
            self._width = 0 if end else len(text)
            self.stream.flush()
        elif force or newline or now - self._last >= self.every_s:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last = now
