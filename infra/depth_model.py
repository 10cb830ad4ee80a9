"""Metric depth from a local transformers depth-estimation model (nothing is downloaded).

A ``DepthEstimator`` maps a uint8 H×W×3 RGB image to an H×W float32 depth in metres (planar,
like the synthetic labels). ``TransformersDepth`` runs any transformers depth-estimation model
from a **local directory** (``local_files_only=True``); its output is resized to the input size
and clamped to ``[MIN_DEPTH_M, MAX_DEPTH_M]``. The model should predict metric depth (Depth Pro,
ZoeDepth, Depth Anything metric, GLPN). Shared by the trainer's real-photo route and synth's
2.5-D route; torch and transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np


def local_model_dir(local_path: str | os.PathLike, what: str) -> str:
    """The absolute path of a local transformers model folder (it must hold ``config.json``;
    nothing is ever downloaded); ``what`` names the model in the error."""
    path = os.path.abspath(os.path.expanduser(os.fspath(local_path)))
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise FileNotFoundError(
            f"{path}: no {what} model here (expected a local transformers model directory with "
            "config.json; nothing is downloaded)"
        )
    return path


MIN_DEPTH_M = 0.05
MAX_DEPTH_M = 1000.0


@runtime_checkable
class DepthEstimator(Protocol):
    """``__call__(image_rgb_uint8 H×W×3) -> H×W float32 depth in metres``; ``depth_id`` names
    the model (it keys the depth cache)."""

    depth_id: str

    def __call__(self, image_rgb_uint8: np.ndarray) -> np.ndarray: ...


def resize_nearest(a: np.ndarray, height_px: int, width_px: int) -> np.ndarray:
    if a.shape == (height_px, width_px):
        return a
    ys = np.minimum((np.arange(height_px) + 0.5) * a.shape[0] / height_px, a.shape[0] - 1)
    xs = np.minimum((np.arange(width_px) + 0.5) * a.shape[1] / width_px, a.shape[1] - 1)
    return a[ys.astype(np.int64)[:, None], xs.astype(np.int64)[None, :]]


class TransformersDepth:
    """A transformers ``AutoModelForDepthEstimation`` + ``AutoImageProcessor`` from a local dir."""

    def __init__(self, local_path: str, device: str = "cpu"):
        import torch
        from transformers import AutoConfig, AutoImageProcessor, AutoModelForDepthEstimation
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES,
        )

        path = local_model_dir(local_path, "depth")
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: unreadable model config ({e})") from None
        if config.model_type not in MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES:
            raise ValueError(
                f"{path}: model type {config.model_type!r} is not a depth-estimation model "
                f"(known: {', '.join(sorted(MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES))})"
            )
        try:
            self.processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForDepthEstimation.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot load the depth model ({e})") from None
        self.model.eval().to(device)
        self.device = device
        self.local_path = path
        self.depth_id = f"transformers:{path}"
        self._torch = torch

    def __call__(self, image_rgb_uint8: np.ndarray) -> np.ndarray:
        torch = self._torch
        img = np.asarray(image_rgb_uint8)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"TransformersDepth expects uint8 H×W×3, got {img.dtype} {img.shape}")
        inputs = self.processor(images=img, return_tensors="pt").to(self.device)
        with torch.no_grad():
            pred = self.model(**inputs).predicted_depth
        if pred.ndim == 3:
            pred = pred[:, None]
        pred = torch.nn.functional.interpolate(
            pred.float(), size=img.shape[:2], mode="bicubic", align_corners=False
        )[0, 0]
        return pred.clamp(MIN_DEPTH_M, MAX_DEPTH_M).cpu().numpy().astype(np.float32)
