"""The worker's per-body windows: percentiles over recent samples, as numpy computes them."""

import numpy as np
import pytest

from agent.metrics import Window


@pytest.mark.parametrize("count", [1, 2, 7, 100, 250])
@pytest.mark.parametrize("q", [0, 50, 95, 100])
def test_window_percentiles_match_numpys_over_the_kept_samples(count, q):
    rng = np.random.default_rng(count)
    values = rng.exponential(0.02, count).tolist()
    window = Window(size=200)
    for value in values:
        window.add(value)
    assert window.percentile(q) == pytest.approx(np.percentile(values[-200:], q))


def test_an_empty_window_has_no_percentile():
    assert Window().percentile(50) is None
