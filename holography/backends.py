"""Array backends for the phase engine: numpy (default, CPU) and optional GPU backends (cupy, torch).

The engine only needs a handful of operations; each backend supplies them on its own arrays, so the iteration
code is written once. GPU libraries are imported only when asked for, and their absence raises
:class:`HologramError` saying how to install them. All random numbers are drawn with numpy on the CPU and copied
over, so every backend follows the same path from the same seed.
"""
from __future__ import annotations

import numpy as np

from holography.errors import HologramError

BACKENDS = ("numpy", "cupy", "torch")

#: The largest float32 below 2π: phases are reported in [0, 2π).
BELOW_TWO_PI = np.nextafter(np.float32(2 * np.pi), np.float32(0))


class NumpyOps:
    """complex64/float32 numpy operations, written to avoid temporaries on the full SLM frame."""

    name = "numpy"

    def asarray(self, array):
        return np.asarray(array)

    def to_numpy(self, array) -> np.ndarray:
        return np.asarray(array)

    def take(self, array, index):
        return array[index]

    def conj(self, array):
        return np.conj(array)

    def normalize(self, field):
        """``field / |field|`` in place (phase-only), with zeros left at phase 0."""
        inv = np.abs(field)
        np.maximum(inv, np.float32(1e-30), out=inv)
        np.reciprocal(inv, out=inv)
        # Scaling the real and imaginary parts through a float32 view is ~2× faster than complex ÷ real,
        # which numpy does by promoting the divisor to complex.
        parts = field.view(np.float32).reshape(field.shape + (2,))
        parts[..., 0] *= inv
        parts[..., 1] *= inv
        return field

    def target_fields(self, unit_field, row_conj, col_conj):
        """Field at each target: Σ_r row_conj[r, k] · (U @ col_conj)[r, k]."""
        return np.einsum("rk,rk->k", row_conj, unit_field @ col_conj)

    def wrapped_angle(self, field):
        """arg(field) as float32 in [0, 2π): arg(−field) + π, clamped below 2π against rounding."""
        parts = field.view(np.float32).reshape(field.shape + (2,))
        phase = np.arctan2(-parts[..., 1], -parts[..., 0])
        phase += np.float32(np.pi)
        np.minimum(phase, BELOW_TWO_PI, out=phase)
        return phase

    def synchronize(self) -> None:
        pass


class CupyOps(NumpyOps):
    """The numpy operations on a CUDA GPU through cupy."""

    name = "cupy"

    def __init__(self):
        try:
            import cupy  # noqa: PLC0415 - optional dependency, imported only when asked for
        except ImportError as err:
            raise HologramError(
                "backend='cupy' needs cupy, which is not installed (pip install 'holostim[gpu]', or "
                f"cupy-cuda12x); use backend='numpy' on machines without a GPU ({err})") from None
        try:
            cupy.cuda.runtime.getDeviceCount()
        except Exception as err:  # noqa: BLE001 - any CUDA failure means no usable GPU
            raise HologramError(f"backend='cupy' found no usable CUDA GPU ({err}); use backend='numpy'") from None
        self.xp = cupy

    def asarray(self, array):
        return self.xp.asarray(array)

    def to_numpy(self, array) -> np.ndarray:
        return self.xp.asnumpy(array)

    def take(self, array, index):
        return array[self.xp.asarray(index)]

    def conj(self, array):
        return self.xp.conj(array)

    def normalize(self, field):
        mag = self.xp.maximum(self.xp.abs(field), np.float32(1e-30))
        field /= mag
        return field

    def target_fields(self, unit_field, row_conj, col_conj):
        return (row_conj * (unit_field @ col_conj)).sum(axis=0)

    def wrapped_angle(self, field):
        phase = self.xp.angle(-field).astype(self.xp.float32) + np.float32(np.pi)
        return self.xp.minimum(phase, BELOW_TWO_PI)

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()


class TorchOps:
    """The same operations with torch tensors: on CUDA when available, else on the CPU."""

    name = "torch"

    def __init__(self, device: str | None = None):
        try:
            import torch  # noqa: PLC0415 - optional dependency, imported only when asked for
        except ImportError as err:
            raise HologramError(
                "backend='torch' needs PyTorch, which is not installed (pip install torch); "
                f"use backend='numpy' on machines without it ({err})") from None
        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def asarray(self, array):
        array = np.ascontiguousarray(array)
        return self.torch.from_numpy(array).to(self.device)

    def to_numpy(self, array) -> np.ndarray:
        return array.detach().resolve_conj().cpu().numpy()

    def take(self, array, index):
        return array[self.torch.as_tensor(np.asarray(index), device=self.device)]

    def conj(self, array):
        return array.conj().resolve_conj()

    def normalize(self, field):
        mag = self.torch.clamp(field.abs(), min=1e-30)
        field /= mag
        return field

    def target_fields(self, unit_field, row_conj, col_conj):
        return (row_conj * (unit_field @ col_conj)).sum(dim=0)

    def wrapped_angle(self, field):
        phase = self.torch.angle(-field).to(self.torch.float32) + np.float32(np.pi)
        return self.torch.clamp(phase, max=float(BELOW_TWO_PI))

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()


def get_ops(backend: str):
    """The operations object of a backend name; unknown names and missing libraries raise HologramError."""
    if backend == "numpy":
        return NumpyOps()
    if backend == "cupy":
        return CupyOps()
    if backend == "torch":
        return TorchOps()
    raise HologramError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
