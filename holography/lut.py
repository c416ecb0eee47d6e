"""Phase → SLM device levels through a per-device lookup table (Meadowlark-style LUT file).

A Meadowlark ``.lut`` file is plain text with two columns per line: the phase step index (0 … N−1, step i
meaning a phase of 2π·i/N) and the device level (voltage code) to write for it. Lines may be separated by
spaces, tabs or commas; blank lines and lines starting with ``#`` are ignored. Phases are wrapped into [0, 2π)
and rounded to the nearest step, so 2π − ε maps to step 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from holography.errors import HologramError


@dataclass(frozen=True)
class PhaseLUT:
    """``levels[i]`` is the device level that shows phase 2π·i/N; output dtype uint8 or uint16 per bit depth."""

    levels: np.ndarray
    bit_depth: int = 8

    def __post_init__(self) -> None:
        if self.bit_depth not in (8, 16):
            raise HologramError(f"LUT bit depth must be 8 or 16, got {self.bit_depth}")
        levels = np.asarray(self.levels)
        if levels.ndim != 1 or levels.size < 2:
            raise HologramError(f"a LUT needs at least 2 phase steps, got {levels.size}")
        top = 2 ** self.bit_depth - 1
        if levels.min() < 0 or levels.max() > top:
            raise HologramError(
                f"LUT levels span {levels.min()}–{levels.max()}, outside 0–{top} for a {self.bit_depth}-bit SLM; "
                "check the file or the SLM's bit_depth")
        object.__setattr__(self, "levels", levels.astype(self.dtype))

    @property
    def dtype(self):
        return np.uint8 if self.bit_depth == 8 else np.uint16

    @property
    def n_steps(self) -> int:
        return int(self.levels.size)

    @classmethod
    def linear(cls, bit_depth: int = 8, n_steps: int | None = None) -> "PhaseLUT":
        """The identity LUT: 2^bit_depth steps (or ``n_steps``) spread evenly over the device levels."""
        n = 2 ** bit_depth if n_steps is None else int(n_steps)
        return cls(np.round(np.arange(n) * (2 ** bit_depth) / n).astype(np.int64), bit_depth)

    def phase_to_levels(self, phase) -> np.ndarray:
        """Device levels of a phase mask (any real radians; wrapped, rounded to the nearest step)."""
        phi = np.asarray(phase, dtype=np.float32)
        n = self.n_steps
        # int32 steps (a mask stack is tens of millions of pixels): half the memory traffic of int64
        steps = np.floor(phi * np.float32(n / (2 * np.pi)) + np.float32(0.5)).astype(np.int32)
        if n & (n - 1) == 0:
            np.bitwise_and(steps, n - 1, out=steps)   # two's complement: equals % n for a power of two
        else:
            np.remainder(steps, n, out=steps)
        return np.take(self.levels, steps)

    def levels_to_phase(self, levels) -> np.ndarray:
        """Phase (float32 rad in [0, 2π)) that device levels show; levels not in the LUT raise HologramError."""
        inverse = np.full(2 ** self.bit_depth, -1, dtype=np.int64)
        inverse[self.levels[::-1]] = np.arange(self.n_steps)[::-1]  # first step wins if levels repeat
        steps = inverse[np.asarray(levels, dtype=np.int64)]
        if (steps < 0).any():
            raise HologramError("some levels are not in the LUT, so their phase is unknown")
        return (steps * (2 * np.pi / self.n_steps)).astype(np.float32)

    def save(self, path) -> Path:
        """Write the two-column Meadowlark-style text file."""
        path = Path(path)
        path.write_text("".join(f"{i}\t{int(v)}\n" for i, v in enumerate(self.levels)))
        return path


def load_lut(path, bit_depth: int = 8) -> PhaseLUT:
    """Read a Meadowlark-style two-column LUT file (phase step index, device level)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise HologramError(f"LUT file {path} does not exist; set slm.lut_file to an existing file") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.replace(",", " ").split()
        try:
            if len(fields) < 2:
                raise ValueError(line)
            index, level = int(float(fields[0])), int(float(fields[1]))
        except ValueError:
            raise HologramError(f"{path}:{number}: expected two columns 'index level', got {line!r}") from None
        rows.append((index, level))
    if not rows:
        raise HologramError(f"LUT file {path} has no entries")
    table = np.array(rows, dtype=np.int64)
    order = np.argsort(table[:, 0])
    table = table[order]
    if not np.array_equal(table[:, 0], np.arange(len(table))):
        raise HologramError(f"{path}: step indices must be 0 … {len(table) - 1}, each once")
    return PhaseLUT(table[:, 1], bit_depth)
