"""Fakes of the hardware SDKs' calls, for tests and for checking a rig profile on a computer without hardware.

Each fake implements only what the driver calls, with the SDK's argument conventions, and records every call so a
test can check what the device would have received:

* :class:`FakeBlinkLibrary` — the Blink SDK's C functions (ctypes arguments, byref outputs, raw image pointers)
* :func:`fake_nidaqmx` — a module object standing in for ``nidaqmx`` (tasks, AO channels, timing, writes)
* :func:`fake_pygame` — a module object standing in for ``pygame`` (display, surfaces, surfarray)
* :func:`fake_psychopy_visual` — a module object standing in for ``psychopy.visual`` (Window, GratingStim)
* :class:`FakeGratingRenderer` — a stimulus-server renderer that records frames instead of drawing them
"""
from __future__ import annotations

import ctypes
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np


# ------------------------------------------------------------------------------------------------------- Blink
class _CFunction:
    """A callable that, like a ctypes function, accepts ``argtypes``/``restype`` assignments (recorded)."""

    def __init__(self, name: str, body: Callable, calls: list):
        self.name, self._body, self._calls = name, body, calls
        self.argtypes: Optional[list] = None
        self.restype: Any = None

    def __call__(self, *args):
        if self.argtypes is not None and len(args) != len(self.argtypes):
            raise TypeError(f"{self.name} takes {len(self.argtypes)} arguments ({len(args)} given)")
        self._calls.append((self.name, args))
        return self._body(*args)


def _value(arg) -> Any:
    return getattr(arg, "value", arg)


class FakeBlinkLibrary:
    """The Blink SDK (PCIe) C functions the Meadowlark driver calls, with a pretend board.

    ``written`` holds a copy of every image written (read through the raw pointer the driver passed);
    ``calls`` every call in order. Set ``fail_create``, ``fail_write`` or ``fail_lut`` to simulate SDK failures.
    """

    def __init__(self, height: int = 1152, width: int = 1920, depth: int = 8, boards: int = 1):
        self.height, self.width, self.depth, self.boards = height, width, depth, boards
        self.calls: list[tuple[str, tuple]] = []
        self.written: list[np.ndarray] = []
        self.lut_files: list[str] = []
        self.created = False
        self.fail_create = self.fail_write = self.fail_lut = False
        self._last_error = b""
        for name in ("Create_SDK", "Delete_SDK", "Get_image_width", "Get_image_height", "Get_image_depth",
                     "Load_LUT_file", "Write_image", "ImageWriteComplete", "Get_last_error_message"):
            setattr(self, name, _CFunction(name, getattr(self, "_" + name), self.calls))

    def _Create_SDK(self, bit_depth, n_boards_ref, ok_ref, is_nematic, ram_write, use_gpu, transients, regional):
        n_boards_ref._obj.value = self.boards
        ok_ref._obj.value = 0 if self.fail_create else 1
        self.created = not self.fail_create
        if self.fail_create:
            self._last_error = b"no PCIe board found"

    def _Delete_SDK(self):
        self.created = False

    def _require(self):
        if not self.created:
            raise OSError("Blink SDK call before Create_SDK (access violation on a real DLL)")

    def _Get_image_width(self, board):
        self._require()
        return self.width

    def _Get_image_height(self, board):
        self._require()
        return self.height

    def _Get_image_depth(self, board):
        self._require()
        return self.depth

    def _Load_LUT_file(self, board, path):
        self._require()
        if self.fail_lut:
            self._last_error = b"LUT file has the wrong format"
            return -1
        self.lut_files.append(_value(path).decode() if isinstance(_value(path), bytes) else str(_value(path)))
        return 0

    def _Write_image(self, board, pointer, n_bytes, wait_trigger, flip_immediate, pulse_flip, pulse_refresh,
                     timeout_ms):
        self._require()
        n = int(_value(n_bytes))
        expected = self.height * self.width * (1 if self.depth <= 8 else 2)
        if n != expected:
            self._last_error = f"image size {n} != {expected}".encode()
            return -1
        if self.fail_write:
            self._last_error = b"DMA failed"
            return -1
        raw = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_ubyte)), shape=(n,)).copy()
        dtype = np.uint8 if self.depth <= 8 else np.uint16
        self.written.append(raw.view(dtype).reshape(self.height, self.width))
        return 0

    def _ImageWriteComplete(self, board, timeout_ms):
        self._require()
        return 0

    def _Get_last_error_message(self):
        return self._last_error


