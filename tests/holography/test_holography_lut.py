"""Phase → device levels through a Meadowlark-style LUT file, with wrapping."""
import numpy as np
import pytest

import holography


def test_lut_file_round_trip_and_wrapping(tmp_path):
    rng = np.random.default_rng(0)
    levels = np.sort(rng.choice(np.arange(2048), 256, replace=False))  # a nonlinear 16-bit-range response
    path = tmp_path / "slm1234_at1040.lut"
    path.write_text("# measured LUT\n" + "".join(f"{i} {v}\n" for i, v in enumerate(levels)))
    lut = holography.load_lut(path, bit_depth=16)
    np.testing.assert_array_equal(lut.levels, levels)
    phase = rng.uniform(-4 * np.pi, 4 * np.pi, (64, 96)).astype(np.float32)
    out = lut.phase_to_levels(phase)
    assert out.dtype == np.uint16 and out.shape == phase.shape
    back = lut.levels_to_phase(out)
    err = np.angle(np.exp(1j * (back.astype(np.float64) - phase)))
    assert np.abs(err).max() <= np.pi / 256 + 1e-5  # half a phase step
    # Wrapping: 2π − ε and −ε are step 0, π is the middle step.
    steps = lut.phase_to_levels(np.array([2 * np.pi - 1e-4, -1e-4, np.pi, 2 * np.pi * 10 / 256]))
    np.testing.assert_array_equal(steps, levels[[0, 0, 128, 10]])
    again = holography.load_lut(lut.save(tmp_path / "copy.lut"), bit_depth=16)
    np.testing.assert_array_equal(again.levels, lut.levels)


def test_linear_8bit_lut():
    lut = holography.PhaseLUT.linear(8)
    out = lut.phase_to_levels(np.array([0.0, np.pi, 2 * np.pi * 255 / 256]))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [0, 128, 255])


@pytest.mark.parametrize("n_steps", [256, 200, 7])
def test_steps_are_nearest_wrapped_phase_step_for_any_step_count(n_steps):
    # the power-of-two shortcut and the general remainder agree with the definition: round(φ·N/2π) mod N
    lut = holography.PhaseLUT(np.arange(n_steps), 16)
    phase = np.random.default_rng(n_steps).uniform(-20 * np.pi, 20 * np.pi, 5000).astype(np.float32)
    expected = np.mod(np.floor(phase.astype(np.float64) * n_steps / (2 * np.pi) + 0.5), n_steps)
    got = lut.phase_to_levels(phase).astype(np.int64)
    near_half = np.abs(np.mod(phase.astype(np.float64) * n_steps / (2 * np.pi), 1.0) - 0.5) < 1e-3
    np.testing.assert_array_equal(got[~near_half], expected[~near_half])   # float32 rounding only at ties


def test_bad_lut_files(tmp_path):
    with pytest.raises(holography.HologramError, match="does not exist"):
        holography.load_lut(tmp_path / "none.lut")
    gap = tmp_path / "gap.lut"
    gap.write_text("0 0\n2 10\n")
    with pytest.raises(holography.HologramError, match="step indices"):
        holography.load_lut(gap)
    big = tmp_path / "big.lut"
    big.write_text("0 0\n1 300\n")
    with pytest.raises(holography.HologramError, match="outside 0–255"):
        holography.load_lut(big, bit_depth=8)
    junk = tmp_path / "junk.lut"
    junk.write_text("0 0\nsome words\n")
    with pytest.raises(holography.HologramError, match="junk.lut:2"):
        holography.load_lut(junk)
