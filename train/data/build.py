"""One sample builder for every launcher: a ``synthetic_pairs`` row -> tensors for a network.

Geometry (shared with the real route): training rescales the full image by ``s ~ U(lo, hi)``
(``cfg.resize_range``, clamped so the short side stays ``>= resolution_px``), then takes a random
``resolution_px`` square crop; evaluation rescales by the middle of ``resize_range`` (same
clamp) and takes the centre crop, so held-out blur is at the scale training saw. RGB images are
resized bilinearly with antialiasing; disparity with ``nearest-exact`` so no intermediate
(phantom) depths appear at occlusion edges and the background (``depth = inf``) keeps disparity
exactly 0. One crop window serves every image and map of a sample.

K (GenRefocus blur radius in px per 1/m, docs/architecture.md section 3) is linear in the
image width:
``K_final = k_genrefocus · W_final / k_ref_width_px`` (``optics.rescale_k`` through the file's
own width and every resize); a crop does not change it. The BokehNet defocus map is
``optics.defocus_level(disparity, disp_focus, K_final)`` of the cropped disparity, raw in [0, 1].
With ``shape_condition`` the BokehNet sample also carries the row's aperture kernel
(``train.data.aperture.row_kernel``) as a third condition image. The conditions themselves are
``train.conditions``' (the same for evaluation and inference).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

import optics
from infra.images import PhotoError, decode_photo
from infra.npy import npy_from_bytes
from infra.uri import is_uri, join_root, to_uri
from infra.uri import read_bytes as read_uri
from train.conditions import bokeh_conditions, kernel_image, round_kernel
from train.data.config import DataConfig

_DROP_COLUMNS = ("clip_embedding",)  # never used for training, large


# The files the trainer opens, per schema: they must exist, be readable and (relative paths,
# links followed) lie inside the manifest root. The other path columns are checked as values.
READ_COLUMNS = {
    "synthetic_pairs": ("aif_path", "bokeh_path", "depth_path", "aperture_kernel_path"),
    "real_photos": ("uri", "depth_path"),
}


def load_rows(manifests: list[str], schema: str) -> list[dict]:
    """All rows of ``schema`` from each manifest, each with ``_root`` (its manifest root).

    Every manifest is read through :func:`manifests.validate.read_valid_table`: the checks of
    ``python -m manifests validate`` (schema, finite values in range, paths that stay in the
    root) and the files of :data:`READ_COLUMNS`; anything wrong is one ``ManifestError`` line
    naming the part or file. ``_root`` is a local absolute path or a URI with its scheme, so
    that a row's relative paths resolve with :func:`infra.uri.join_root`.
    """
    from manifests.validate import read_valid_table

    rows: list[dict] = []
    for m in manifests:
        text = str(m)
        table, loc = read_valid_table(text, schema, READ_COLUMNS.get(schema, ()))
        root = to_uri(loc.fs, loc.root, like=text) if is_uri(text) else loc.root
        keep = [c for c in table.column_names if c not in _DROP_COLUMNS]
        for row in table.select(keep).to_pylist():
            row["_root"] = root
            rows.append(row)
    return rows


def read_bytes(path: str, root: str | None = None) -> bytes:
    """The bytes of a manifest path (:func:`infra.uri.read_bytes` of it joined to its root);
    an error is one ``OSError`` naming the file."""
    full = join_root(path, root)
    try:
        return read_uri(full)
    except (OSError, ValueError) as e:
        raise OSError(f"{full}: cannot read ({e})") from None


class DecodedCache:
    """Decoded arrays by URI, least recently used first out, within ``limit_bytes``.

    Small datasets are decoded once per process (DataLoader workers keep theirs for the run);
    large ones stream through. Arrays are returned read-only; builders copy what they modify.
    """

    def __init__(self, limit_bytes: int = 1 << 30):
        self.limit_bytes = limit_bytes
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, key: str, load) -> np.ndarray:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = load()
        value.setflags(write=False)
        if value.nbytes <= self.limit_bytes:
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.limit_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
        return value


DECODED = DecodedCache()


def read_rgb(path: str, root: str | None = None) -> np.ndarray:
    """An 8-bit RGB image file as a uint8 H×W×3 array (EXIF orientation not applied), decoded
    once per process while it fits in :data:`DECODED`."""
    return DECODED.get(f"rgb:{join_root(path, root)}", lambda: _decode_rgb(path, root))


def _decode_rgb(path: str, root: str | None) -> np.ndarray:
    """Through the one image rule of every stage (``infra.images``): bomb limits judged on
    the header, 16-bit images scaled to 8 bits, one-line errors naming the file."""
    data = read_bytes(path, root)
    try:
        return decode_photo(data, join_root(path, root), orient=False)
    except PhotoError as e:
        raise OSError(str(e)) from None


def read_npy(path: str, root: str | None = None) -> np.ndarray:
    """A ``.npy`` array (never unpickled), cached like :func:`read_rgb`."""
    return DECODED.get(f"npy:{join_root(path, root)}", lambda: _load_npy(path, root))


def read_depth_m(path: str, root: str | None = None) -> np.ndarray:
    """A depth map (planar metres, float32) checked by ``optics.depth_problem``: an all-NaN or
    negative depth is one ``OSError`` naming the file, never NaN in a loss or a benchmark."""
    depth = read_npy(path, root)
    why = optics.depth_problem(depth)
    if why:
        raise OSError(f"{join_root(path, root)}: {why}")
    return depth.astype(np.float32)


def _load_npy(path: str, root: str | None) -> np.ndarray:
    data = read_bytes(path, root)
    try:
        return npy_from_bytes(data, join_root(path, root))
    except ValueError as e:
        raise OSError(str(e)) from None


def rgb_to_tensor(img_uint8: np.ndarray) -> torch.Tensor:
    """uint8 H×W×3 -> float32 [3, H, W] in [-1, 1] (``x / 127.5 - 1``)."""
    t = torch.from_numpy(np.require(img_uint8, np.uint8, ["C", "W"])).permute(2, 0, 1).float()
    return t / 127.5 - 1.0


@dataclass(frozen=True)
class Geometry:
    """Resize the full image to ``width_px × height_px``, then crop ``crop_w_px × crop_h_px`` at
    ``(x0, y0)``."""

    width_px: int
    height_px: int
    x0: int
    y0: int
    crop_w_px: int
    crop_h_px: int


def draw_geometry(
    rng: np.random.Generator,
    width_px: int,
    height_px: int,
    cfg: DataConfig,
    train: bool,
    crop: tuple[int, int] | None = None,
) -> Geometry:
    """The resize and crop for one sample; draws 3 numbers from ``rng`` in training with
    ``cfg.random_crop``, none else (a fixed crop: the mean training scale, centred, what the
    latent cache stores). ``crop``: an aspect bucket's ``(width_px, height_px)``
    (:func:`bucket_geometry`); None: ``resolution_px`` square."""
    train = train and cfg.random_crop
    if crop is not None:
        return bucket_geometry(rng, width_px, height_px, cfg, train, crop)
    res = int(cfg.resolution_px)
    short = min(width_px, height_px)
    if train:
        s = float(rng.uniform(*cfg.resize_range))
        short_new = max(res, int(round(short * s)))
    else:  # the mean training scale, so evaluation sees blur at the scale training saw
        s = 0.5 * (float(cfg.resize_range[0]) + float(cfg.resize_range[1]))
        short_new = max(res, int(round(short * s)))
    scale = short_new / short
    if width_px <= height_px:
        new_w, new_h = short_new, max(res, int(round(height_px * scale)))
    else:
        new_w, new_h = max(res, int(round(width_px * scale))), short_new
    return place_crop(rng, train, new_w, new_h, res, res)


def place_crop(rng, train: bool, new_w: int, new_h: int, cw: int, ch: int) -> Geometry:
    """A ``cw × ch`` crop of the ``new_w × new_h`` resized frame: at random in training (2
    draws), centred else."""
    if train:
        x0 = int(rng.integers(0, new_w - cw + 1))
        y0 = int(rng.integers(0, new_h - ch + 1))
    else:
        x0, y0 = (new_w - cw) // 2, (new_h - ch) // 2
    return Geometry(new_w, new_h, x0, y0, cw, ch)


def bucket_geometry(
    rng: np.random.Generator,
    width_px: int,
    height_px: int,
    cfg: DataConfig,
    train: bool,
    crop: tuple[int, int],
) -> Geometry:
    """:func:`draw_geometry` for a ``crop = (width_px, height_px)`` bucket: the frame is scaled by
    ``s ~ U(resize_range)`` (the middle of the range when not ``train``), but at least enough to
    cover the crop, by one factor for both sides (never stretched), then cropped (at random in
    training, centred else)."""
    cw, ch = int(crop[0]), int(crop[1])
    lo, hi = (float(v) for v in cfg.resize_range)
    s = float(rng.uniform(lo, hi)) if train else 0.5 * (lo + hi)
    scale = max(s, cw / width_px, ch / height_px)
    new_w = max(cw, int(round(width_px * scale)))
    new_h = max(ch, int(round(height_px * scale)))
    return place_crop(rng, train, new_w, new_h, cw, ch)


def apply_geometry(x: torch.Tensor, g: Geometry, kind: str) -> torch.Tensor:
    """Resize a [C, H, W] tensor as ``g`` says and crop it; ``kind`` is "rgb" or "disparity"."""
    if x.shape[-2:] != (g.height_px, g.width_px):
        if kind == "rgb":
            x = F.interpolate(x[None], (g.height_px, g.width_px), mode="bilinear", antialias=True)[
                0
            ].clamp(-1.0, 1.0)
        else:
            x = F.interpolate(x[None], (g.height_px, g.width_px), mode="nearest-exact")[0]
    return x[:, g.y0 : g.y0 + g.crop_h_px, g.x0 : g.x0 + g.crop_w_px].contiguous()


def synthetic_kernel(row: dict, root: str | None) -> np.ndarray:
    """:func:`train.data.aperture.row_kernel`, decoded once per process like the images."""
    from train.data.aperture import row_kernel

    path = row.get("aperture_kernel_path")
    if path:
        key = f"kernel:{join_root(path, root)}"
    else:
        cycles = (row.get("aperture_blades"), row.get("aperture_rotation_deg"))
        key = f"kernel:cycles:{cycles}:{row.get('aperture_ratio')}"
    return DECODED.get(key, lambda: row_kernel(row, root))


def augment(
    kinds: tuple[str, ...], rng: np.random.Generator, rgb: list[torch.Tensor], maps: list
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Label-preserving training augmentation of one sample's crops: ``"flip"`` mirrors every
    image and map horizontally and vertically (each with p = 0.5), ``"rgb"`` permutes the colour
    channels of the RGB images (one permutation per sample). Defocus blur, K and disparity do not
    depend on either; an aperture kernel image is a map (a mirrored triangle's bokeh is a
    mirrored triangle, and its channels are not colours). Draws 2 numbers from ``rng`` for
    "flip", then 1 permutation for "rgb"."""
    if "flip" in kinds:
        dims = [d for d, p in ((-1, rng.random()), (-2, rng.random())) if p < 0.5]
        if dims:
            rgb = [x.flip(dims) for x in rgb]
            maps = [x.flip(dims) for x in maps]
    if "rgb" in kinds:
        perm = torch.from_numpy(rng.permutation(3))
        rgb = [x[perm] for x in rgb]
    return rgb, maps


