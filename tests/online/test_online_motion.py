"""Motion correction: subpixel accuracy on exact Fourier shifts, reference building, max-shift guard."""
import numpy as np
import pytest
from scipy import ndimage

from online import MotionCorrector, OnlineError
from online.motion import auto_downsample


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


# ---------------------------------------------------------------------------------------------- fast paths
def _plain_phase_correlation(mc, ref, frame):
    """The method written out plainly: full rfft2, full coarse grid by irfft2, masked argmax, Gaussian fits.

    The corrector computes the band with OpenCV's packed DFT and only the coarse samples near zero shift; at full
    resolution it must give the same shift to float32 precision."""
    band = mc._band
    taper = mc._taper

    def whitened(img):
        spec = np.fft.rfft2(((img - img.mean()) * taper).astype(np.float64))[band.rows, : band.kx + 1]
        return spec / (np.abs(spec) + 1e-12)

    cross = whitened(frame) * np.conj(whitened(ref)) * band.gauss
    my, mx = band.coarse
    padded = np.zeros((my, mx // 2 + 1), complex)
    padded[: band.ky + 1, : band.kx + 1] = cross[: band.ky + 1]
    padded[my - band.ky:, : band.kx + 1] = cross[band.ky + 1:]
    corr = np.fft.irfft2(padded, s=(my, mx))
    oy = np.fft.fftfreq(my, 1.0 / my) * band.step[0]
    ox = np.fft.fftfreq(mx, 1.0 / mx) * band.step[1]
    lim = mc.max_shift_px + 0.5 * max(band.step)
    ok = (np.abs(oy)[:, None] <= lim) & (np.abs(ox)[None, :] <= lim)
    iy, ix = np.unravel_index(np.argmax(np.where(ok, corr, -np.inf)), corr.shape)

    def vertex(a, b, c):
        la, lb, lc = np.log(a), np.log(b), np.log(c)
        return 0.5 * (la - lc) / (la - 2 * lb + lc)

    fy = vertex(corr[iy - 1, ix], corr[iy, ix], corr[(iy + 1) % my, ix])
    fx = vertex(corr[iy, ix - 1], corr[iy, ix], corr[iy, (ix + 1) % mx])
    dy = ((iy if iy <= my // 2 else iy - my) + fy) * band.step[0]
    dx = ((ix if ix <= mx // 2 else ix - mx) + fx) * band.step[1]
    return dy, dx


@pytest.mark.parametrize("shape, max_shift", [((96, 96), 30.0), ((97, 131), 6.0), ((40, 33), 30.0)])
def test_fast_estimate_equals_plain_phase_correlation(shape, max_shift):
    rng = np.random.default_rng(7)
    ref = _scene(5, shape)
    mc = MotionCorrector(shape, reference_frames=1, max_shift_px=max_shift, downsample=1)
    mc.set_reference(ref)
    for dy, dx in rng.uniform(-4, 4, (6, 2)):
        frame = _shifted(ref, dy, dx) + rng.normal(0, 8, shape).astype(np.float32)
        s = mc.estimate_shift(frame)
        py, px = _plain_phase_correlation(mc, ref, frame)
        assert abs(s.dy - py) < 1e-3 and abs(s.dx - px) < 1e-3


def _bilinear(img, dy, dx):
    """frame(y + dy, x + dx) with edge-clamped indices, float64."""
    rows, cols = img.shape
    y = np.arange(rows)[:, None] + dy
    x = np.arange(cols)[None, :] + dx
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    def at(yy, xx):
        return img[np.clip(yy, 0, rows - 1).astype(int), np.clip(xx, 0, cols - 1).astype(int)].astype(np.float64)
    return ((1 - fy) * (1 - fx) * at(y0, x0) + (1 - fy) * fx * at(y0, x0 + 1)
            + fy * (1 - fx) * at(y0 + 1, x0) + fy * fx * at(y0 + 1, x0 + 1))


def test_apply_shift_is_bilinear_with_replicated_edges():
    rng = np.random.default_rng(11)
    img = (rng.random((37, 52)) * 1000).astype(np.float32)   # rough: every border mistake shows
    mc = MotionCorrector(img.shape)
    shifts = [(0.0, 0.0), (0.4, -0.6), (-0.25, 0.75), (1.0, -1.0), (-3.5, 2.25), (12.3, -20.7),
              (-36.0, 51.0), (80.0, -90.5)] + [tuple(s) for s in rng.uniform(-6, 6, (20, 2))]
    for dy, dx in shifts:
        out = mc.apply_shift(img, dy, dx)
        assert out.shape == img.shape and out.dtype == np.float32 and out.flags.c_contiguous
        np.testing.assert_allclose(out, _bilinear(img, dy, dx), rtol=0, atol=1e-3, err_msg=f"{dy}, {dx}")
    with pytest.raises(OnlineError, match="finite"):
        mc.apply_shift(img, float("nan"), 0.0)


def _cells_scene(seed, shape):
    """Sharp-edged bright disks on a smooth background: fine structure that aliases when halved carelessly."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = ndimage.gaussian_filter(rng.random(shape), 8) * 300 + 100
    for cy, cx in rng.uniform(8, min(shape) - 8, (150, 2)):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 12.0] += 400
    return img.astype(np.float32)


def test_half_resolution_estimate_is_subpixel_accurate():
    ref = _cells_scene(3, (256, 256))
    rng = np.random.default_rng(4)
    half = MotionCorrector(ref.shape, reference_frames=1)
    full = MotionCorrector(ref.shape, reference_frames=1, downsample=1)
    assert half.downsample == 2
    for mc in (half, full):
        mc.set_reference(ref)
    err = {id(half): [], id(full): []}
    for dy, dx in rng.uniform(-5, 5, (12, 2)):
        frame = _shifted(ref, dy, dx) + rng.normal(0, 20, ref.shape).astype(np.float32)
        for mc in (half, full):
            s = mc.estimate_shift(frame)
            err[id(mc)].append((s.dy - dy, s.dx - dx))
    rms_half = np.sqrt(np.mean(np.square(err[id(half)])))
    rms_full = np.sqrt(np.mean(np.square(err[id(full)])))
    assert rms_half < 0.05 and rms_full < 0.05
    assert rms_half < 2 * rms_full + 0.01


def test_half_resolution_only_where_the_band_fits():
    assert auto_downsample((512, 512), 1.5) == 2
    assert auto_downsample((128, 128), 1.5) == 1       # small frames: full resolution
    assert auto_downsample((512, 512), 1.0) == 1       # little smoothing: the band reaches past a quarter cycle
    assert MotionCorrector((96, 96)).downsample == 1
    with pytest.raises(OnlineError, match="downsample"):
        MotionCorrector((256, 256), downsample=3)


def test_the_config_chooses_the_registration_resolution():
    from online import OnlineConfig
    from online.motion import MotionCorrector

    assert MotionCorrector.from_config((512, 512), OnlineConfig()).downsample == 2          # auto: half
    assert MotionCorrector.from_config((512, 512), OnlineConfig(registration_downsample=1)).downsample == 1
    assert MotionCorrector.from_config((128, 128), OnlineConfig()).downsample == 1          # auto: full
    with pytest.raises(Exception, match="registration_downsample"):
        OnlineConfig(registration_downsample=3)
