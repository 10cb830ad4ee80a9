"""The semi-supervised real-photo route of BokehNet stage 2 (docs/architecture.md sections 3
and 5b).

For each ``real_photos`` row: decode the photo (EXIF orientation applied), resize it once to the
working size (short side ``cfg.work_short_px()``), pseudo all-in-focus image
``aif = deblur_fn(photo)`` (cached on disk per photo sha256 and ``deblur_id``), metric depth from
the estimator run on the pseudo-AIF (sharp input, as at inference: deblur -> depth -> bokeh) or
the row's ground-truth ``depth_path``, the in-focus mask of the *photo*, and

    disp_focus = median(1/z over the mask, finite z only),   S = 1 / disp_focus  (m)
    K_orig = optics.k_exif(f_mm, N, S, sensor_width_mm, long_edge_px_original)   (paper Eq. 3)
    K_work = optics.rescale_k(K_orig, width_px_original, width_px_working)

Photos whose K cannot be derived are skipped with a counted reason (``SKIP_REASONS``). The
sample (``build_real_sample``) is the photo as target and [pseudo-AIF, defocus map] as
conditions, with the same random rescale and crop as synthetic samples.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

import optics
from infra.files import atomic_write
from infra.images import decode_photo
from infra.uri import join_root
from train.data.build import (
    apply_geometry,
    assemble,
    draw_geometry,
    read_bytes,
    rgb_to_tensor,
)
from train.data.config import DataConfig
from train.data.depth import DepthEstimator, GroundTruthDepth, short_id
from train.data.focus import make_focus_masker

SKIP_REASONS = (
    "no_f_number",
    "no_focal_length",
    "no_sensor_width",
    "unreadable",
    "focus_at_infinity",  # no finite depth inside the in-focus mask
    "focus_inside_focal_length",  # S <= f: Eq. 3 has no valid K
)

DeblurFn = Callable[[torch.Tensor], torch.Tensor]


def _positive(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def working_size(width_px: int, height_px: int, short_px: int) -> tuple[int, int]:
    """``(w, h)`` with the short side ``short_px`` and the aspect ratio kept."""
    if width_px <= height_px:
        return short_px, max(short_px, int(round(height_px * short_px / width_px)))
    return max(short_px, int(round(width_px * short_px / height_px))), short_px


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """[3, H, W] in [-1, 1] -> uint8 H×W×3 (``round((x + 1) · 127.5)``)."""
    a = ((x.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return a.permute(1, 2, 0).cpu().numpy()


def _save_png(path: str, img: np.ndarray) -> None:
    atomic_write(path, lambda p: Image.fromarray(img).save(p, format="PNG"))


def _save_npy(path: str, a: np.ndarray) -> None:
    def save(p):
        with open(p, "wb") as f:
            np.save(f, a, allow_pickle=False)

    atomic_write(path, save)


def _load_png(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def pseudo_aif(photo: np.ndarray, deblur_fn: DeblurFn) -> np.ndarray:
    """``deblur_fn`` on one uint8 photo: [1, 3, H, W] in [-1, 1] in and out, uint8 back."""
    x = rgb_to_tensor(photo)[None]
    with torch.no_grad():
        y = deblur_fn(x)
    if tuple(y.shape) != tuple(x.shape):
        raise ValueError(f"deblur_fn returned shape {tuple(y.shape)} for input {tuple(x.shape)}")
    return tensor_to_uint8(y[0])


def prepare_real(
    rows: list[dict],
    cfg: DataConfig,
    deblur_fn: DeblurFn,
    depth_estimator: DepthEstimator | None,
    cache_dir: str | None,
    *,
    deblur_id: str | None = None,
    focus_masker: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: bool = False,
) -> tuple[list[dict], dict[str, int]]:
    """Prepare ``real_photos`` rows once; returns ``(prepared, skipped_counts_by_reason)``.

    ``deblur_id`` names the DeblurNet that made the pseudo-AIF (e.g. its checkpoint hash; default
    ``deblur_fn.deblur_id``): it keys the cache, so a new checkpoint never reuses stale images.
    ``cache_dir`` (default ``cfg.cache_dir``; None keeps everything in memory) holds
    ``<sha256>/<w>x<h>/photo.png``, ``aif-<id>.png`` and ``disparity-<id>.npy``. A prepared item
    holds the arrays or their cache paths plus ``disp_focus``, ``focus_distance_m``,
    ``k_original`` (at ``long_edge_px_original``), ``k`` (at ``width_px``) and the EXIF values.
    """
    deblur_id = deblur_id or getattr(deblur_fn, "deblur_id", None)
    if not deblur_id:
        raise ValueError(
            "prepare_real needs deblur_id (e.g. the DeblurNet checkpoint hash) to key the "
            "pseudo-AIF cache"
        )
    cache_dir = cache_dir if cache_dir is not None else cfg.cache_dir
    masker = focus_masker or make_focus_masker(cfg.focus_mask)
    mask_id = getattr(masker, "mask_id", "custom")
    skipped: Counter[str] = Counter()
    prepared: list[dict] = []
    it = rows
    if progress:
        from infra.progress import progress_bar

        it = progress_bar(rows, desc="real photos", unit="photo")
    for row in it:
        reason, item = _prepare_one(
            row, cfg, deblur_fn, deblur_id, depth_estimator, masker, mask_id, cache_dir
        )
        if reason:
            skipped[reason] += 1
        else:
            prepared.append(item)
    return prepared, dict(skipped)


def _prepare_one(row, cfg, deblur_fn, deblur_id, depth_estimator, masker, mask_id, cache_dir):
    """``(reason, None)`` for a photo the route cannot use, else ``(None, item)``: the photo at
    its working size, its pseudo all-in-focus image, disparity, focus plane and K."""
    root = row.get("_root")
    uri = join_root(row["uri"], root)
    lens = [_positive(row.get(c)) for c in ("f_number", "focal_length_mm", "sensor_width_mm")]
    for value, reason in zip(
        lens, ("no_f_number", "no_focal_length", "no_sensor_width"), strict=True
    ):
        if value is None:
            return reason, None
    f_number, focal_mm, sensor_mm = lens
    try:
        data = read_bytes(row["uri"], root)
        sha = row.get("sha256") or hashlib.sha256(data).hexdigest()
        full = decode_photo(data)
    except (OSError, ValueError, Image.DecompressionBombError):
        return "unreadable", None
    h0, w0 = full.shape[:2]
    w, h = working_size(w0, h0, cfg.work_short_px())
    photo = np.asarray(Image.fromarray(full).resize((w, h), Image.LANCZOS))
    del full
    folder = os.path.join(cache_dir, sha, f"{w}x{h}") if cache_dir else None
    photo_path, aif_path, aif = _photo_and_aif(photo, folder, deblur_fn, deblur_id)
    disparity, disp_path = _disparity(row, uri, photo, aif, folder, depth_estimator, deblur_id)
    mask = np.asarray(masker(photo), dtype=bool)
    inside = disparity[mask & (disparity > 0)]
    if inside.size == 0:
        return "focus_at_infinity", None
    disp_focus = float(np.median(inside))
    focus_m = 1.0 / disp_focus
    if focus_m * 1000.0 <= focal_mm:
        return "focus_inside_focal_length", None
    long_edge0 = max(w0, h0)
    k_original = float(optics.k_exif(focal_mm, f_number, focus_m, sensor_mm, long_edge0))
    item = {
        "id": str(row["uri"]),
        "uri": uri,
        "sha256": sha,
        "width_px": w,
        "height_px": h,
        "width_px_original": w0,
        "height_px_original": h0,
        "long_edge_px_original": long_edge0,
        "f_number": f_number,
        "focal_length_mm": focal_mm,
        "sensor_width_mm": sensor_mm,
        "disp_focus": disp_focus,
        "focus_distance_m": focus_m,
        "k_original": k_original,
        "k": float(optics.rescale_k(k_original, w0, w)),
        "mask_fraction": float(mask.mean()),
        "mask_id": mask_id,
        "deblur_id": deblur_id,
    }
    if folder:
        item.update(photo_path=photo_path, aif_path=aif_path, disparity_path=disp_path)
    else:
        item.update(photo=photo, aif=aif, disparity=disparity.astype(np.float32))
    return None, item


def _photo_and_aif(photo, folder, deblur_fn, deblur_id):
    """``(photo_path, aif_path, aif)``: the pseudo all-in-focus image, from the cache ``folder``
    when it holds this DeblurNet's (the paths are None without a cache)."""
    if not folder:
        return None, None, pseudo_aif(photo, deblur_fn)
    os.makedirs(folder, exist_ok=True)
    photo_path = os.path.join(folder, "photo.png")
    if not os.path.exists(photo_path):
        _save_png(photo_path, photo)
    aif_path = os.path.join(folder, f"aif-{short_id(deblur_id)}.png")
    if os.path.exists(aif_path):
        return photo_path, aif_path, _load_png(aif_path)
    aif = pseudo_aif(photo, deblur_fn)
    _save_png(aif_path, aif)
    return photo_path, aif_path, aif