def assemble(
    cfg: DataConfig,
    *,
    aif: torch.Tensor,
    bokeh: torch.Tensor,
    disparity: torch.Tensor,
    disp_focus: float,
    k: float,
    source: str,
    sample_id: str,
    rng: np.random.Generator | None = None,
    kernel: np.ndarray | None = None,
) -> dict:
    """The sample dict for ``cfg.task`` from cropped tensors (see :func:`build_sample`);
    ``rng`` (training only) applies ``cfg.augment`` and ``cfg.sharp_fraction``. With
    ``cfg.shape_condition`` (bokeh) ``kernel`` (None: round, what a photo's lens is taken to
    have) becomes the third condition, ``train.conditions.kernel_image`` at the crop size."""
    maps = [disparity]
    if cfg.shape_condition and cfg.task == "bokeh":
        kernel = round_kernel() if kernel is None else kernel
        maps.append(kernel_image(kernel, *aif.shape[-2:]))
    if rng is not None and cfg.augment:
        (aif, bokeh), maps = augment(cfg.augment, rng, [aif, bokeh], maps)
    disparity = maps[0]
    if rng is not None and cfg.task == "deblur" and cfg.sharp_fraction > 0:
        bokeh = aif if rng.random() < cfg.sharp_fraction else bokeh  # sharp in, sharp out
    if cfg.task == "deblur":
        target, cond = aif, [bokeh]
    else:
        kernel_img = maps[1] if len(maps) > 1 else None
        target, cond = bokeh, bokeh_conditions(aif, disparity, disp_focus, k, kernel_img)
    return {
        "target": target,
        "cond": cond,
        "k": float(k),
        "disparity": disparity,
        "disp_focus": float(disp_focus),
        "source": source,
        "id": sample_id,
    }


