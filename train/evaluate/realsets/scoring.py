"""Scores on real images: the working size, and per row (a method) PSNR and SSIM
(``train.evaluate.metrics``: images in [-1, 1], PSNR ``10 log10(4 / MSE)``, the Gaussian-window
SSIM) and, when their weights are given, LPIPS and DISTS (``perceptual``), each as the mean and
the worst image (the lowest PSNR and SSIM, the highest LPIPS and DISTS).

The working size (:func:`working_size`) is the image's own unless ``--max-side`` caps its long
side (aspect kept) or a model needs sides that are a multiple of its granularity; every row of a
run, the truth included, is scored at that one size (bicubic with antialiasing, in float, so a
16-bit image keeps its precision).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F

from train.evaluate.metrics import psnr_per_image, ssim_per_image


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """H×W×3 in [0, 1] -> [1, 3, H, W] float32 in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    return t * 2.0 - 1.0


def to_unit(t: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] in [-1, 1] -> H×W×3 float64 in [0, 1]."""
    return ((t[0].permute(1, 2, 0).double().numpy() + 1.0) / 2.0).clip(0.0, 1.0)


def working_size(width: int, height: int, max_side: int = 0, granularity: int = 1):
    """``(width, height)`` to score at: the long side at most ``max_side`` (0: no cap, never
    enlarged), then each side rounded to a multiple of ``granularity`` (at least one)."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    g = max(1, int(granularity))
    return max(g, round(w / g) * g), max(g, round(h / g) * g)


def at_size(img: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """An H×W×3 image in [0, 1] as a [1, 3, h, w] tensor in [-1, 1] at ``size`` (w, h)."""
    t = to_tensor(img)
    if (t.shape[-1], t.shape[-2]) == tuple(size):
        return t
    out = F.interpolate(t, size=(size[1], size[0]), mode="bicubic", antialias=True)
    return out.clamp(-1.0, 1.0)


def size_note(max_side: int, granularity: int) -> str:
    """The working-size rule of a run, as the outputs state it."""
    if not max_side and granularity <= 1:
        return "native resolution (no resizing)"
    parts = []
    if max_side:
        parts.append(f"long side at most {max_side} px (--max-side, aspect kept)")
    if granularity > 1:
        parts.append(f"sides rounded to a multiple of {granularity} px (the model's granularity)")
    return "; ".join(parts) + "; every row, the truth included, resized alike (bicubic)"


WORST = {"psnr": min, "ssim": min, "lpips": max, "dists": max}


class Rows:
    """Per row, every image's scores; ``perceptual``: ``{"lpips": metric, "dists": metric}``
    (the callables of ``perceptual``, any subset). ``group``: a key to break PSNR down by
    (the focal stacks' distance between the input and the target slice)."""

    def __init__(self, perceptual: dict | None = None):
        self.perceptual = dict(perceptual or {})
        self.values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.groups: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))

    def add(self, row: str, out: torch.Tensor, target: torch.Tensor, group=None) -> None:
        """Score ``out`` against ``target`` ([1, 3, H, W] in [-1, 1], the same size)."""
        v = self.values[row]
        p = float(psnr_per_image(out, target)[0])
        v["psnr"].append(p)
        v["ssim"].append(float(ssim_per_image(out, target)[0]))
        for name, metric in self.perceptual.items():
            v[name].append(float(metric(out, target)[0]))
        if group is not None:
            self.groups[row][group].append(p)

    def summary(self) -> dict[str, dict]:
        out = {}
        for row, v in self.values.items():
            out[row] = {"images": len(v["psnr"])}
            for name, values in v.items():
                out[row][name] = _mean(values)
                out[row][f"{name}_worst"] = float(WORST[name](values))
        return out

    def by_group(self) -> dict[str, dict[int, float]]:
        """Per row, the mean PSNR of each group."""
        return {
            row: {g: _mean(vals) for g, vals in sorted(groups.items())}
            for row, groups in self.groups.items()
        }


def _mean(values: list[float]) -> float:
    """The mean (``inf`` for PSNR when an image matched its target exactly)."""
    return float(np.mean(values))
