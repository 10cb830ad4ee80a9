"""Depth estimators from local paths and the in-focus masks."""

import numpy as np
import pytest

from train.data.depth import MAX_DEPTH_M, MIN_DEPTH_M, GroundTruthDepth, TransformersDepth
from train.data.focus import SegmentationFocus, laplacian_energy, sharpness_mask


def test_transformers_depth_from_local_path(tiny_depth_model):
    est = TransformersDepth(tiny_depth_model)
    img = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    d = est(img)
    assert d.shape == (50, 70) and d.dtype == np.float32
    assert MIN_DEPTH_M <= d.min() and d.max() <= MAX_DEPTH_M
    assert 0.5 < float(np.median(d)) < 10.0  # GLPN head: sigmoid · max_depth (10 m)
    np.testing.assert_array_equal(est(img), d)  # deterministic (eval mode)
    assert est.depth_id.endswith("tiny-glpn")


def test_transformers_depth_refuses_bad_paths(tmp_path, tiny_segmentation_model):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}/nope: no depth model here"):
        TransformersDepth(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="'segformer' is not a depth-estimation model"):
        TransformersDepth(tiny_segmentation_model)


def test_ground_truth_depth_is_resized_nearest(tmp_path):
    depth = np.array([[1.0, 2.0], [4.0, np.inf]], np.float32)
    np.save(tmp_path / "d.npy", depth)
    gt = GroundTruthDepth("d.npy", str(tmp_path))
    out = gt(np.zeros((4, 4, 3), np.uint8))
    np.testing.assert_array_equal(out, np.repeat(np.repeat(depth, 2, 0), 2, 1))
    with pytest.raises(ValueError, match="d.npy: depth shape"):
        gt(np.zeros((4, 8, 3), np.uint8))


def _half_sharp_image(h=64, w=96):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (h, w, 3)).astype(np.float64)
    k = np.ones(9) / 9  # separable box blur, 9 taps, applied twice
    blurred = noise.copy()
    for _ in range(2):
        blurred = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, blurred)
        blurred = np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, blurred)
    img = blurred.copy()
    img[:, : w // 2] = noise[:, : w // 2]  # left half sharp, right half blurred
    return img.clip(0, 255).astype(np.uint8)


def test_sharpness_mask_finds_the_sharp_half():
    img = _half_sharp_image()
    m = sharpness_mask(img)
    assert m.dtype == bool and m.shape == img.shape[:2]
    left, right = m[:, :44].mean(), m[:, 52:].mean()
    assert left > 0.95 and right < 0.05


def test_sharpness_mask_never_empty():
    flat = np.full((20, 30, 3), 128, np.uint8)
    m = sharpness_mask(flat)
    assert m.sum() == 60  # exactly the top 10% of 600 pixels
    tiny_spot = flat.copy()
    tiny_spot[10, 15] = 255
    m = sharpness_mask(tiny_spot)
    assert m[10, 15] and 0 < m.sum() < 60  # the region around the only sharp pixel
    ys, xs = np.nonzero(m)
    assert abs(ys - 10).max() <= 3 and abs(xs - 15).max() <= 3


def test_segmentation_focus_picks_the_sharpest_segment(tiny_segmentation_model):
    seg = SegmentationFocus(tiny_segmentation_model)
    img = _half_sharp_image()
    labels = seg.labels(img)
    m = seg(img)
    assert m.shape == img.shape[:2] and m.any()
    energy = laplacian_energy(img)
    chosen = np.unique(labels[m])
    assert len(chosen) == 1
    big = [lab for lab in np.unique(labels) if (labels == lab).mean() >= 0.02]
    best = max(big, key=lambda lab: energy[labels == lab].mean())
    assert chosen[0] == best
