"""The files a run writes (no models): ``metrics.json``/``metrics.csv``, the loss curve and
sample grids as PNG, each written atomically.

Images are torch tensors in [-1, 1], ``[C, H, W]`` or ``[B, C, H, W]``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from infra.files import atomic_write


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


def json_safe(m):
    """``m`` (nested dicts and lists, numpy or torch scalars) as strict JSON values: a
    non-finite float becomes the string ``"inf"``, ``"-inf"`` or ``"nan"`` (``float()`` reads it
    back), never a bare ``NaN`` token that strict JSON readers refuse."""
    if isinstance(m, Mapping):
        return {str(k): json_safe(v) for k, v in m.items()}
    if isinstance(m, list | tuple):
        return [json_safe(v) for v in m]
    if isinstance(m, torch.Tensor | np.generic) or (isinstance(m, np.ndarray) and m.ndim == 0):
        m = m.item()
    return _json_value(m)


def from_json_safe(m):
    """The inverse of :func:`json_safe` for a loaded file: ``"inf"``, ``"-inf"`` and ``"nan"``
    strings back to floats (``benchmark.json``, ``metrics.json``)."""
    if isinstance(m, dict):
        return {k: from_json_safe(v) for k, v in m.items()}
    if isinstance(m, list):
        return [from_json_safe(v) for v in m]
    return float(m) if m in ("inf", "-inf", "nan") else m


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # "inf", "-inf", "nan": strict JSON has no such numbers; float() reads them
    return v


def write_metrics(metrics: dict, run_dir: str) -> tuple[str, str]:
    """``run_dir/metrics.json`` (nested as given) and ``run_dir/metrics.csv`` (``metric,value``
    rows, nested keys joined with dots); non-finite floats are written as ``inf``/``nan``."""

    os.makedirs(run_dir, exist_ok=True)
    json_path = os.path.join(run_dir, "metrics.json")
    csv_path = os.path.join(run_dir, "metrics.csv")
    text = json.dumps(json_safe(metrics), indent=2, sort_keys=True, allow_nan=False) + "\n"

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
