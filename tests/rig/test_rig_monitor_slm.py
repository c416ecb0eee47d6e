"""'SLM as a second monitor' driver against a fake pygame."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from rig.config import SlmConfig
from rig.drivers.fakes import fake_pygame
from rig.drivers.monitor_slm import MonitorSLM, import_pygame
from rig.hardware import SLM
from rig.hardware.errors import HardwareError, MaskError


def test_window_opens_full_screen_on_the_slm_display_with_vsync():
    pygame = fake_pygame(num_displays=2)
    slm = MonitorSLM((12, 20), monitor_index=1, pygame=pygame)
    assert isinstance(slm, SLM)
    mode = pygame.display.state["mode"]
    assert mode["size"] == (20, 12) and mode["display"] == 1 and mode["vsync"] == 1
    assert mode["flags"] & pygame.NOFRAME and mode["flags"] & pygame.FULLSCREEN


def test_shown_screen_is_the_mask_in_grey():
    pygame = fake_pygame()
    slm = MonitorSLM((12, 20), pygame=pygame)
    masks = np.random.default_rng(4).integers(0, 256, (3, 12, 20), dtype=np.uint8)
    slm.load_masks(masks)
    for index in (1, 2, 0):
        slm.show(index)
        screen = pygame.screen_log[-1]
        for channel in range(3):
            np.testing.assert_array_equal(screen[:, :, channel], masks[index])
    assert len(pygame.screen_log) == 3


def test_bad_display_masks_and_depth_are_refused():
    with pytest.raises(HardwareError, match="display 3 not found"):
        MonitorSLM((12, 20), monitor_index=3, pygame=fake_pygame(2))
    slm = MonitorSLM((12, 20), pygame=fake_pygame())
    with pytest.raises(MaskError):
        slm.load_masks(np.zeros((1, 12, 20), np.uint16))
    with pytest.raises(MaskError, match="out of range"):
        slm.show(0)
    with pytest.raises(HardwareError, match="8-bit"):
        MonitorSLM.from_config(SlmConfig(driver="monitor", bit_depth=16), pygame=fake_pygame())
    slm.close()
    with pytest.raises(HardwareError, match="closed"):
        slm.show(0)


def test_missing_pygame_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygame", None)
    with pytest.raises(HardwareError, match="pip install pygame"):
        import_pygame()
