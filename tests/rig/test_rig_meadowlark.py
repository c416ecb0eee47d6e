"""Meadowlark driver against a fake of the Blink SDK's C functions."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from rig.config import SlmConfig
from rig.drivers.fakes import FakeBlinkLibrary
from rig.drivers.meadowlark import MeadowlarkSLM, declare_prototypes, load_blink
from rig.hardware import SLM
from rig.hardware.errors import HardwareError, MaskError


def _library(**kwargs):
    library = FakeBlinkLibrary(height=12, width=20, **kwargs)
    declare_prototypes(library)
    return library


def test_prototypes_are_declared_for_every_call():
    library = _library()
    assert library.Write_image.restype is ctypes.c_int
    assert len(library.Write_image.argtypes) == 8 and len(library.Create_SDK.argtypes) == 8
    assert library.Get_last_error_message.restype is ctypes.c_char_p


def test_open_load_lut_show_close(tmp_path):
    lut = tmp_path / "slm_1064.lut"
    lut.write_text("0 0\n")
    library = _library()
    slm = MeadowlarkSLM(lut_file=lut, library=library)
    assert isinstance(slm, SLM)
    assert slm.shape == (12, 20) and library.lut_files == [str(lut)]
    masks = np.random.default_rng(2).integers(0, 256, (3, 12, 20), dtype=np.uint8)
    slm.load_masks(masks)
    masks[:] = 0  # the driver keeps its own copies
    for index in (2, 0):
        shown_s = slm.show(index)
        assert shown_s > 0
    expected = np.random.default_rng(2).integers(0, 256, (3, 12, 20), dtype=np.uint8)
    np.testing.assert_array_equal(library.written[0], expected[2])
    np.testing.assert_array_equal(library.written[1], expected[0])
    names = [name for name, _ in library.calls]
    assert names.index("Write_image") < names.index("ImageWriteComplete")  # wait for the full write each time
    write_args = [args for name, args in library.calls if name == "Write_image"][0]
    assert write_args[2] == 12 * 20 and write_args[4] is False  # image bytes; no flip_immediate (no tearing)
    slm.close()
    slm.close()
    assert [n for n, _ in library.calls].count("Delete_SDK") == 1
    with pytest.raises(HardwareError, match="closed"):
        slm.show(0)


def test_sixteen_bit_masks_are_written_as_uint16():
    library = FakeBlinkLibrary(height=4, width=6, depth=16)
    declare_prototypes(library)
    slm = MeadowlarkSLM(bit_depth=16, library=library)
    mask = np.arange(24, dtype=np.uint16).reshape(1, 4, 6) * 1000
    slm.load_masks(mask)
    slm.show(0)
    np.testing.assert_array_equal(library.written[0], mask[0])


def test_sdk_failures_raise_with_the_sdk_message():
    with pytest.raises(HardwareError, match="no PCIe board found"):
        MeadowlarkSLM(library=_failing("fail_create"))
    library = _library()
    slm = MeadowlarkSLM(library=library)
    slm.load_masks(np.zeros((1, 12, 20), np.uint8))
    library.fail_write = True
    with pytest.raises(HardwareError, match="DMA failed"):
        slm.show(0)


def _failing(flag):
    library = _library()
    setattr(library, flag, True)
    return library


def test_lut_failure_closes_the_sdk(tmp_path):
    lut = tmp_path / "x.lut"
    lut.write_text("")
    library = _failing("fail_lut")
    with pytest.raises(HardwareError, match="wrong format"):
        MeadowlarkSLM(lut_file=lut, library=library)
    assert not library.created


def test_bit_depth_and_board_mismatches_are_explained():
    with pytest.raises(HardwareError, match="set slm.bit_depth: 8"):
        MeadowlarkSLM(bit_depth=16, library=_library())
    with pytest.raises(HardwareError, match="board 2 requested but the SDK found 1"):
        MeadowlarkSLM(board=2, library=_library())


def test_masks_are_checked_before_the_sdk_sees_them():
    library = _library()
    slm = MeadowlarkSLM(library=library)
    with pytest.raises(MaskError):
        slm.load_masks(np.zeros((1, 20, 12), np.uint8))
    with pytest.raises(MaskError, match="out of range"):
        slm.show(0)
    assert library.written == []


def test_from_config_checks_the_shape():
    with pytest.raises(HardwareError, match="fix slm.shape"):
        MeadowlarkSLM.from_config(SlmConfig(driver="meadowlark", shape=(1152, 1920)), library=_library())


def test_missing_sdk_is_explained(tmp_path):
    with pytest.raises(HardwareError, match="sdk_path"):
        load_blink(None)
    with pytest.raises(HardwareError, match="Blink_C_wrapper.dll not found"):
        load_blink(tmp_path)
