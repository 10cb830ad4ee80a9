"""The GenRefocus blur scale K, disparity, and the defocus map the released BokehNet consumes.

``K`` is a blur *radius* in pixels per 1/m of disparity, valid at the image width
``k_ref_width_px`` it was computed for; it scales linearly when the image is resized.

* Synthetic renders (exact for Cycles): ``K = f_mm² · W / (2000 · N · sensor_w_mm)``, so that
  ``2 · K · |1/S - 1/z|`` is the Cycles CoC diameter in pixels.
* Real photos (paper Eq. 3, textbook lens): ``K = f² S / (2 N (S - f)) · pixel_ratio / 1000``
  with f and S in mm and ``pixel_ratio = max(W, H) / sensor_w_mm``.
* Disparity: ``disp = 1/z`` in 1/m, 0 where the depth is infinite (background), not finite or
  not positive.
* Defocus map: ``D = clip(K · |disp - disp_focus| / 100, 0, 1)``, 3 channels, raw in [0, 1].
  :func:`defocus_level` is that formula for numpy arrays and torch tensors alike (the trainer
  calls it on batches); :func:`defocus_map` is the numpy H×W×C map.
"""

from __future__ import annotations

import numpy as np


def k_synthetic(focal_length_mm, f_number, sensor_width_mm, width_px) -> np.ndarray:
    """Exact K for a Cycles render: ``f_mm² · W / (2000 · N · sensor_w_mm)``."""
    f_mm = np.asarray(focal_length_mm, dtype=np.float64)
    return (
        f_mm
        * f_mm
        * np.asarray(width_px)
        / (2000.0 * np.asarray(f_number, dtype=np.float64) * np.asarray(sensor_width_mm))
    )


def k_exif(focal_length_mm, f_number, focus_distance_m, sensor_width_mm, long_edge_px):
    """K from a photo's EXIF (paper Eq. 3): ``f² S / (2N (S - f)) · pixel_ratio / 1000``.

    ``f`` and ``S`` in mm inside the formula; ``pixel_ratio = long_edge_px / sensor_width_mm``
    (the sensor width is taken as its long side). ``S`` must come from the estimated focus
    plane, never from EXIF SubjectDistance. Example: 50 mm f/1.8 full frame, S = 2 m, 6000 px
    -> 118.7.
    """
    f_mm = np.asarray(focal_length_mm, dtype=np.float64)
    s_mm = np.asarray(focus_distance_m, dtype=np.float64) * 1e3
    ratio = np.asarray(long_edge_px, dtype=np.float64) / np.asarray(sensor_width_mm)
    return f_mm * f_mm * s_mm / (2.0 * np.asarray(f_number) * (s_mm - f_mm)) * ratio / 1000.0


def rescale_k(k, k_ref_width_px, new_width_px) -> np.ndarray:
    """K for the same image resized from ``k_ref_width_px`` to ``new_width_px`` (linear)."""
    return np.asarray(k, dtype=np.float64) * np.asarray(new_width_px) / np.asarray(k_ref_width_px)


MIN_DEPTH_M = 1e-6  # depths below one micrometre count as one: disparity stays finite (<= 1e6)


def depth_problem(depth) -> str | None:
    """Why an array is not a depth map as every stage stores it, or None: 2-D real numbers of
    planar metres, at least 2x2, none NaN, zero or negative (``inf`` is the background), at
    least one finite. A depth map that breaks this turns into NaN metrics, not an error."""
    a = np.asarray(depth)
    if a.ndim != 2 or a.dtype.kind not in "iuf":
        return f"a depth map is a 2-D array of real metres, got {a.dtype} {a.shape}"
    if min(a.shape) < 2:
        return f"a depth map needs at least 2x2 values, got {a.shape}"
    with np.errstate(invalid="ignore"):
        if np.isnan(a).any() or (a <= 0).any():
            return "depths must be > 0 metres (inf for the background), no NaN"
    if not np.isfinite(a).any():
        return "no finite depth (every value is inf)"
    return None


def disparity_from_depth(depth_m, dtype=np.float32) -> np.ndarray:
    """Disparity ``1/z`` in 1/m of a planar depth map in metres (float32 unless ``dtype`` says).

    0 where the depth is infinite (the background), not finite or not positive; depths below
    :data:`MIN_DEPTH_M` count as ``MIN_DEPTH_M``, so the result is always finite.
    """
    z = np.asarray(depth_m, dtype=np.float64)
    ok = np.isfinite(z) & (z > 0)
    return np.where(ok, 1.0 / np.maximum(np.where(ok, z, 1.0), MIN_DEPTH_M), 0.0).astype(dtype)


def defocus_level(disparity, disp_focus, k):
    """``clip(K · |disp - disp_focus| / 100, 0, 1)`` element-wise, in the type it is given.

    Uses only arithmetic, ``abs`` and ``.clip``, so numpy arrays and torch tensors (any shape,
    ``disp_focus`` broadcast against ``disparity``) get the same formula and keep their type,
    dtype and device. Python numbers are not arrays: pass ``np.asarray`` of them.
    """
    return (k * abs(disparity - disp_focus) / 100.0).clip(0.0, 1.0)


def defocus_map(disparity, disp_focus, k, channels: int = 3) -> np.ndarray:
    """GenRefocus defocus map ``clip(K · |disp - disp_focus| / 100, 0, 1)`` as float32 H×W×C.

    ``disparity`` is an H×W array in 1/m (``1/z``); the map is fed to BokehNet raw in [0, 1]
    (unlike RGB conditions it is *not* mapped to [-1, 1]). ``channels=3`` replicates it.
    """
    d = np.asarray(disparity, dtype=np.float64)
    m = defocus_level(d, float(disp_focus), float(k)).astype(np.float32)
    if channels == 1:
        return m
    return np.repeat(m[..., None], channels, axis=-1)
