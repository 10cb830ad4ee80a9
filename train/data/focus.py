"""In-focus masks for the real-photo route (``disp_focus`` = median disparity inside the mask).

``sharpness_mask`` needs no weights: the local Laplacian energy
``E = box_mean((∇²Y)²)`` over a ``(2r+1)²`` window (``r = max(1, min(H, W) // 32)``) of the
luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` (in [0, 1]) is thresholded by Otsu's method on
``log10(E + 1e-8)`` (the data-driven split between sharp and blurred regions), then cleaned by a
3×3 opening and closing. It is never empty: if fewer than 1% of the pixels survive, the top 10%
by ``E`` are taken instead. ``SegmentationFocus`` uses a transformers semantic-segmentation model
from a local directory and keeps the segment with the highest mean ``E`` (covering >= 2% of the
image).
"""

from __future__ import annotations

import numpy as np

from train.files import local_model_dir

MIN_MASK_FRACTION = 0.01
FALLBACK_TOP_FRACTION = 0.10
MIN_SEGMENT_FRACTION = 0.02


def _box_mean(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window with edge padding (summed-area table)."""
    p = np.pad(a.astype(np.float64), r + 1, mode="edge")
    c = p.cumsum(0).cumsum(1)
    k = 2 * r + 1
    s = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    return (s / (k * k))[: a.shape[0], : a.shape[1]]


def laplacian_energy(image_rgb_uint8: np.ndarray) -> np.ndarray:
    """Local Laplacian energy ``E`` (see the module docstring), float64 H×W."""
    img = np.asarray(image_rgb_uint8, dtype=np.float64) / 255.0
    y = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
    p = np.pad(y, 1, mode="edge")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4.0 * y
    r = max(1, min(y.shape) // 32)
    return _box_mean(lap * lap, r)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the split maximising the between-class variance of a histogram."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return hi
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    w = hist.cumsum().astype(np.float64)
    centres = 0.5 * (edges[:-1] + edges[1:])
    m = (hist * centres).cumsum()
    total_w, total_m = w[-1], m[-1]
    w1 = total_w - w
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_m * w - m * total_w) ** 2 / (w * w1)
    between[~np.isfinite(between)] = -1.0
    return float(edges[int(np.argmax(between)) + 1])


def _erode(mask: np.ndarray) -> np.ndarray:
    return _box_mean(mask.astype(np.float64), 1) > 1.0 - 1e-9


def _dilate(mask: np.ndarray) -> np.ndarray:
    return _box_mean(mask.astype(np.float64), 1) > 1e-9


def top_fraction_mask(energy: np.ndarray, fraction: float = FALLBACK_TOP_FRACTION) -> np.ndarray:
    """Exactly ``ceil(fraction · N)`` pixels with the highest energy (stable order for ties)."""
    n = max(1, int(np.ceil(fraction * energy.size)))
    idx = np.argsort(-energy.ravel(), kind="stable")[:n]
    mask = np.zeros(energy.size, dtype=bool)
    mask[idx] = True
    return mask.reshape(energy.shape)


def sharpness_mask(image_rgb_uint8: np.ndarray) -> np.ndarray:
    """Bool H×W in-focus mask from local sharpness alone (never empty)."""
    img = np.asarray(image_rgb_uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"sharpness_mask expects H×W×3 RGB, got shape {img.shape}")
    energy = laplacian_energy(img)
    log_e = np.log10(energy + 1e-8)
    mask = log_e > otsu_threshold(log_e)
    mask = _erode(_dilate(_dilate(_erode(mask))))  # opening, then closing
    if mask.sum() < MIN_MASK_FRACTION * mask.size:
        mask = top_fraction_mask(energy)
    return mask


class SharpnessFocus:
    """The weight-free masker as an object (``mask_id`` keys caches)."""

    mask_id = "sharpness"

    def __call__(self, image_rgb_uint8: np.ndarray) -> np.ndarray:
        return sharpness_mask(image_rgb_uint8)


class SegmentationFocus:
    """A transformers semantic-segmentation model (local dir); the sharpest segment is in focus."""

    def __init__(self, local_path: str, device: str = "cpu"):
        import torch
        from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

        path = local_model_dir(local_path, "segmentation")
        try:
            self.processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForSemanticSegmentation.from_pretrained(
                path, local_files_only=True
            )
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a loadable semantic-segmentation model ({e})") from None
        self.model.eval().to(device)
        self.device = device
        self.mask_id = f"segmentation:{path}"
        self._torch = torch

    def labels(self, image_rgb_uint8: np.ndarray) -> np.ndarray:
        """Per-pixel class ids (int64 H×W) at the image size."""
        torch = self._torch
        img = np.asarray(image_rgb_uint8)
        inputs = self.processor(images=img, return_tensors="pt").to(self.device)
        with torch.no_grad():
            logits = self.model(**inputs).logits
        logits = torch.nn.functional.interpolate(
            logits.float(), size=img.shape[:2], mode="bilinear", align_corners=False
        )
        return logits[0].argmax(0).cpu().numpy()

    def __call__(self, image_rgb_uint8: np.ndarray) -> np.ndarray:
        labels = self.labels(image_rgb_uint8)
        energy = laplacian_energy(image_rgb_uint8)
        best, best_e = None, -1.0
        for lab in np.unique(labels):
            seg = labels == lab
            if seg.mean() >= MIN_SEGMENT_FRACTION and energy[seg].mean() > best_e:
                best, best_e = seg, float(energy[seg].mean())
        if best is None:
            return sharpness_mask(image_rgb_uint8)
        return best


def make_focus_masker(focus_mask: str, device: str = "cpu"):
    """``"sharpness"`` -> :class:`SharpnessFocus`; anything else is a local segmentation model."""
    if focus_mask == "sharpness":
        return SharpnessFocus()
    return SegmentationFocus(focus_mask, device=device)
