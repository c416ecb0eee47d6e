"""Motion correction: subpixel accuracy on exact Fourier shifts, reference building, max-shift guard."""
import numpy as np
import pytest
from scipy import ndimage

from online import MotionCorrector, OnlineError


def _scene(seed=0, shape=(96, 96)):
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random(shape), 1.5) * 400 + 100
    return img.astype(np.float32)


def _shifted(img, dy, dx):
    """Content moved by (dy, dx) pixels, exactly (periodic Fourier shift)."""
    return np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(img), (dy, dx))).real.astype(np.float32)


def test_subpixel_shift_recovered():
    ref = _scene()
    mc = MotionCorrector(ref.shape, reference_frames=1)
    mc.register(ref)
    for dy, dx in [(0.3, -0.7), (2.45, 1.1), (-4.2, 3.6), (0.0, 0.0)]:
        _, s = mc.register(_shifted(ref, dy, dx))
        assert abs(s.dy - dy) < 0.05 and abs(s.dx - dx) < 0.05
        assert not s.clipped and s.peak > 0.5


def test_registered_frame_matches_reference():
    ref = _scene(1)
    mc = MotionCorrector(ref.shape, reference_frames=1)
    mc.register(ref)
    reg, s = mc.register(_shifted(ref, 1.5, -2.25))
    inner = (slice(8, -8), slice(8, -8))
    err = np.abs(reg[inner] - ref[inner]).mean() / ref[inner].std()
    assert err < 0.1


def test_reference_built_from_first_frames_in_frame0_coordinates():
    ref = _scene(2)
    rng = np.random.default_rng(3)
    mc = MotionCorrector(ref.shape, reference_frames=10)
    truth = [(0.0, 0.0)] + [tuple(rng.normal(0, 1, 2)) for _ in range(9)]
    for dy, dx in truth:
        assert not mc.reference_ready
        mc.register(_shifted(ref, dy, dx) + rng.normal(0, 5, ref.shape).astype(np.float32))
    assert mc.reference_ready
    _, s = mc.register(_shifted(ref, 1.0, 1.0))
    assert abs(s.dy - 1.0) < 0.1 and abs(s.dx - 1.0) < 0.1


def test_max_shift_guard_clips_and_flags():
    ref = _scene(4)
    mc = MotionCorrector(ref.shape, reference_frames=1, max_shift_px=3.0)
    mc.register(ref)
    _, s = mc.register(_shifted(ref, 8.0, 0.0))
    assert s.clipped and abs(s.dy) <= 3.0


def test_bad_reference_and_shape_raise():
    with pytest.raises(OnlineError):
        MotionCorrector((8, 8))
    mc = MotionCorrector((32, 32))
    with pytest.raises(OnlineError, match="reference"):
        mc.set_reference(np.zeros((16, 16)))
