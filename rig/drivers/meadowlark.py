"""Meadowlark SLM (seed 002: HSP1920-1064-HSP8, 1920 × 1152) through the Blink SDK's C wrapper, with ctypes.

The SDK (``Blink_C_wrapper.dll`` in the Blink OverDrive Plus ``SDK`` folder) is loaded only when the driver is
opened. The calls used, with the PCIe signatures of the Blink SDK manual:

* ``Create_SDK(bit_depth, *n_boards, *constructed_ok, is_nematic, ram_write_enable, use_gpu, max_transients,
  regional_lut)`` — open the boards; ``Delete_SDK()`` — close them
* ``Get_image_width/height/depth(board)`` — the SLM's geometry
* ``Load_LUT_file(board, path)`` — the device's phase→voltage LUT (returns 0 on success)
* ``Write_image(board, image, image_bytes, wait_for_trigger, flip_immediate, output_pulse_image_flip,
  output_pulse_image_refresh, trigger_timeout_ms)`` then ``ImageWriteComplete(board, trigger_timeout_ms)`` —
  show one image and wait until it is fully written (-1 means failure)
* ``Get_last_error_message()`` — why a call failed

Masks are kept as contiguous level buffers, so showing one is a single DMA write. ``flip_immediate`` stays false so
every pixel switches to the same image (no tearing across a mask change).
"""
from __future__ import annotations

import ctypes
import logging
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from rig.config import SlmConfig
from rig.hardware.errors import HardwareError, MaskError
from rig.hardware.masks import check_levels

log = logging.getLogger(__name__)

DLL_NAME = "Blink_C_wrapper.dll"
#: How long a write may wait for the SLM before the SDK gives up, ms (no external trigger is used).
TRIGGER_TIMEOUT_MS = 5000

_c_uint, _c_int, _c_bool = ctypes.c_uint, ctypes.c_int, ctypes.c_bool
_PROTOTYPES: dict[str, tuple[list, Any]] = {
    "Create_SDK": ([_c_uint, ctypes.POINTER(_c_uint), ctypes.POINTER(_c_int), _c_bool, _c_bool, _c_bool, _c_uint,
                    ctypes.c_char_p], None),
    "Delete_SDK": ([], None),
    "Get_image_width": ([_c_int], _c_int),
    "Get_image_height": ([_c_int], _c_int),
    "Get_image_depth": ([_c_int], _c_int),
    "Load_LUT_file": ([_c_int, ctypes.c_char_p], _c_int),
    "Write_image": ([_c_int, ctypes.POINTER(ctypes.c_ubyte), _c_uint, _c_bool, _c_bool, _c_bool, _c_bool, _c_uint],
                    _c_int),
    "ImageWriteComplete": ([_c_int, _c_uint], _c_int),
    "Get_last_error_message": ([], ctypes.c_char_p),
}


def load_blink(sdk_path: Union[str, Path, None]) -> Any:
    """Load ``Blink_C_wrapper.dll`` from ``sdk_path`` (a folder or the DLL itself) and declare its prototypes."""
    if sdk_path is None:
        raise HardwareError("the Meadowlark driver needs slm.sdk_path: the Blink SDK folder with " + DLL_NAME)
    path = Path(sdk_path)
    dll = path / DLL_NAME if path.is_dir() else path
    if not dll.is_file():
        raise HardwareError(f"{DLL_NAME} not found at {dll}; set slm.sdk_path to the Blink SDK folder")
    try:
        library = ctypes.CDLL(str(dll))
    except OSError as err:
        raise HardwareError(f"cannot load {dll} ({err}); install the Blink SDK matching this Python (64-bit)") from None
    declare_prototypes(library)
    return library


def declare_prototypes(library: Any) -> None:
    """Set argtypes/restype of the Blink functions used, so ctypes converts and checks the arguments."""
    for name, (argtypes, restype) in _PROTOTYPES.items():
        function = getattr(library, name)
        function.argtypes = argtypes
        function.restype = restype


