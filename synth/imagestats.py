"""Natural-image statistics to compare synthetic all-in-focus renders with real photographs.

Every image is first box-downscaled to a common long edge (``resize_long_edge``) so renders
and photos are measured at the same scale, then reduced to: the spectral slope (log10 radially
averaged power against log10 spatial frequency; natural photos give about -2), the
distribution of log10 gradient magnitudes, and the per-pixel HSV saturation and brightness.
Distributions are compared between groups of images with the exact 1-D Wasserstein distance
(W1) of the pooled samples; ``group_table`` gives one row per group against a reference group
(the photos). Pure numpy, plus PIL for resizing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

REC709_LUMA = np.array([0.2126, 0.7152, 0.0722])
# Spectral slope fit band, on the radius in cycles per pixel: from 4 cycles per image (long
# edge) to 0.8 x Nyquist (Nyquist = 0.5 cycles/pixel).
SLOPE_LOW_CYCLES_PER_IMAGE = 4
SLOPE_HIGH_FRACTION_OF_NYQUIST = 0.8
# |grad I| + eps before log10: one 8-bit grey level, so flat areas sit at log10(1/255) = -2.41.
GRADIENT_EPS = 1.0 / 255.0
# Fixed bin edges (log10 of |grad I| in intensity per pixel; forward differences give at most
# sqrt(2), log10 = 0.15), and for saturation / brightness in [0, 1].
GRADIENT_EDGES = np.linspace(-2.45, 0.2, 54)
SATURATION_EDGES = np.linspace(0.0, 1.0, 33)
BRIGHTNESS_EDGES = np.linspace(0.0, 1.0, 33)
MAX_SAMPLES_PER_IMAGE = 20_000


def unit_float(img: np.ndarray) -> np.ndarray:
    """Integers -> / dtype max (uint8: /255), floats taken as in [0, 1]; float64, alpha dropped."""
    img = np.asarray(img)
    if np.issubdtype(img.dtype, np.integer):
        out = img / float(np.iinfo(img.dtype).max)
    else:
        out = img.astype(np.float64)
    if out.ndim == 3:
        out = out[..., :3]
    return np.clip(out, 0.0, 1.0)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Rec.709 luma Y = 0.2126 R + 0.7152 G + 0.0722 B on the (sRGB-encoded) values, in [0, 1].

    Accepts HxW (returned as float) or HxWx3/4 (alpha ignored), uint8/uint16 or float in [0, 1].
    """
    img = unit_float(rgb)
    if img.ndim == 2:
        return img
    if img.shape[-1] == 1:
        return img[..., 0]
    return img @ REC709_LUMA


def resize_long_edge(rgb: np.ndarray, long_edge_px: int) -> np.ndarray:
    """Box (area-average) downscale so max(H, W) = ``long_edge_px``; never upscales.

    Returns float64 in [0, 1] with the input's channels (each channel resized in PIL float
    mode, so no 8-bit rounding is added); the short edge is rounded, at least 1 px.
    """
    img = unit_float(rgb)
    h, w = img.shape[:2]
    long_px = max(h, w)
    if long_px <= long_edge_px:
        return img.copy()
    scale = long_edge_px / long_px
    size_wh = (max(1, round(w * scale)), max(1, round(h * scale)))

    def one(channel: np.ndarray) -> np.ndarray:
        pil = Image.fromarray(channel.astype(np.float32))
        return np.asarray(pil.resize(size_wh, Image.BOX), dtype=np.float64)

    if img.ndim == 2:
        return one(img)
    return np.stack([one(img[..., c]) for c in range(img.shape[-1])], axis=-1)


