"""Pluggable metric-depth sources for the real-photo route.

``TransformersDepth`` (``infra.depth_model``, shared with synth's 2.5-D route) runs a local
transformers depth-estimation model: the focus distance and K use its depth in metres.
``GroundTruthDepth`` serves a row's own ``depth_path`` (``.npy``, metres).
"""

from __future__ import annotations

import hashlib

import numpy as np

from infra.depth_model import (
    MAX_DEPTH_M,
    MIN_DEPTH_M,
    DepthEstimator,
    TransformersDepth,
    resize_nearest,
)
from infra.uri import join_root

__all__ = [
    "MAX_DEPTH_M",
    "MIN_DEPTH_M",
    "DepthEstimator",
    "GroundTruthDepth",
    "TransformersDepth",
    "make_depth_estimator",
    "short_id",
]


class GroundTruthDepth:
    """A row's ground-truth depth (``.npy`` in metres, aligned with the oriented photo).

    Resized to the image with nearest neighbour (no phantom depths at edges); infinite values
    (background) stay infinite. Refuses a depth map whose aspect ratio differs by more than 1%.
    """

    def __init__(self, depth_path: str, root: str | None = None):
        self.depth_path = depth_path
        self.root = root
        self.depth_id = "ground_truth"

    def __call__(self, image_rgb_uint8: np.ndarray) -> np.ndarray:
        from train.data.build import read_depth_m

        depth = read_depth_m(self.depth_path, self.root)
        h, w = np.asarray(image_rgb_uint8).shape[:2]
        if depth.ndim != 2 or abs(depth.shape[1] / depth.shape[0] - w / h) > 0.01 * (w / h):
            raise ValueError(
                f"{join_root(self.depth_path, self.root)}: depth shape {depth.shape} does not "
                f"match the image's {h}×{w}"
            )
        return resize_nearest(depth, h, w)


def make_depth_estimator(local_path: str | None, device: str = "cpu") -> DepthEstimator | None:
    """``TransformersDepth(local_path)``, or None when no path is configured."""
    return None if not local_path else TransformersDepth(local_path, device=device)


def short_id(text: str) -> str:
    """A 16-hex digest of an id string, for cache file names."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
