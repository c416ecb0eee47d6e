"""Running percentile (F0): exact against numpy over sliding windows, with ties and warm-up."""
import numpy as np
import pytest

from online import OnlineError, RunningPercentile


@pytest.mark.parametrize("percentile", [10.0, 50.0, 90.0])
def test_matches_numpy_lower_percentile(percentile):
    rng = np.random.default_rng(0)
    n, window, T = 30, 50, 300
    data = rng.normal(size=(n, T)).astype(np.float32)
    data[:, 100:160] = np.round(data[:, 100:160])  # many ties
    rp = RunningPercentile(n, window, percentile)
    for t in range(T):
        got = rp.push(data[:, t]).copy()
        want = np.percentile(data[:, max(0, t - window + 1): t + 1], percentile, axis=1, method="lower")
        np.testing.assert_array_equal(got, want.astype(np.float32))


def test_reset_then_continue():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(5, 120)).astype(np.float32)
    rp = RunningPercentile(5, 40, 10)
    rp.reset(data[:, :70])
    for t in range(70, 120):
        got = rp.push(data[:, t])
        want = np.percentile(data[:, t - 39: t + 1], 10, axis=1, method="lower")
        np.testing.assert_array_equal(got, want.astype(np.float32))


def test_bad_arguments():
    with pytest.raises(OnlineError):
        RunningPercentile(3, 0, 10)
    with pytest.raises(OnlineError):
        RunningPercentile(3, 10, 10).reset(np.zeros((2, 5)))
