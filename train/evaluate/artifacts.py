"""Artifacts a renderer draws that neither its input nor a physical rendering has: the share of
pixels darker or brighter than every value of their neighbourhood in the envelope images.

Blur only mixes values: a pixel of a correct rendering lies within the range of values that the
all-in-focus input and a correct rendering hold around it. A generative BokehNet's correction
can leave that range (dark speckles along thin high-contrast structures at K past its training
range). :func:`artifact_share` counts, on the channel-mean luminance in [0, 1], the pixels of
``image`` below the minimum, or above the maximum, of every envelope image's
``(2·radius_px + 1)²`` neighbourhood by more than ``margin`` *and* at least ``margin / 2`` away
from the median of their own neighbourhood in ``image``: a speck, not a smooth shift (a
renderer's low-frequency error, such as a slightly brighter blurred background, is a PSNR
matter, not an artifact). Pure numpy and scipy.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter, median_filter, minimum_filter

MARGIN = 0.1  # of the [0, 1] range: well above 8-bit rounding and sampling noise
RADIUS_PX = 1


def _luma(img) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"artifact_share: images must be H×W×3 in [0, 1], got {a.shape}")
    return a.mean(axis=-1)


def outlier_mask(
    image, envelope: list, margin: float = MARGIN, radius_px: int = RADIUS_PX
) -> np.ndarray:
    """H×W bool: where ``image`` leaves the neighbourhood range of every ``envelope`` image
    (H×W×3 in [0, 1]) by more than ``margin`` as a speck (module docstring)."""
    y = _luma(image)
    size = 2 * int(radius_px) + 1
    lo = np.full(y.shape, np.inf)
    hi = np.full(y.shape, -np.inf)
    for e in envelope:
        lum = _luma(e)
        if lum.shape != y.shape:
            raise ValueError(f"artifact_share: shapes differ, {y.shape} vs {lum.shape}")
        lo = np.minimum(lo, minimum_filter(lum, size=size, mode="nearest"))
        hi = np.maximum(hi, maximum_filter(lum, size=size, mode="nearest"))
    speck = np.abs(y - median_filter(y, size=size, mode="nearest")) >= margin / 2
    return ((y < lo - margin) | (y > hi + margin)) & speck


def artifact_share(image, envelope: list, margin: float = MARGIN) -> float:
    """The fraction of pixels of ``image`` outside the envelope (:func:`outlier_mask`)."""
    return float(outlier_mask(image, envelope, margin).mean())
