"""Image metrics without a model: PSNR, SSIM, Laplacian variance, Pearson, LVCorr.

Images are torch tensors in [-1, 1], ``[C, H, W]`` or ``[B, C, H, W]``.

* ``psnr = 10 · log10(R² / MSE)`` per image (``R = data_range = 2`` for [-1, 1]), then the mean
  over the batch; identical images give ``inf``.
* ``ssim``: Wang et al. 2004 with an 11×11 Gaussian window (σ = 1.5; smaller for images under 11
  px), ``C1 = (0.01 R)²``, ``C2 = (0.03 R)²``, valid positions only, per channel, mean per image,
  then the mean over the batch.
* ``laplacian_variance``: variance of the 3×3 Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]`` of the
  channel-mean luminance, valid positions only.
* ``lvcorr(k, images) = −pearson(k, laplacian_variance(images))``: more blur (larger K) must mean
  less high-frequency energy, so a controllable BokehNet has a strongly *negative* Pearson
  correlation; the sign is flipped so that higher is better, as the paper reports it (1 = perfect).
  Pearson, not Spearman, is the paper's "correlation".
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

LAPLACIAN_3X3 = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def _batch(x) -> torch.Tensor:
    t = torch.as_tensor(x).detach().to(torch.float64)
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[None]
    if t.ndim != 4:
        raise ValueError(f"expected [C,H,W] or [B,C,H,W] images, got shape {tuple(t.shape)}")
    return t.cpu()


def unit_hwc(img) -> np.ndarray:
    """A [1, 3, H, W] (or [3, H, W]) image in [-1, 1] as H×W×3 float64 in [0, 1]."""
    t = torch.as_tensor(img).detach().double()
    t = t[0] if t.ndim == 4 else t
    return ((t.permute(1, 2, 0).numpy() + 1.0) / 2.0).clip(0.0, 1.0)


def eight_bit(img: torch.Tensor) -> torch.Tensor:
    """An image in [-1, 1] as it reads back from an 8-bit file (the truth's and a predictions
    folder's precision): the Laplacian variance of a strongly blurred background sits at the
    quantisation floor, so a float output compared with 8-bit truth would not be like for like."""
    return torch.round((img.clamp(-1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0


def finite_mean(values) -> float:
    """The mean of the finite values (NaN when there are none): a scene or image a measure could
    not score is left out, not averaged in."""
    finite = [float(v) for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def psnr_per_image(a, b, data_range: float = 2.0) -> torch.Tensor:
    """PSNR in dB for each image of the batch (``inf`` where identical)."""
    x, y = _batch(a), _batch(b)
    if x.shape != y.shape:
        raise ValueError(f"psnr: shapes differ, {tuple(x.shape)} vs {tuple(y.shape)}")
    mse = ((x - y) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(data_range**2 / mse)


def psnr(a, b, data_range: float = 2.0) -> float:
    """Mean over images of ``10 · log10(data_range² / MSE)`` (dB)."""
    return float(psnr_per_image(a, b, data_range).mean())


def _gaussian_1d(size: int, sigma: float) -> torch.Tensor:
    """The normalised 1-D Gaussian whose outer product is the SSIM window."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_per_image(a, b, data_range: float = 2.0, window_px: int = 11, sigma: float = 1.5):
    """SSIM of each image of the batch (mean over channels and valid window positions). The
    Gaussian window is applied as two 1-D passes over the five local moments at once (the 2-D
    window is their outer product: the same sums, ~10x faster at 128 px)."""
    x, y = _batch(a), _batch(b)
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes differ, {tuple(x.shape)} vs {tuple(y.shape)}")
    c = x.shape[1]
    size = min(window_px, x.shape[-1], x.shape[-2])
    if size % 2 == 0:
        size -= 1
    g = _gaussian_1d(size, sigma * size / window_px)
    z = torch.cat([x, y, x * x, y * y, x * y], 1)
    n = z.shape[1]
    z = F.conv2d(z, g.view(1, 1, size, 1).expand(n, 1, size, 1), groups=n)
    z = F.conv2d(z, g.view(1, 1, 1, size).expand(n, 1, 1, size), groups=n)
    mu_x, mu_y, exx, eyy, exy = z.split(c, 1)
    sxx = exx - mu_x**2
    syy = eyy - mu_y**2
    sxy = exy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


def ssim(a, b, data_range: float = 2.0) -> float:
    """Mean over images of the Gaussian-window SSIM (see the module docstring)."""
    return float(ssim_per_image(a, b, data_range).mean())


def laplacian_variance(img):
    """Variance of the Laplacian of the channel mean: a float for one image, [B] for a batch."""
    single = torch.as_tensor(img).ndim <= 3
    x = _batch(img).mean(1, keepdim=True)
    k = torch.tensor(LAPLACIAN_3X3, dtype=torch.float64)[None, None]
    lap = F.conv2d(x, k).flatten(1)
    v = lap.var(1, unbiased=False)
    return float(v[0]) if single else v


def pearson(x, y) -> float:
    """Pearson correlation of two 1-D sequences (nan when either is constant)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.size != b.size or a.size < 2:
        raise ValueError(
            f"pearson needs two sequences of equal length >= 2, got {a.size}, {b.size}"
        )
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def ranks(x) -> np.ndarray:
    """The ranks of a 1-D sequence from 0, ties sharing their mean rank (Spearman's)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(a, kind="stable")
    r = np.empty(a.size)
    r[order] = np.arange(a.size, dtype=np.float64)
    for v in np.unique(a):  # average ranks for ties
        r[a == v] = r[a == v].mean()
    return r


def lvcorr(k_values, images, method: str = "pearson") -> float:
    """``−corr(K, laplacian_variance(output))`` over a K sweep of one scene (higher = better).

    ``images``: a [N, C, H, W] tensor or a sequence of N images ([C, H, W] or [1, C, H, W]), the
    outputs for ``k_values[i]``. Average it over scenes for a dataset score. ``method="pearson"``
    (default, the paper's reading) penalises the convex decay of LV with blur: Gaussian blurs
    with σ ∝ K from 0.5 to 2 px score about 0.67 although perfectly monotone;
    ``method="spearman"`` (rank correlation) scores any monotone control 1.
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"lvcorr method must be 'pearson' or 'spearman', got {method!r}")
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        lv = laplacian_variance(images).numpy()
    else:
        lv = np.array([float(np.asarray(laplacian_variance(_batch(im)[0]))) for im in images])
    if method == "spearman":
        return -pearson(ranks(k_values), ranks(lv))
    return -pearson(k_values, lv)


def band_sharpness(image, reference, bands, n_bands: int) -> np.ndarray:
    """Per depth band, the Laplacian energy of ``image`` relative to ``reference`` (the
    all-in-focus image): ``mean(lap(image)²) / mean(lap(reference)²)`` over the band's pixels
    whose 3×3 neighbourhood lies inside the band (band edges are depth edges). The ratio removes
    the band's own texture: 1 = as sharp as the reference, → 0 = blurred away. ``bands`` is an
    H×W integer array in ``[0, n_bands)``; a band with no interior pixels or no texture is nan.
    """
    x, ref = _batch(image), _batch(reference)
    if x.shape != ref.shape or tuple(x.shape[-2:]) != tuple(np.shape(bands)):
        raise ValueError(
            f"band_sharpness: shapes differ, {tuple(x.shape)}, {tuple(ref.shape)}, "
            f"bands {np.shape(bands)}"
        )
    k = torch.tensor(LAPLACIAN_3X3, dtype=torch.float64)[None, None]
    lap_x = F.conv2d(x.mean(1, keepdim=True), k)[0, 0].numpy() ** 2
    lap_r = F.conv2d(ref.mean(1, keepdim=True), k)[0, 0].numpy() ** 2
    b = np.asarray(bands)
    out = np.full(n_bands, np.nan)
    for i in range(n_bands):
        inside = torch.from_numpy((b == i).astype(np.float64))[None, None]
        interior = (F.conv2d(inside, torch.ones(1, 1, 3, 3, dtype=torch.float64)) == 9)[0, 0]
        m = interior.numpy()
        if m.sum() >= 4 and lap_r[m].mean() > 1e-12:
            out[i] = lap_x[m].mean() / lap_r[m].mean()
    return out


def depth_bands(disparity, n_bands: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(bands, centres)``: each pixel's band index in ``[0, n_bands)`` for bands of equal
    width in disparity between the 2nd and 98th percentile (the outliers join the end bands),
    and the bands' centre disparities (band 0 is the farthest)."""
    d = np.asarray(disparity, dtype=np.float64)
    lo, hi = np.percentile(d, [2, 98])
    edges = np.linspace(lo, hi, n_bands + 1)
    bands = np.clip(np.searchsorted(edges[1:-1], d, side="right"), 0, n_bands - 1)
    return bands, 0.5 * (edges[:-1] + edges[1:])


def band_medians(disparity, n_bands: int = 4) -> np.ndarray:
    """The median disparity of each :func:`depth_bands` band's pixels (nan for an empty band):
    where a band's content is. A band's nominal centre can lie in an empty disparity range (a
    far band holding only a backdrop at its far edge), and focusing there leaves the band's
    content blurred; the median is in focus for at least half of it."""
    d = np.asarray(disparity, dtype=np.float64)
    bands, _ = depth_bands(d, n_bands)
    return np.array(
        [float(np.median(d[bands == i])) if (bands == i).any() else np.nan for i in range(n_bands)]
    )


def focus_follows(image, reference, disparity, disp_focus: float, n_bands: int = 4) -> bool:
    """Whether the depth band holding ``disp_focus`` is the sharpest band of ``image`` (relative
    to the all-in-focus ``reference``, :func:`band_sharpness`), by more than 1% over every other
    band that holds at least 2% of the pixels (:func:`depth_bands`)."""
    bands, centres = depth_bands(disparity, n_bands)
    edges = 0.5 * (centres[:-1] + centres[1:])
    target = int(np.clip(np.searchsorted(edges, disp_focus, side="right"), 0, n_bands - 1))
    s = band_sharpness(image, reference, bands, n_bands)
    share = np.bincount(bands.ravel(), minlength=n_bands) / bands.size
    others = [s[i] for i in range(n_bands) if i != target and share[i] >= 0.02]
    others = [v for v in others if np.isfinite(v)]
    # strictly the sharpest (by 1%): an image blurred nowhere, or everywhere alike, does not follow
    return bool(np.isfinite(s[target]) and others and s[target] > 1.01 * max(others))