def _disparity(row, uri, photo, aif, folder, depth_estimator, deblur_id):
    """``(disparity, cached_path)``: the row's ground-truth depth when it has one, else the
    depth model's on the pseudo all-in-focus image (cached by model and DeblurNet)."""
    disp_path = None
    if row.get("depth_path"):
        depth_fn: DepthEstimator = GroundTruthDepth(row["depth_path"], row.get("_root"))
        disparity = optics.disparity_from_depth(depth_fn(photo))
        if folder:
            disp_path = os.path.join(folder, "disparity-ground_truth.npy")
            _save_npy(disp_path, disparity)
        return disparity, disp_path
    if depth_estimator is None:
        raise ValueError(
            f"{uri}: no depth_path in the row and no depth estimator configured "
            "(set DataConfig.depth_model to a local depth model)"
        )
    if folder:
        key = short_id(f"{depth_estimator.depth_id}|{deblur_id}")
        disp_path = os.path.join(folder, f"disparity-{key}.npy")
    if disp_path and os.path.exists(disp_path):
        return np.load(disp_path, allow_pickle=False), disp_path
    disparity = optics.disparity_from_depth(depth_estimator(aif))
    if disp_path:
        _save_npy(disp_path, disparity)
    return disparity, disp_path


def _item_array(item: dict, name: str) -> np.ndarray:
    if name in item:
        return item[name]
    path = item[f"{name}_path"]
    return np.load(path, allow_pickle=False) if path.endswith(".npy") else _load_png(path)


