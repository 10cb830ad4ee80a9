"""Data settings shared by the sample builders, the datasets and the real-photo route."""

from __future__ import annotations

import math
from dataclasses import dataclass

TASKS = ("deblur", "bokeh")
AUGMENTS = ("flip", "rgb")


@dataclass
class DataConfig:
    """What a training sample looks like and where its extra models come from.

    ``resize_range``: in training the full image is rescaled by ``s ~ U(lo, hi)`` before the
    crop, but never below the size the crop needs (short side ``>= resolution_px``); evaluation
    rescales by the middle of the range (same clamp) and takes the centre crop.
    ``real_work_short_px``: the short side real photos are resized to once, when they are
    prepared (0: ``ceil(resolution_px / resize_range[0])``, so that the smallest random rescale
    still fits the crop).
    """

    task: str = "deblur"  # "deblur" | "bokeh"
    resolution_px: int = 64  # square training crops
    resize_range: tuple[float, float] = (0.6, 1.0)  # random rescale before the crop (train only)
    real_ratio: float = 0.0  # share of real-photo samples in the mixture (bokeh stage 2)
    train_split: str = "train"
    eval_split: str = "val"  # falls back to "test", then to a deterministic 10% of scenes
    depth_model: str | None = None  # local path of a transformers depth-estimation model
    focus_mask: str = "sharpness"  # "sharpness" (weight-free) or a local segmentation model path
    cache_dir: str | None = None  # pseudo-AIF / depth cache for the real route
    seed: int = 0
    real_work_short_px: int = 0  # short side of prepared real photos (0: automatic)
    decode_cache_mb: int = 1024  # decoded images/depths kept per process (LRU); 0 disables
    # training-only, label-preserving: "flip" (horizontal and vertical, each p = 0.5), "rgb" (one
    # random permutation of the colour channels for every image of the sample)
    augment: tuple[str, ...] = ()

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"DataConfig.task must be one of {TASKS}, got {self.task!r}")
        if int(self.resolution_px) < 8:
            raise ValueError(f"DataConfig.resolution_px must be >= 8, got {self.resolution_px}")
        lo, hi = (float(v) for v in self.resize_range)
        if not 0 < lo <= hi:
            raise ValueError(f"DataConfig.resize_range must be 0 < lo <= hi, got {lo}, {hi}")
        self.resize_range = (lo, hi)
        self.augment = tuple(self.augment)
        bad = [a for a in self.augment if a not in AUGMENTS]
        if bad:
            raise ValueError(f"DataConfig.augment: unknown {bad}; expected some of {AUGMENTS}")
        if not 0.0 <= float(self.real_ratio) <= 1.0:
            raise ValueError(f"DataConfig.real_ratio must be in [0, 1], got {self.real_ratio}")

    def work_short_px(self) -> int:
        """Short side of a prepared real photo (see the class docstring)."""
        if self.real_work_short_px:
            return max(int(self.real_work_short_px), int(self.resolution_px))
        return int(math.ceil(self.resolution_px / min(self.resize_range[0], 1.0)))
