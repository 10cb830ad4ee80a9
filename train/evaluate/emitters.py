"""Where a synthetic scene's highlight emitters are, from the render's own ``meta.json``.

Set v2's truth draws every emitter's disc exactly, crisp at any K, as real bokeh is; the
controllability regions must leave out every disc, not only those of the AIF's clipped pixels
(:func:`train.evaluate.control.highlight_zone`). A scene folder's ``meta.json`` holds its spec:
the camera and each emitter's position and radius (camera frame, m). :func:`read_emitters` turns
them into ``(col, row, disparity, radius_px)`` at the working size (pinhole projection, the
sensor fitted horizontally, as synth renders). A scene without ``meta.json`` has no emitter list
(None: the AIF's spots stand in); a malformed one is one ``OSError`` line naming the file.
"""

from __future__ import annotations

import json
import math
import posixpath

import numpy as np

from train.data.build import read_bytes

MAX_EMITTERS = 100_000
MAX_META_BYTES = 64 * 2**20


def _number(x, what: str, positive: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{what} is not a number")
    v = float(x)
    if not math.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"{what} must be a finite number{' > 0' if positive else ''}")
    return v


def emitters_from_spec(spec: dict, width_px: int, height_px: int) -> np.ndarray:
    """``(N, 4)`` float64: each emitter's pinhole centre (col, row from the top-left, px) at a
    ``width_px × height_px`` frame, its disparity (1/m) and its pinhole radius (px); emitters
    behind the camera are left out. ``ValueError`` naming the bad field."""
    cam = spec["camera"]
    focal_m = _number(cam["focal_length_mm"], "camera.focal_length_mm", True) * 1e-3
    pitch_m = _number(cam["sensor_width_mm"], "camera.sensor_width_mm", True) * 1e-3 / width_px
    highlights = spec["highlights"]
    if not isinstance(highlights, list) or len(highlights) > MAX_EMITTERS:
        raise ValueError(f"highlights must be a list of at most {MAX_EMITTERS}")
    out = []
    for i, h in enumerate(highlights):
        loc = h["location_m"]
        if not isinstance(loc, list) or len(loc) != 3:
            raise ValueError(f"highlights[{i}].location_m must be 3 numbers")
        x, y, zc = (_number(v, f"highlights[{i}].location_m") for v in loc)
        radius = _number(h["radius_m"], f"highlights[{i}].radius_m", True)
        z = -zc
        if z <= 0:
            continue
        scale = focal_m / (z * pitch_m)
        out.append((x * scale + width_px / 2, height_px / 2 - y * scale, 1.0 / z, radius * scale))
    return np.asarray(out, np.float64).reshape(-1, 4)


def read_emitters(row: dict, width_px: int, height_px: int) -> np.ndarray | None:
    """The emitters of ``row``'s scene (its ``meta.json`` beside the AIF) at the working size, or
    None when the folder has no ``meta.json``."""
    path = posixpath.join(posixpath.dirname(str(row["aif_path"])), "meta.json")
    try:
        data = read_bytes(path, row.get("_root"))
    except OSError:
        return None
    try:
        if len(data) > MAX_META_BYTES:
            raise ValueError(f"over {MAX_META_BYTES} bytes")
        return emitters_from_spec(json.loads(data)["spec"], width_px, height_px)
    except (ValueError, KeyError, TypeError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise OSError(f"{path}: not a scene meta.json with an emitter list ({why})") from None