def build_real_sample(
    item: dict,
    cfg: DataConfig,
    rng: np.random.Generator,
    train: bool,
    crop: tuple[int, int] | None = None,
) -> dict:
    """A BokehNet sample from a prepared photo: ``target`` = the photo, ``cond`` = [pseudo-AIF,
    defocus map]; same geometry (``crop``: an aspect bucket), K rescaling and layout as
    :func:`build_sample`."""
    if cfg.task != "bokeh":
        raise ValueError(f"real photos train BokehNet only (cfg.task={cfg.task!r})")
    photo = _item_array(item, "photo")
    aif = _item_array(item, "aif")
    disp = torch.from_numpy(np.require(_item_array(item, "disparity"), np.float32, ["C", "W"]))
    h, w = photo.shape[:2]
    g = draw_geometry(rng, w, h, cfg, train, crop)
    return assemble(
        cfg,
        aif=apply_geometry(rgb_to_tensor(aif), g, "rgb"),
        bokeh=apply_geometry(rgb_to_tensor(photo), g, "rgb"),
        disparity=apply_geometry(disp[None], g, "disparity"),
        disp_focus=item["disp_focus"],
        k=float(optics.rescale_k(item["k"], item["width_px"], g.width_px)),
        source="real",
        sample_id=item["id"],
        rng=rng if train else None,
    )