def build_sample(
    row: dict,
    cfg: DataConfig,
    rng: np.random.Generator,
    train: bool,
    crop: tuple[int, int] | None = None,
) -> dict:
    """Tensors for one ``synthetic_pairs`` row (all [C, S, S] float32, S = resolution_px; with
    an aspect bucket's ``crop = (W, H)``, [C, H, W]).

    deblur: ``target`` = AIF, ``cond`` = [DoF render]; bokeh: ``target`` = DoF render,
    ``cond`` = [AIF, defocus map] (+ the aperture kernel image with ``cfg.shape_condition``).
    RGB in [-1, 1], the map and the kernel raw in [0, 1]. Also ``k`` (K at the
    final width), ``disparity`` [1, S, S] (1/m), ``disp_focus``, ``source`` and ``id``. The rng
    draws do not depend on the task, so both tasks crop a row identically for the same rng.
    """
    root = row.get("_root")
    DECODED.limit_bytes = int(cfg.decode_cache_mb) << 20
    aif_u8 = read_rgb(row["aif_path"], root)
    bokeh_u8 = read_rgb(row["bokeh_path"], root)
    depth = read_depth_m(row["depth_path"], root)
    h, w = aif_u8.shape[:2]
    for name, shape in (("bokeh_path", bokeh_u8.shape[:2]), ("depth_path", depth.shape)):
        if tuple(shape) != (h, w):
            raise ValueError(
                f"{join_root(row[name], root)}: size {tuple(shape)} differs from the AIF "
                f"image's {(h, w)}"
            )
    g = draw_geometry(rng, w, h, cfg, train, crop)
    k_file = optics.rescale_k(row["k_genrefocus"], row["k_ref_width_px"], w)
    k = float(optics.rescale_k(k_file, w, g.width_px))
    disp = torch.from_numpy(optics.disparity_from_depth(depth))[None]
    return assemble(
        cfg,
        aif=apply_geometry(rgb_to_tensor(aif_u8), g, "rgb"),
        bokeh=apply_geometry(rgb_to_tensor(bokeh_u8), g, "rgb"),
        disparity=apply_geometry(disp, g, "disparity"),
        disp_focus=float(row["disp_focus"]),
        k=k,
        source="synthetic",
        sample_id=f"{row['scene_id']}/{row['render_id']}",
        rng=rng if train else None,
        kernel=synthetic_kernel(row, root) if cfg.shape_condition else None,
    )


def collate(samples: list[dict]) -> dict:
    """Stack samples: ``target`` [B,3,H,W], ``cond`` list of [B,C,H,W], ``k`` [B],
    ``disparity`` [B,1,H,W], ``disp_focus`` [B]; ``source`` and ``id`` stay lists."""
    if not samples:
        raise ValueError("collate: empty batch")
    n_cond = len(samples[0]["cond"])
    if any(len(s["cond"]) != n_cond for s in samples):
        raise ValueError("collate: samples have different numbers of conditions")
    return {
        "target": torch.stack([s["target"] for s in samples]),
        "cond": [torch.stack([s["cond"][i] for s in samples]) for i in range(n_cond)],
        "k": torch.tensor([s["k"] for s in samples], dtype=torch.float32),
        "disparity": torch.stack([s["disparity"] for s in samples]),
        "disp_focus": torch.tensor([s["disp_focus"] for s in samples], dtype=torch.float32),
        "source": [s["source"] for s in samples],
        "id": [s["id"] for s in samples],
    }
