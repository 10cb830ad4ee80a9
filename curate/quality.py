"""Weight-free quality signals, so a useful ranking exists even without CLIP weights.

On the luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (0..255) of the analysis-size image:

- ``exposure_clipping``: fraction of pixels with ``Y <= 2`` or ``Y >= 253``;
- ``sharpness``: the Laplacian variance of the sharpest of ``grid x grid`` regions, with the
  4-neighbour Laplacian ``L = Y[i-1,j] + Y[i+1,j] + Y[i,j-1] + Y[i,j+1] - 4 Y[i,j]``;
- ``bokeh_evidence = log10((v_max + 1) / (median of the other regions' v + 1))``: how strongly
  the sharpest region stands out from the rest (0 for a uniformly sharp or blurred frame,
  ~1-3 for a sharp subject before a blurred background);
- ``quality_score = log10(1 + sharpness) + bokeh_evidence - 2 · exposure_clipping``: the
  weight-free ranking used by dedup when CLIP scores are absent.

Pure numpy.
"""

from __future__ import annotations

import math

import numpy as np


def luma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def laplacian(y: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian on the interior (shape (H-2, W-2))."""
    return y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4.0 * y[1:-1, 1:-1]


def region_laplacian_variance(y: np.ndarray, grid: int) -> np.ndarray:
    """Laplacian variance per region of a ``grid x grid`` split, shape (grid, grid)."""
    lap = laplacian(y)
    h, w = lap.shape
    grid = max(1, min(grid, h, w))
    rows = np.linspace(0, h, grid + 1).astype(int)
    cols = np.linspace(0, w, grid + 1).astype(int)
    out = np.empty((grid, grid), dtype=np.float64)
    for i in range(grid):
        for j in range(grid):
            out[i, j] = float(lap[rows[i] : rows[i + 1], cols[j] : cols[j + 1]].var())
    return out


def exposure_clipping(y: np.ndarray) -> float:
    return float(((y <= 2.0) | (y >= 253.0)).mean())


def quality_signals(rgb: np.ndarray, grid: int = 4) -> dict:
    """``sharpness``, ``bokeh_evidence``, ``exposure_clipping``, ``quality_score`` (see doc)."""
    y = luma(rgb)
    if min(y.shape) < 3:
        return {
            "sharpness": 0.0,
            "bokeh_evidence": 0.0,
            "exposure_clipping": exposure_clipping(y),
            "quality_score": 0.0,
        }
    v = region_laplacian_variance(y, grid).ravel()
    k = int(np.argmax(v))
    v_max = float(v[k])
    rest = np.delete(v, k)
    evidence = math.log10((v_max + 1.0) / (float(np.median(rest)) + 1.0)) if rest.size else 0.0
    clipping = exposure_clipping(y)
    return {
        "sharpness": v_max,
        "bokeh_evidence": evidence,
        "exposure_clipping": clipping,
        "quality_score": math.log10(1.0 + v_max) + evidence - 2.0 * clipping,
    }
