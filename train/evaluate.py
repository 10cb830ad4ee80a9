"""Evaluation metrics and plots (no models): PSNR, SSIM, Laplacian variance, LVCorr, PNGs, files.

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

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from manifests.io import atomic_write

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


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim_per_image(a, b, data_range: float = 2.0, window_px: int = 11, sigma: float = 1.5):
    """SSIM of each image of the batch (mean over channels and valid window positions)."""
    x, y = _batch(a), _batch(b)
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes differ, {tuple(x.shape)} vs {tuple(y.shape)}")
    c = x.shape[1]
    size = min(window_px, x.shape[-1], x.shape[-2])
    if size % 2 == 0:
        size -= 1
    w = _gaussian_window(size, sigma * size / window_px).expand(c, 1, size, size)

    def filt(z):
        return F.conv2d(z, w, groups=c)

    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x**2
    syy = filt(y * y) - mu_y**2
    sxy = filt(x * y) - mu_x * mu_y
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


def _ranks(x) -> np.ndarray:
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
        return -pearson(_ranks(k_values), _ranks(lv))
    return -pearson(k_values, lv)


def to_uint8(img) -> np.ndarray:
    """[C, H, W] in [-1, 1] (C = 1 or 3) -> uint8 H×W×3 (``round((x + 1) · 127.5)``)."""
    t = torch.as_tensor(img).detach().float().cpu()
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim == 2:
        t = t[None]
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    a = ((t.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return a.permute(1, 2, 0).numpy()


def write_sample_grid(
    rows_of_tensors: Sequence[Sequence], labels: Sequence[str] | None, path_png: str
) -> str:
    """A PNG grid: one row per sample, one column per image ([C, H, W] in [-1, 1]; a defocus
    map in [0, 1] should be passed as ``2·D − 1``), with ``labels`` (one per column) on top.

    Tiles are placed at ``(x, y) = (2 + col · (W + 2), header + 2 + row · (H + 2))`` with the
    header ``14`` px tall when labels are given, else 0; tiles of a grid must share one size.
    """
    from PIL import Image, ImageDraw

    tiles = [[to_uint8(t) for t in row] for row in rows_of_tensors]
    if not tiles or not tiles[0]:
        raise ValueError(f"{path_png}: no images for the sample grid")
    h, w = tiles[0][0].shape[:2]
    n_cols = max(len(r) for r in tiles)
    if any(t.shape[:2] != (h, w) for r in tiles for t in r):
        raise ValueError(f"{path_png}: all grid images must be {h}×{w}")
    if labels is not None and len(labels) != n_cols:
        raise ValueError(f"{path_png}: {len(labels)} labels for {n_cols} columns")
    header = 14 if labels else 0
    pad = 2
    canvas = Image.new(
        "RGB", (pad + n_cols * (w + pad), header + pad + len(tiles) * (h + pad)), (255, 255, 255)
    )
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            canvas.paste(Image.fromarray(tile), (pad + c * (w + pad), header + pad + r * (h + pad)))
    if labels:
        draw = ImageDraw.Draw(canvas)
        for c, label in enumerate(labels):
            draw.text((pad + c * (w + pad), 1), str(label)[: max(1, w // 6)], fill=(0, 0, 0))
    atomic_write(path_png, lambda p: canvas.save(p, format="PNG"))
    return path_png


def write_loss_curve(steps, losses, path_png: str, title: str = "training loss") -> str:
    """Loss against step (log y when all losses are positive) with a moving average, as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    s = np.asarray(steps, dtype=np.float64)
    v = np.asarray(losses, dtype=np.float64)
    if s.shape != v.shape or s.ndim != 1 or s.size == 0:
        raise ValueError(
            f"{path_png}: need equal-length 1-D steps and losses, got {s.shape}, {v.shape}"
        )
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(s, v, lw=0.8, alpha=0.5, label="loss")
    win = max(1, s.size // 20)
    if win > 1:
        ma = np.convolve(v, np.ones(win) / win, mode="valid")
        ax.plot(s[win - 1 :], ma, lw=1.6, label=f"mean of {win}")
    if np.all(v[np.isfinite(v)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    try:
        atomic_write(path_png, lambda p: fig.savefig(p, format="png"))
    finally:
        plt.close(fig)
    return path_png


def _flatten(metrics: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in metrics.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{name}."))
        else:
            if isinstance(v, torch.Tensor | np.generic | np.ndarray):
                v = v.item()
            out[name] = v
    return out


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # "inf", "-inf", "nan": strict JSON has no such numbers; float() reads them
    return v


def write_metrics(metrics: dict, run_dir: str) -> tuple[str, str]:
    """``run_dir/metrics.json`` (nested as given) and ``run_dir/metrics.csv`` (``metric,value``
    rows, nested keys joined with dots); non-finite floats are written as ``inf``/``nan``."""

    def clean(m):
        if isinstance(m, Mapping):
            return {str(k): clean(v) for k, v in m.items()}
        if isinstance(m, torch.Tensor | np.generic | np.ndarray):
            m = m.item()
        return _json_value(m)

    os.makedirs(run_dir, exist_ok=True)
    json_path = os.path.join(run_dir, "metrics.json")
    csv_path = os.path.join(run_dir, "metrics.csv")
    text = json.dumps(clean(metrics), indent=2, sort_keys=True, allow_nan=False) + "\n"

    def write_json(p):
        with open(p, "w") as f:
            f.write(text)

    def write_csv(p):
        with open(p, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["metric", "value"])
            for k, v in sorted(_flatten(metrics).items()):
                w.writerow([k, v])

    atomic_write(json_path, write_json)
    atomic_write(csv_path, write_csv)
    return json_path, csv_path