def radial_power_spectrum(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power of the mean-subtracted, Hann-windowed image.

    P(f) = |FFT2((I - mean I) * hann_H hann_W^T)|^2, with the frequency of each coefficient
    f = sqrt(fx^2 + fy^2) in cycles/pixel (fx = k/W, fy = k/H, so non-square images work),
    averaged in bins of width 1/L cycles/pixel (integer radius in cycles per long edge L).
    Returns (bin mean frequency in cycles/pixel, bin mean power), empty bins and DC left out.
    """
    gray = np.asarray(gray, dtype=np.float64)
    h, w = gray.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2((gray - gray.mean()) * window)) ** 2
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    radius_cpp = np.hypot(fy[:, None], fx[None, :]).ravel()
    bin_index = np.rint(radius_cpp * max(h, w)).astype(np.int64)
    counts = np.bincount(bin_index)
    keep = counts > 0
    keep[0] = False
    freq_cpp = np.bincount(bin_index, radius_cpp)[keep] / counts[keep]
    mean_power = np.bincount(bin_index, power.ravel())[keep] / counts[keep]
    return freq_cpp, mean_power


def spectral_slope(gray: np.ndarray) -> float:
    """Least-squares slope of log10 P(f) against log10 f over the mid band.

    Band: 4 cycles per image (on the long edge L, f >= 4/L cycles/pixel) to 0.8 x Nyquist
    (f <= 0.4 cycles/pixel). P(f) from ``radial_power_spectrum``. Natural photos give about
    -2 (amplitude ~ 1/f), white noise 0. NaN when the band has fewer than 3 bins or no power.
    """
    h, w = np.shape(gray)
    freq_cpp, power = radial_power_spectrum(gray)
    band = (freq_cpp >= SLOPE_LOW_CYCLES_PER_IMAGE / max(h, w) - 1e-12) & (
        freq_cpp <= SLOPE_HIGH_FRACTION_OF_NYQUIST * 0.5
    )
    band &= power > 0
    if band.sum() < 3:
        return float("nan")
    slope, _ = np.polyfit(np.log10(freq_cpp[band]), np.log10(power[band]), 1)
    return float(slope)


def log_gradient_magnitudes(gray: np.ndarray, eps: float = GRADIENT_EPS) -> np.ndarray:
    """log10(|grad I| + eps) per pixel, flattened, from forward differences.

    |grad I| = sqrt((I[y, x+1] - I[y, x])^2 + (I[y+1, x] - I[y, x])^2) on the (H-1)x(W-1)
    pixels that have both neighbours; intensity in [0, 1] per pixel.
    """
    gray = np.asarray(gray, dtype=np.float64)
    dx = gray[:-1, 1:] - gray[:-1, :-1]
    dy = gray[1:, :-1] - gray[:-1, :-1]
    return np.log10(np.hypot(dx, dy) + eps).ravel()


def histogram_fractions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fraction of the values per bin (sums to 1); values outside go to the end bins."""
    values = np.clip(np.asarray(values, dtype=np.float64).ravel(), edges[0], edges[-1])
    counts, _ = np.histogram(values, bins=edges)
    return counts / max(1, counts.sum())


def wasserstein_1d(a_samples: np.ndarray, b_samples: np.ndarray) -> float:
    """Exact W1 between two empirical distributions: integral of |F_a(x) - F_b(x)| dx.

    Evaluated piecewise between the sorted pooled samples (the CDFs are constant there), in
    the samples' own units. Same result as scipy.stats.wasserstein_distance.
    """
    a = np.sort(np.asarray(a_samples, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b_samples, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        raise ValueError("wasserstein_1d needs samples on both sides")
    grid = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(a, grid[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, grid[:-1], side="right") / b.size
    return float(np.sum(np.abs(cdf_a - cdf_b) * np.diff(grid)))


def saturation_brightness(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel HSV saturation S and value V, HxW each, in [0, 1].

    V = max(R, G, B); S = (V - min(R, G, B)) / V, and 0 where V = 0. A grey (HxW) image has
    S = 0 and V = I.
    """
    img = unit_float(rgb)
    if img.ndim == 2:
        return np.zeros_like(img), img
    value = img.max(axis=-1)
    chroma = value - img.min(axis=-1)
    saturation = np.divide(chroma, value, out=np.zeros_like(value), where=value > 0)
    return saturation, value


def quantile_subsample(values: np.ndarray, max_samples: int = MAX_SAMPLES_PER_IMAGE):
    """At most ``max_samples`` values: the empirical quantiles at (i + 0.5) / k, i < k.

    Deterministic, and it keeps the distribution (what W1 and the histograms see).
    """
    values = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if values.size <= max_samples:
        return values
    idx = ((np.arange(max_samples) + 0.5) * values.size / max_samples).astype(np.int64)
    return values[idx]


def image_stats(rgb: np.ndarray, long_edge_px: int = 128) -> dict:
    """Statistics of one image after ``resize_long_edge``.

    Scalars: spectral_slope, brightness_mean (V), saturation_mean (S), size_px (H, W) after
    resizing. Arrays for pooling (each quantile-subsampled to ``MAX_SAMPLES_PER_IMAGE``):
    log_gradient (log10(|grad I| + eps)), saturation, brightness.
    """
    small = resize_long_edge(rgb, long_edge_px)
    gray = to_gray(small)
    saturation, value = saturation_brightness(small)
    return {
        "spectral_slope": spectral_slope(gray),
        "brightness_mean": float(value.mean()),
        "saturation_mean": float(saturation.mean()),
        "size_px": [int(n) for n in gray.shape],
        "log_gradient": quantile_subsample(log_gradient_magnitudes(gray)),
        "saturation": quantile_subsample(saturation),
        "brightness": quantile_subsample(value),
    }


def group_stats(images: list[np.ndarray], long_edge_px: int = 128) -> dict:
    """``image_stats`` of each image, pooled: per-image slopes and concatenated samples."""
    if not images:
        raise ValueError("a group needs at least one image")
    per_image = [image_stats(img, long_edge_px) for img in images]
    pooled = {
        key: np.concatenate([s[key] for s in per_image])
        for key in ("log_gradient", "saturation", "brightness")
    }
    return {"slopes": np.array([s["spectral_slope"] for s in per_image]), **pooled}


def rows_from_group_stats(stats: dict[str, dict], reference: str = "photos") -> list[dict]:
    """One row per group (order kept), distances to the reference group (0 on its own row).

    slope_gap_to_reference = |mean slope - reference mean slope| (min / max: the group's
    steepest and flattest image, to tell a spread group from a uniform one); the *_w1 columns are
    ``wasserstein_1d`` of the pooled samples (log10 gradient, S, V) against the reference's.
    """
    if reference not in stats:
        raise KeyError(f"reference group {reference!r} not among {list(stats)}")
    ref = stats[reference]
    ref_slope = float(np.nanmean(ref["slopes"]))
    rows = []
    for name, s in stats.items():
        slope = float(np.nanmean(s["slopes"]))
        rows.append(
            {
                "name": name,
                "images": int(s["slopes"].size),
                "spectral_slope_mean": slope,
                "spectral_slope_std": float(np.nanstd(s["slopes"])),
                "spectral_slope_min": float(np.nanmin(s["slopes"])),
                "spectral_slope_max": float(np.nanmax(s["slopes"])),
                "slope_gap_to_reference": abs(slope - ref_slope),
                "gradient_w1_to_reference": wasserstein_1d(s["log_gradient"], ref["log_gradient"]),
                "saturation_w1": wasserstein_1d(s["saturation"], ref["saturation"]),
                "brightness_w1": wasserstein_1d(s["brightness"], ref["brightness"]),
                "saturation_mean": float(s["saturation"].mean()),
                "brightness_mean": float(s["brightness"].mean()),
            }
        )
    return rows


def group_table(
    groups: dict[str, list[np.ndarray]], reference: str = "photos", long_edge_px: int = 128
) -> list[dict]:
    """``rows_from_group_stats`` of ``group_stats`` of each group of images."""
    stats = {name: group_stats(images, long_edge_px) for name, images in groups.items()}
    return rows_from_group_stats(stats, reference)
