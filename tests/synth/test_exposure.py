"""synth.exposure: the median rule, and the day cap on clipped pixels."""

import numpy as np
import pytest

from synth.exposure import exposure_ev


def _frame():
    """A shaded frame (linear 0.05) with a sunlit tenth (1.0): the median rule clips the tenth."""
    lum = np.full(1000, 0.05)
    lum[:100] = 1.0
    return lum


def test_the_median_goes_to_middle_grey():
    lum = _frame()
    assert exposure_ev(lum, night=False) == pytest.approx(np.log2(0.18 / 0.05))
    assert exposure_ev(lum, night=True) == pytest.approx(0.0)  # night: 0.05
    clipped = (lum * 2 ** exposure_ev(lum, night=False) >= 1.0).mean()
    assert clipped == pytest.approx(0.1)


def test_a_day_cap_limits_the_clipped_share_and_night_ignores_it():
    lum = _frame()
    ev = exposure_ev(lum, night=False, day_clip_percent=5.0)
    assert ev == pytest.approx(0.0)  # the 95th percentile (the sunlit tenth) just reaches white
    assert (lum * 2**ev > 1.0 + 1e-9).mean() == 0.0
    assert exposure_ev(lum, night=True, day_clip_percent=5.0) == pytest.approx(0.0)
    dim = np.full(100, 0.01)  # nothing bright: the cap does not darken a flat frame
    assert exposure_ev(dim, False, 5.0) == exposure_ev(dim, False) == pytest.approx(4.0)  # clamp


def test_ev_is_clamped():
    assert exposure_ev(np.zeros(10), night=False) == 4.0
    assert exposure_ev(np.full(10, 1e4), night=False) == -6.0
