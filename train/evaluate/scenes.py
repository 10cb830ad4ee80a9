"""The benchmark's held-out scenes: every depth-of-field render of a ``synthetic_pairs`` scene
with its AIF and depth, read once and resized to the models' working size.

Frames are never cropped: sides are rounded to a multiple of the models' granularity, K is
rescaled with the width (``optics.rescale_k``), depth is resized nearest (no phantom depths at
occlusion edges) and each render's aperture is a kernel (``train.data.build.synthetic_kernel``)
and its condition image (``train.conditions.kernel_image``). Bad input is one
:class:`BenchmarkError` line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

import optics
from train.conditions import kernel_image
from train.data.build import load_rows, read_depth_m, read_rgb, rgb_to_tensor, synthetic_kernel
from train.evaluate.edges import edge_band
from train.evaluate.emitters import read_emitters
from train.evaluate.sets import BenchmarkSet, SetError, check_rows


class BenchmarkError(ValueError):
    """Bad input to the benchmark; ``str()`` is one line naming what is wrong."""


@dataclass
class Scene:
    key: str
    aif: torch.Tensor  # [1, 3, H, W] in [-1, 1] at the working size
    disparity: torch.Tensor  # [1, 1, H, W], 1/m
    # dof [1, 3, H, W], k (at the working width), disp_focus, id, kernel (the render's aperture
    # as a condition image [1, 3, H, W], for a BokehNet with model.shape_condition), band (the
    # depth-edge band), kernel_raw, shape: the regular renders, scored by every section
    renders: list[dict]
    sweep: list[dict] = field(default_factory=list)  # a set's K-sweep renders (the same keys)
    # a synthetic scene's emitters at the working size (col, row, disparity, radius px), from
    # its meta.json (train.evaluate.emitters); None without one
    emitters: np.ndarray | None = None


# The row ids a predictions folder names its files by (train.evaluate.predicted).


def scene_number(sc: Scene) -> int:
    """The scene id of a benchmark scene (its key is ``dataset_id/scene_id``)."""
    return int(sc.key.rsplit("/", 1)[-1])


def render_number(render: dict) -> int:
    return int(render["id"].rsplit("/", 1)[-1])


def bokeh_name(sc: Scene, render: dict) -> str:
    return f"bokeh/{scene_number(sc):06d}_{render_number(render):02d}.png"


def sweep_name(sc: Scene, index: int) -> str:
    return f"sweep/{scene_number(sc):06d}_{index:02d}.png"


def resize(img: np.ndarray, w: int, h: int, resample) -> np.ndarray:
    if img.shape[1] == w and img.shape[0] == h:
        return img
    return np.asarray(Image.fromarray(img).resize((w, h), resample))


def load_scenes(
    manifests: list[str], granularity: int, max_scenes: int = 0, bset: BenchmarkSet | None = None
) -> list[Scene]:
    """Held-out scenes at the working size (sides rounded to ``granularity``). ``bset``: the
    rows must be that benchmark set (``train.evaluate.sets.check_rows``), and the renders past
    its ``regular_renders`` are each scene's sweep; without it every render is regular."""
    try:
        rows = load_rows(manifests, "synthetic_pairs")
    except Exception as e:  # noqa: BLE001 - any unreadable manifest is one line
        raise BenchmarkError(f"{', '.join(manifests)}: no readable synthetic_pairs ({e})") from None
    if bset is not None:
        try:
            check_rows(bset, rows, ", ".join(manifests))
        except SetError as e:
            raise BenchmarkError(str(e)) from None
    by_scene: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("bokeh_path"):
            by_scene[f"{r.get('dataset_id', '')}/{r['scene_id']}"].append(r)
    if not by_scene:
        raise BenchmarkError(f"{', '.join(manifests)}: no depth-of-field renders (bokeh_path)")
    scenes = []
    for key in sorted(by_scene)[: max_scenes or None]:
        group = sorted(by_scene[key], key=lambda r: r["render_id"])
        sc = _scene(key, group, granularity)
        if bset is not None:
            sc.renders, sc.sweep = (
                sc.renders[: bset.regular_renders],
                sc.renders[bset.regular_renders :],
            )
        scenes.append(sc)
    return scenes


def _scene(key: str, group: list[dict], gran: int) -> Scene:
    r0 = group[0]
    aif = read_rgb(r0["aif_path"], r0["_root"])
    depth = read_depth_m(r0["depth_path"], r0["_root"])
    h, w = aif.shape[:2]
    if depth.shape != (h, w):
        raise BenchmarkError(f"{r0['depth_path']}: depth {depth.shape} vs AIF {(h, w)}")
    ww, hh = max(gran, round(w / gran) * gran), max(gran, round(h / gran) * gran)
    disp = optics.disparity_from_depth(resize(depth, ww, hh, Image.NEAREST))
    renders = []
    for r in group:
        dof = read_rgb(r["bokeh_path"], r["_root"])
        if dof.shape[:2] != (h, w):
            raise BenchmarkError(f"{r['bokeh_path']}: {dof.shape[:2]} vs the AIF's {(h, w)}")
        k = float(optics.rescale_k(r["k_genrefocus"], r["k_ref_width_px"], ww))
        try:
            kernel_raw = synthetic_kernel(r, r["_root"])
            kernel = kernel_image(kernel_raw, hh, ww)[None]
        except ValueError as e:  # optics.aperture.KernelError: one line naming the file
            raise BenchmarkError(str(e)) from None
        renders.append(
            {
                "dof": rgb_to_tensor(resize(dof, ww, hh, Image.BICUBIC))[None],
                "k": k,
                "disp_focus": float(r["disp_focus"]),
                "id": f"{key}/{r['render_id']}",
                "kernel": kernel,
                "kernel_raw": kernel_raw,  # the square kernel (optics.aperture conventions)
                "band": edge_band(optics.signed_coc_radius_px(disp, float(r["disp_focus"]), k)),
                "shape": r.get("aperture_shape_id"),  # a shaped render's label, else None
            }
        )
    aif_t = rgb_to_tensor(resize(aif, ww, hh, Image.BICUBIC))[None]
    disp_t = torch.from_numpy(np.ascontiguousarray(disp))[None, None]
    try:
        emitters = read_emitters(r0, ww, hh)
    except OSError as e:
        raise BenchmarkError(str(e)) from None
    return Scene(key, aif_t, disp_t, renders, emitters=emitters)
