"""Scores near depth edges, where a layered renderer errs and a generative BokehNet should not:
the edge band of a render and PSNR / SSIM over it, beside the whole frame.

The *edge band* (:func:`edge_band`) is every pixel within ``band_px`` (Euclidean, default
:data:`BAND_PX`) of a depth edge: a 4-neighbour pair whose signed CoC *diameter*
``2 · signed_coc_radius_px`` at the render's K and focus differs by more than ``jump_px``
(default :data:`EDGE_JUMP_PX`). :func:`scores` gives PSNR and SSIM over the whole frame and over
the band (band SSIM: the mean of the SSIM map over window centres in the band; the map has the
formula and window of ``train.evaluate.metrics.ssim``, which ``bench/reference_renderer.py``
checks to 1e-16). Images are float H×W×3 in [0, 1], scored as [-1, 1] (data range 2). numpy only.
"""

from __future__ import annotations

import numpy as np

BAND_PX = 3.0  # pixels within this distance of a depth edge
EDGE_JUMP_PX = 2.0  # a CoC-diameter jump between 4-neighbours larger than this is a depth edge
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5  # as train.evaluate.metrics.ssim


def depth_edges(signed_radius_px: np.ndarray, jump_px: float = EDGE_JUMP_PX) -> np.ndarray:
    """Both pixels of every 4-neighbour pair whose CoC diameter ``2 · signed_radius_px``
    differs by more than ``jump_px`` (a depth edge at this K and focus)."""
    c = 2.0 * np.asarray(signed_radius_px, dtype=np.float64)
    edge = np.zeros(c.shape, dtype=bool)
    dy = np.abs(np.diff(c, axis=0)) > jump_px
    dx = np.abs(np.diff(c, axis=1)) > jump_px
    edge[:-1] |= dy
    edge[1:] |= dy
    edge[:, :-1] |= dx
    edge[:, 1:] |= dx
    return edge


def edge_band(
    signed_radius_px: np.ndarray, jump_px: float = EDGE_JUMP_PX, band_px: float = BAND_PX
) -> np.ndarray:
    """Pixels within ``band_px`` (Euclidean) of a 4-neighbour CoC-diameter jump > ``jump_px``."""
    edge = depth_edges(signed_radius_px, jump_px)
    band = np.zeros_like(edge)
    h, w = edge.shape
    r = int(np.floor(band_px))
    for oy in range(-r, r + 1):  # a loop over the disc's offsets, not over pixels
        for ox in range(-r, r + 1):
            if oy * oy + ox * ox > band_px * band_px:
                continue
            ys, yd = slice(max(0, -oy), h - max(0, oy)), slice(max(0, oy), h - max(0, -oy))
            xs, xd = slice(max(0, -ox), w - max(0, ox)), slice(max(0, ox), w - max(0, -ox))
            band[yd, xd] |= edge[ys, xs]
    return band


def _gauss_1d(size: int, sigma: float) -> np.ndarray:
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def _valid_filter(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of H×W×C with the 1-D window ``g`` on both axes."""
    n = g.size
    h, w = x.shape[:2]
    y = sum(g[i] * x[i : h - n + 1 + i] for i in range(n))
    return sum(g[i] * y[:, i : w - n + 1 + i] for i in range(n))


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 2.0) -> np.ndarray:
    """SSIM per valid window position (mean over channels), with the formula and window of
    train.evaluate.metrics.

    Position ``[i, j]`` is the window centred on pixel ``[i + 5, j + 5]`` (11 px window).
    """
    size = min(SSIM_WINDOW, a.shape[0], a.shape[1])
    size -= 1 - size % 2
    g = _gauss_1d(size, SSIM_SIGMA * size / SSIM_WINDOW)
    mu_a, mu_b = _valid_filter(a, g), _valid_filter(b, g)
    saa = _valid_filter(a * a, g) - mu_a**2
    sbb = _valid_filter(b * b, g) - mu_b**2
    sab = _valid_filter(a * b, g) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return s.mean(axis=-1)


def psnr(a: np.ndarray, b: np.ndarray, mask=None, data_range: float = 2.0) -> float:
    d2 = ((a - b) ** 2).mean(axis=-1)
    mse = float(d2.mean() if mask is None else d2[mask].mean())
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)


def scores(pred01: np.ndarray, true01: np.ndarray, band: np.ndarray) -> dict:
    """PSNR/SSIM of two [0, 1] images mapped to [-1, 1]: whole frame and edge band."""
    a, b = pred01 * 2 - 1, true01 * 2 - 1
    smap = ssim_map(a, b)
    half = (band.shape[0] - smap.shape[0]) // 2
    band_centres = band[half : half + smap.shape[0], half : half + smap.shape[1]]
    return {
        "psnr": psnr(a, b),
        "ssim": float(smap.mean()),
        "psnr_band": psnr(a, b, band) if band.any() else float("nan"),
        "ssim_band": float(smap[band_centres].mean()) if band_centres.any() else float("nan"),
    }