# ------------------------------------------------------------------------------------------------------ nidaqmx
@dataclass
class FakeAoDevice:
    """What the analog outputs of a pretend NI-DAQ have done: per channel, every write (volts) and its timing.

    Counters: a test sets ``counts[channel]`` (edges counted so far, any real number, or a callable returning it);
    a task reads it as the 32-bit hardware register would show it (wrapped). ``counter_channels`` records how each
    counter channel was declared."""

    voltages: dict[str, float] = field(default_factory=dict)
    writes: list[dict] = field(default_factory=list)
    channel_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    tasks_open: int = 0
    counts: dict[str, Any] = field(default_factory=dict)
    counter_channels: dict[str, dict] = field(default_factory=dict)


def fake_nidaqmx(device: Optional[FakeAoDevice] = None) -> types.ModuleType:
    """A module standing in for ``nidaqmx``: ``Task`` with ``ao_channels``, ``timing``, ``write``, ``start``,
    ``wait_until_done``, ``stop``, ``close``, and ``constants.AcquisitionType``. Writes beyond a channel's
    declared range raise, as the real driver does. ``module.device`` is the :class:`FakeAoDevice`."""
    device = device or FakeAoDevice()
    module = types.ModuleType("nidaqmx")
    module.device = device
    module.constants = types.SimpleNamespace(
        AcquisitionType=types.SimpleNamespace(FINITE="FINITE", CONTINUOUS="CONTINUOUS"),
        EncoderType=types.SimpleNamespace(X_1="X_1", X_2="X_2", X_4="X_4", TWO_PULSE_COUNTING="TWO_PULSE"),
        AngleUnits=types.SimpleNamespace(DEGREES="DEGREES", RADIANS="RADIANS", TICKS="TICKS"),
        Edge=types.SimpleNamespace(RISING="RISING", FALLING="FALLING"))
    module.errors = types.SimpleNamespace(DaqError=RuntimeError)

    class _AoChannels:
        def __init__(self, task):
            self._task = task

        def add_ao_voltage_chan(self, physical_channel, min_val=-10.0, max_val=10.0, **kwargs):
            self._task.channels.append(physical_channel)
            device.channel_ranges[physical_channel] = (float(min_val), float(max_val))

    class _CiChannels:
        def __init__(self, task):
            self._task = task

        def _add(self, physical_channel, spec):
            if physical_channel in device.counter_channels:
                raise RuntimeError(f"{physical_channel} is reserved by another task")
            self._task.counters.append(physical_channel)
            device.counter_channels[physical_channel] = spec

        def add_ci_ang_encoder_chan(self, counter, name_to_assign_to_channel="", decoding_type="X_4",
                                    units="DEGREES", pulses_per_rev=24, initial_angle=0.0, **kwargs):
            self._add(counter, {"kind": "encoder", "decoding": decoding_type, "units": units,
                                "pulses_per_rev": int(pulses_per_rev)})

        def add_ci_count_edges_chan(self, counter, name_to_assign_to_channel="", edge="RISING", initial_count=0,
                                    **kwargs):
            self._add(counter, {"kind": "edges", "edge": edge})

    class _Timing:
        def __init__(self, task):
            self._task = task

        def cfg_samp_clk_timing(self, rate, sample_mode=None, samps_per_chan=1000, **kwargs):
            self._task.timing_config = {"rate": float(rate), "mode": sample_mode, "samples": int(samps_per_chan)}

    class Task:
        def __init__(self, new_task_name: str = ""):
            self.channels: list[str] = []
            self.ao_channels = _AoChannels(self)
            self.counters: list[str] = []
            self.ci_channels = _CiChannels(self)
            self.started = False
            self.timing = _Timing(self)
            self.timing_config: Optional[dict] = None
            self.closed = False
            device.tasks_open += 1

        def write(self, data, auto_start=False, timeout=10.0):
            if self.closed:
                raise RuntimeError("task closed")
            values = np.atleast_1d(np.asarray(data, dtype=np.float64))
            for ch in self.channels:
                lo, hi = device.channel_ranges[ch]
                if values.min() < lo or values.max() > hi:
                    raise RuntimeError(f"{ch}: requested value outside the channel range [{lo}, {hi}] V")
                device.voltages[ch] = float(values[-1])
            device.writes.append({"channels": list(self.channels), "volts": values.copy(),
                                  "timing": self.timing_config, "auto_start": auto_start})
            return values.size

        def start(self):
            self.started = True

        def read(self, number_of_samples_per_channel=None, timeout=10.0):
            """On-demand read of the (single) counter: edges modulo 2³² (unsigned for edge counting, signed
            for encoders, in ticks), as the hardware register holds them."""
            if self.closed or not self.counters:
                raise RuntimeError("read from a closed task or one without counter channels")
            ch = self.counters[0]
            value = device.counts.get(ch, 0)
            count = int(np.floor(value() if callable(value) else value)) % 2 ** 32
            if device.counter_channels[ch]["kind"] == "encoder":
                if device.counter_channels[ch]["units"] != "TICKS":
                    raise RuntimeError("the fake counter reads ticks only")
                return float(count - 2 ** 32 if count >= 2 ** 31 else count)
            return count

        def wait_until_done(self, timeout=10.0):
            pass

        def stop(self):
            pass

        def close(self):
            if not self.closed:
                self.closed = True
                device.tasks_open -= 1
                for ch in self.counters:
                    device.counter_channels.pop(ch, None)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    module.Task = Task
    return module


