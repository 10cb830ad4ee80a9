"""Clipped highlights brightened before a blur: what an 8-bit all-in-focus image lost above white.

An 8-bit image stores a light source as white however bright it was, so a renderer that blurs it
spreads 1.0 over the disc and the disc comes out dim. :func:`boost_highlights` scales the pixels
near white up again, in linear light (synth's 2.5-D route, ``photos.highlight_gain``). numpy only.
"""

from __future__ import annotations

import numpy as np


def boost_highlights(linear, threshold: float, gain: float) -> np.ndarray:
    """Brighten the clipped highlights of a linear-light image before it is blurred.

    An 8-bit all-in-focus image stores a light source as white (1.0), however bright it was, so
    its bokeh disc comes out dim. Each pixel whose brightest channel ``m`` exceeds ``threshold``
    is scaled by ``1 + (gain − 1) · t`` with ``t = clip((m − threshold) / (1 − threshold), 0, 1)``
    (a pure white pixel by ``gain``; below the threshold nothing changes). ``gain = 1`` is the
    identity. H×W×C float in [0, 1] (linear light) in, float64 out, possibly above 1."""
    x = np.asarray(linear, dtype=np.float64)
    if not 0.0 <= threshold < 1.0 or gain < 1.0:
        raise ValueError(
            f"boost_highlights: threshold must be in [0, 1) and gain >= 1, got {threshold}, {gain}"
        )
    if gain == 1.0:
        return x
    t = np.clip((x.max(axis=-1, keepdims=True) - threshold) / (1.0 - threshold), 0.0, 1.0)
    return x * (1.0 + (gain - 1.0) * t)
