"""The artifact measure on constructed images: blur and the envelope images themselves score 0,
drawn speckles score their share, and the margin forgives rounding noise."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from train.evaluate.artifacts import MARGIN, artifact_share, outlier_mask


def _scene(seed=0, h=64, w=64):
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 0.5)
    img[:, ::8] = 0.95  # thin bright lines: high-contrast structure
    return np.clip(img + rng.normal(0, 0.01, img.shape), 0, 1)


def test_the_envelope_and_any_blur_of_it_have_no_artifacts():
    aif = _scene()
    blurred = uniform_filter(aif, size=(7, 7, 1), mode="nearest")
    assert artifact_share(aif, [aif]) == 0.0
    assert artifact_share(blurred, [aif, blurred]) == 0.0
    # blur mixes values from farther than the 3x3 window: against the AIF alone pixels beside a
    # line leave its range, but smoothly (no speck), so they are not counted either
    assert outlier_mask(blurred, [aif]).sum() == 0


def test_dark_speckles_along_lines_are_counted_exactly():
    aif = _scene()
    ref = uniform_filter(aif, size=(5, 5, 1), mode="nearest")
    out = ref.copy()
    ys, xs = np.arange(4, 60, 4), np.full(14, 9)
    out[ys, xs] = 0.05  # dark speckles beside a bright line: darker than anything around
    share = artifact_share(out, [aif, ref])
    assert share == pytest.approx(14 / 64**2)
    mask = outlier_mask(out, [aif, ref])
    assert mask[ys, xs].all() and mask.sum() == 14


def test_the_margin_forgives_noise_and_rounding():
    aif = _scene()
    ref = uniform_filter(aif, size=(5, 5, 1), mode="nearest")
    noisy = np.clip(ref + np.random.default_rng(1).normal(0, 0.02, ref.shape), 0, 1)
    assert artifact_share(np.round(noisy * 255) / 255, [aif, ref]) == 0.0
    flat = np.full((16, 16, 3), 0.4)
    assert artifact_share(flat + MARGIN + 0.01, [flat]) == 0.0  # a smooth shift: no speck
    speck = flat.copy()
    speck[8, 8] = 0.4 + MARGIN + 0.01
    assert artifact_share(speck, [flat]) == 1 / 256
    speck[8, 8] = 0.4 + MARGIN - 0.01  # within the margin
    assert artifact_share(speck, [flat]) == 0.0


def test_bad_shapes_are_one_line():
    with pytest.raises(ValueError, match="shapes differ"):
        artifact_share(np.zeros((8, 8, 3)), [np.zeros((8, 9, 3))])
    with pytest.raises(ValueError, match=r"H×W×3 in \[0, 1\], got \(8, 8\)"):
        artifact_share(np.zeros((8, 8)), [np.zeros((8, 8, 3))])