# ------------------------------------------------------------------------------------------------------- pygame
def fake_pygame(num_displays: int = 2) -> types.ModuleType:
    """A module standing in for ``pygame``: ``init``, ``display`` (``set_mode`` with ``display=`` and ``vsync=``,
    ``flip``, ``get_num_displays``, ``quit``), ``surfarray.make_surface`` (arrays indexed [x, y, rgb]),
    ``event.pump``, ``mouse.set_visible``, ``NOFRAME``/``FULLSCREEN``. ``module.screen_log`` lists, per flip, the
    RGB image (rows, cols, 3) on the screen."""
    module = types.ModuleType("pygame")
    module.NOFRAME, module.FULLSCREEN = 0x20, 0x80000000
    module.screen_log = []
    module.initialised = False

    class Surface:
        def __init__(self, pixels_xy: np.ndarray):
            self.pixels_xy = np.array(pixels_xy, copy=True)

        def get_size(self):
            return self.pixels_xy.shape[:2]

        def convert(self):
            return Surface(self.pixels_xy)

        def blit(self, source, dest=(0, 0)):
            if source.get_size() != self.get_size():
                raise ValueError("fake pygame blits whole surfaces only")
            self.pixels_xy[...] = source.pixels_xy

    state = {"screen": None}

    def set_mode(size, flags=0, depth=0, display=0, vsync=0):
        if display >= num_displays:
            raise RuntimeError(f"display index {display} out of range ({num_displays} displays)")
        state["screen"] = Surface(np.zeros((size[0], size[1], 3), np.uint8))
        state["mode"] = {"size": tuple(size), "flags": flags, "display": display, "vsync": vsync}
        return state["screen"]

    def flip():
        module.screen_log.append(state["screen"].pixels_xy.transpose(1, 0, 2).copy())

    module.init = lambda: setattr(module, "initialised", True)
    module.quit = lambda: setattr(module, "initialised", False)
    module.display = types.SimpleNamespace(set_mode=set_mode, flip=flip, get_num_displays=lambda: num_displays,
                                           quit=lambda: None, state=state)
    module.surfarray = types.SimpleNamespace(make_surface=lambda array: Surface(np.asarray(array)))
    module.event = types.SimpleNamespace(pump=lambda: None)
    module.mouse = types.SimpleNamespace(set_visible=lambda visible: None)
    module.Surface = Surface
    return module