class MeadowlarkSLM:
    """A Meadowlark PCIe SLM, one board, through the Blink SDK.

    Parameters
    ----------
    sdk_path : Blink SDK folder (or the DLL). Ignored when ``library`` is given.
    lut_file : the SLM's ``.lut`` file (Meadowlark's calibration for the stimulation wavelength).
    board : board number, 1-based.
    bit_depth : level depth of the images written (8 for the HSP1920 in 8-bit mode).
    library : an already loaded library object (tests pass :class:`rig.drivers.fakes.FakeBlinkLibrary`).
    clock : monotonic clock, seconds.
    """

    def __init__(self, sdk_path: Union[str, Path, None] = None, lut_file: Union[str, Path, None] = None,
                 board: int = 1, bit_depth: int = 8, library: Any = None,
                 clock: Callable[[], float] = time.monotonic, frame_period_s: Optional[float] = None):
        self._lib = library if library is not None else load_blink(sdk_path)
        self.board = int(board)
        self._clock = clock
        self._open = False
        self._create(bit_depth)
        try:
            self.shape = (int(self._lib.Get_image_height(self.board)), int(self._lib.Get_image_width(self.board)))
            self.bit_depth = int(bit_depth)
            depth = int(self._lib.Get_image_depth(self.board))
            if depth != self.bit_depth:
                raise HardwareError(f"board {self.board} takes {depth}-bit images but slm.bit_depth is "
                                    f"{self.bit_depth}; set slm.bit_depth: {depth}")
            if lut_file is not None:
                self.load_lut(lut_file)
        except BaseException:
            self.close()
            raise
        # The refresh period depends on the board's mode; without a figure, assume a conservative 60 Hz.
        self._frame_period_s = frame_period_s if frame_period_s is not None else 1.0 / 60
        self._buffers: list[np.ndarray] = []

    @classmethod
    def from_config(cls, slm: SlmConfig, **kwargs) -> "MeadowlarkSLM":
        driver = cls(sdk_path=slm.sdk_path, lut_file=slm.lut_file, bit_depth=slm.bit_depth, **kwargs)
        if tuple(driver.shape) != tuple(slm.shape):
            driver.close()
            raise HardwareError(f"the SLM is {driver.shape[0]} × {driver.shape[1]} but slm.shape says "
                                f"{slm.shape[0]} × {slm.shape[1]}; fix slm.shape")
        return driver

    def _create(self, bit_depth: int) -> None:
        n_boards, ok = ctypes.c_uint(0), ctypes.c_int(0)  # int-sized flag: safe whether the SDK writes bool or int
        self._lib.Create_SDK(ctypes.c_uint(bit_depth), ctypes.byref(n_boards), ctypes.byref(ok),
                             ctypes.c_bool(True), ctypes.c_bool(True), ctypes.c_bool(False), ctypes.c_uint(10), None)
        if not ok.value:
            message = self._last_error()
            self._lib.Delete_SDK()
            raise HardwareError(f"Blink SDK could not open the SLM ({message}); check the PCIe board and driver")
        self._open = True
        if not 1 <= self.board <= n_boards.value:
            self.close()
            raise HardwareError(f"board {self.board} requested but the SDK found {n_boards.value} board(s)")
        log.info("Blink SDK open: %d board(s), using board %d", n_boards.value, self.board)

    def _last_error(self) -> str:
        try:
            text = self._lib.Get_last_error_message()
        except Exception:  # noqa: BLE001 - only used to enrich another error
            return "no error message"
        return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)

    @property
    def frame_period_s(self) -> float:
        return self._frame_period_s

    def load_lut(self, lut_file: Union[str, Path]) -> None:
        """Load the device LUT (``.lut``) that maps levels to voltages for the stimulation wavelength."""
        path = Path(lut_file)
        if not path.is_file():
            raise HardwareError(f"LUT file {path} not found; set slm.lut_file to the SLM's .lut file")
        if self._lib.Load_LUT_file(self.board, str(path).encode("utf-8")) != 0:
            raise HardwareError(f"the SDK could not load LUT {path}: {self._last_error()}")

    def load_masks(self, levels: np.ndarray) -> None:
        """Keep contiguous copies of the masks (n, rows, cols) as the device's write buffers."""
        stack = check_levels(levels, self.shape, self.bit_depth)
        self._buffers = [np.ascontiguousarray(mask).copy() for mask in stack]

    def show(self, index: int) -> float:
        """Write mask ``index``, wait for the write to complete; returns the completion time (monotonic s)."""
        if not self._open:
            raise HardwareError("the SLM is closed")
        if not 0 <= index < len(self._buffers):
            raise MaskError(f"mask index {index} out of range: {len(self._buffers)} masks loaded")
        image = self._buffers[index]
        pointer = image.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte))
        status = self._lib.Write_image(self.board, pointer, image.nbytes, False, False, False, False,
                                       TRIGGER_TIMEOUT_MS)
        if status == -1:
            raise HardwareError(f"Write_image failed for mask {index}: {self._last_error()}")
        if self._lib.ImageWriteComplete(self.board, TRIGGER_TIMEOUT_MS) == -1:
            raise HardwareError(f"the SLM did not finish writing mask {index}: {self._last_error()}")
        return self._clock()

    def close(self) -> None:
        """Close the SDK (safe to call twice)."""
        if self._open:
            self._open = False
            self._lib.Delete_SDK()
