"""Controllability on a real aperture sweep (RealBokeh), where the real photos are the truth.

``train.evaluate.control`` scores a sweep over three regions that the scene's depth fixes; a real
sweep has no depth, so the regions come from the truth itself (:func:`sweep_regions`): the
local Laplacian energy of each pixel (the mean of the squared 3×3 Laplacian of the channel mean
over a box of side ``2r + 1``, ``r`` = the short side / 64, at least 2 px) in the real sweep's
sharpest frame (``K_0``, the f/22 photo) and in its most blurred one (``K_n``). Among the
textured pixels (energy at ``K_0`` at least :data:`TEXTURE_FRACTION` of its frame mean; flat
areas change nothing either way), ``background`` is where the energy at ``K_n`` fell to at most
:data:`BLURRED_MAX` of it, ``in_focus`` where it kept at least :data:`KEPT_MIN`; ``whole`` is
every pixel. LV per region is ``control.region_lv`` (interior pixels only, fewer than 64 of them:
NaN, left out) on frames taken at 8-bit precision (``metrics.eight_bit``'s rule), and the
measures are ``control.score_sweep`` against the real sweep at the same relative K
(``N_source / N``): the real sweep's own row is its Spearman forms (correlation 1 with itself),
"return the input" scores 0 on the correlation forms. No highlight zone is left out (it needs
depth to bound the discs): clipped highlights count as the rest of the frame does.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

from train.evaluate.control import MIN_FRAMES, REGIONS, region_lv, score_sweep

TEXTURE_FRACTION = 0.1  # of the frame's mean local energy at K_0: below it a pixel is flat
BLURRED_MAX = 0.25  # background: at most this share of its local energy left at K_n
KEPT_MIN = 0.75  # in focus: at least this share kept at K_n
MIN_RADIUS_PX = 2


def eight_bit01(frame: np.ndarray) -> np.ndarray:
    """An H×W×3 frame in [0, 1] as an 8-bit file holds it (float64)."""
    return np.round(np.clip(np.asarray(frame, np.float64), 0.0, 1.0) * 255.0) / 255.0


def local_energy(frame: np.ndarray) -> np.ndarray:
    """H×W: the box mean of the squared 3×3 Laplacian of the channel mean (0 at the border)."""
    g = np.asarray(frame, np.float64).mean(axis=-1)
    lap = np.zeros_like(g)
    lap[1:-1, 1:-1] = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    r = max(MIN_RADIUS_PX, round(min(g.shape) / 64))
    return uniform_filter(lap * lap, size=2 * r + 1, mode="nearest")


def sweep_regions(first: np.ndarray, last: np.ndarray) -> dict[str, np.ndarray]:
    """The ``whole``, ``background`` and ``in_focus`` masks (H×W bool) of a real sweep from its
    sharpest (``first``) and most blurred (``last``) frames, H×W×3 in [0, 1]."""
    e0, en = local_energy(first), local_energy(last)
    textured = e0 >= TEXTURE_FRACTION * max(float(e0.mean()), 1e-30)
    inner = np.zeros(e0.shape, dtype=bool)
    inner[1:-1, 1:-1] = True  # the Laplacian is not defined on the border
    return {
        "whole": np.ones(e0.shape, dtype=bool),
        "background": textured & inner & (en <= BLURRED_MAX * e0),
        "in_focus": textured & inner & (en >= KEPT_MIN * e0),
    }


def frame_lv(frame: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """LV of one frame (8-bit precision) in each region."""
    f = eight_bit01(frame)
    return {name: region_lv(f, masks[name]) for name in REGIONS}


class SweepLV:
    """The LV sequences of the methods of one scene, built frame by frame (the frames of a large
    sweep need not be held at once)."""

    def __init__(self, masks: dict[str, np.ndarray]):
        self.masks = masks
        self.lv: dict[str, list[dict[str, float]]] = {}

    def add(self, method: str, frame: np.ndarray) -> None:
        self.lv.setdefault(method, []).append(frame_lv(frame, self.masks))

    def scores(self, k_values, truth: str) -> dict:
        """``{method: control.SweepScores}`` against ``truth``'s sequence; empty when the sweep
        is shorter than ``control.MIN_FRAMES``."""
        if len(k_values) < MIN_FRAMES:
            return {}
        seq = {
            m: {r: np.array([f[r] for f in frames]) for r in REGIONS}
            for m, frames in self.lv.items()
        }
        return {
            m: score_sweep(k_values, lv, None if m == truth else seq[truth])
            for m, lv in seq.items()
        }