# ------------------------------------------------------------------------------------------ visual stimulus
class FakeGratingRenderer:
    """A stimulus-server renderer that records each frame instead of drawing it.

    ``frames`` lists ``(flip_s, kind, direction_deg, cycles_per_deg, phase_cycles, contrast)``; kind is "grating"
    or "blank" (the grating fields None). With ``clock=None`` time is simulated (each flip is one frame period
    after the previous one); with a clock, a flip waits for the next frame boundary on it, like vsync.
    ``fail_next`` makes the next draw raise.
    """

    def __init__(self, frame_period_s: float = 1.0 / 60.0, clock: Optional[Callable[[], float]] = None,
                 start_s: float = 100.0):
        self.frame_period_s = float(frame_period_s)
        self._clock = clock
        self._t = start_s - frame_period_s
        self.frames: list[tuple] = []
        self.closed = False
        self.fail_next = False

    def draw_grating(self, direction_deg, cycles_per_deg, phase_cycles, contrast) -> float:
        return self._flip("grating", float(direction_deg), float(cycles_per_deg), float(phase_cycles),
                          float(contrast))

    def draw_blank(self) -> float:
        return self._flip("blank", None, None, None, None)

    def close(self) -> None:
        self.closed = True

    def _flip(self, kind, *fields) -> float:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the display went away")
        if self._clock is None:
            self._t += self.frame_period_s
        else:
            import time  # noqa: PLC0415
            now = self._clock()
            target = (np.floor(now / self.frame_period_s) + 1) * self.frame_period_s
            time.sleep(max(target - now, 0.0))
            self._t = float(target)
        self.frames.append((self._t, kind, *fields))
        return self._t


def fake_psychopy_visual(size: tuple[int, int] = (2048, 1536), frame_period_s: float = 1.0 / 60.0,
                         num_screens: int = 2) -> types.ModuleType:
    """A module standing in for ``psychopy.visual``: ``Window`` (``size``, ``monitorFramePeriod``, ``flip``,
    ``close``) and ``GratingStim`` (attributes ``ori``, ``sf``, ``phase``, ``contrast``, ``size``; ``draw``).
    ``module.flips`` lists, per flip, the state of every stimulus drawn since the previous flip."""
    module = types.ModuleType("psychopy.visual")
    module.flips = []
    module.windows = []

    class Window:
        def __init__(self, size=(800, 600), fullscr=False, screen=0, units="norm", color=(0, 0, 0), **kwargs):
            if screen >= num_screens:
                raise RuntimeError(f"screen {screen} not found ({num_screens} screens)")
            self.size = np.array(size if not fullscr else module_size)
            self.units, self.color, self.screen, self.kwargs = units, color, screen, kwargs
            self.monitorFramePeriod = frame_period_s
            self._drawn: list[dict] = []
            self.closed = False
            module.windows.append(self)

        def flip(self):
            module.flips.append(self._drawn)
            self._drawn = []

        def close(self):
            self.closed = True

    class GratingStim:
        def __init__(self, win, tex="sin", mask=None, units="", size=None, sf=None, ori=0.0, phase=0.0,
                     contrast=1.0, **kwargs):
            self.win, self.tex, self.mask, self.units = win, tex, mask, units
            self.size, self.sf, self.ori, self.phase, self.contrast = size, sf, ori, phase, contrast

        def draw(self):
            self.win._drawn.append({"tex": self.tex, "units": self.units, "size": self.size, "sf": self.sf,
                                    "ori": self.ori, "phase": self.phase, "contrast": self.contrast})

    module_size = tuple(size)
    module.Window, module.GratingStim = Window, GratingStim
    return module
