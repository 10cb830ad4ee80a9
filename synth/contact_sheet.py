"""Contact sheets for a human look: one row per scene, AIF | depth | DoF renders | CoC map.

Depth is shown as disparity (near = bright) and the CoC map of the first DoF render in a
diverging palette (blue in front of the focus plane, red behind, white in focus).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from optics import disparity_from_depth
from synth.shard import scene_dir

# A perceptual ramp (dark blue -> teal -> yellow), 5 stops, linearly interpolated.
_RAMP = np.array(
    [
        [0.27, 0.00, 0.33],
        [0.23, 0.32, 0.55],
        [0.13, 0.57, 0.55],
        [0.37, 0.79, 0.38],
        [0.99, 0.91, 0.14],
    ]
)


def colormap(x: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB through ``_RAMP``."""
    x = np.clip(np.nan_to_num(x), 0, 1) * (len(_RAMP) - 1)
    i = np.minimum(x.astype(int), len(_RAMP) - 2)
    f = (x - i)[..., None]
    return ((_RAMP[i] * (1 - f) + _RAMP[i + 1] * f) * 255).astype(np.uint8)


def depth_image(depth_m: np.ndarray) -> np.ndarray:
    disp = disparity_from_depth(depth_m)
    hi = np.percentile(disp, 99) or 1.0
    return colormap(disp / hi)


def coc_image(coc_px: np.ndarray) -> np.ndarray:
    m = float(np.abs(coc_px).max()) or 1.0
    t = np.clip(coc_px / m, -1, 1)[..., None]
    white = np.ones(3)
    blue, red = np.array([0.15, 0.35, 0.9]), np.array([0.9, 0.2, 0.15])
    rgb = np.where(t < 0, white * (1 + t) + blue * (-t), white * (1 - t) + red * t)
    return (rgb * 255).astype(np.uint8)


def write_contact_sheet(out: Path, scene_ids: list[int], path: Path, max_rows: int = 8):
    """Write the sheet for up to ``max_rows`` finished scenes; returns the path (or None)."""
    scene_ids = list(scene_ids)[:max_rows]
    if not scene_ids:
        return None
    rows = []
    for sid in scene_ids:
        try:
            rows.append(_scene_row(Path(out), sid))
        except (OSError, ValueError, KeyError, IndexError):  # a file damaged after its commit:
            continue  # the sheet shows the others (the next run renders that scene again)
    if not rows:
        return None
    h, w = rows[0][0][0].shape[:2]
    scale = max(1, 160 // w)
    tw, th = w * scale, h * scale
    ncols = max(len(t) for t, _ in rows)
    sheet = Image.new("RGB", (ncols * tw, len(rows) * (th + 12)), "black")
    draw = ImageDraw.Draw(sheet)
    for i, (tiles, labels) in enumerate(rows):
        for j, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
            img = Image.fromarray(tile).resize((tw, th), Image.NEAREST)
            sheet.paste(img, (j * tw, i * (th + 12) + 12))
            draw.text((j * tw + 2, i * (th + 12)), label, fill="white")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _scene_row(out: Path, sid: int) -> tuple[list, list]:
    d = scene_dir(out, sid)
    meta = json.loads((d / "meta.json").read_text())
    depth = np.load(d / "depth.npy")
    tiles = [np.asarray(Image.open(d / "aif.png").convert("RGB")), depth_image(depth)]
    labels = [f"#{sid} AIF", "disparity"]
    for r in meta["rows"]:
        tiles.append(np.asarray(Image.open(out / r["bokeh_path"]).convert("RGB")))
        labels.append(f"f/{r['f_number']:.3g} S={r['focus_distance_m']:.2f}m")
    tiles.append(coc_image(np.load(out / meta["rows"][0]["coc_path"])))
    labels.append("CoC #0 (px)")
    return tiles, labels
