"""An external pipeline's images as a benchmark method: a predictions folder (the layout of
``train.evaluate.predictions``) scored where the benchmark would run BokehNet.

Names follow the set's row ids (docs/benchmark.md): ``bokeh/<scene>_<render>.png`` for each
regular DoF render of a scene (AIF + that render's focus and K in, the Cycles render expected),
and ``sweep/<scene>_<i>.png`` for the i-th frame of the scene's Cycles K sweep (i = 0 is K = 0,
then by increasing K, all at render 0's focus plane), ``<scene>`` six digits and the rest two,
as in the render's own tree. :func:`expected_predictions` lists them with their sizes and the
conditions that make each one (:func:`write_inputs` writes that list as ``inputs.json`` for a
user's pipeline); :class:`Predicted` answers the benchmark's ``bokeh(..., key=)`` calls from the
folder, read and checked once.
"""

from __future__ import annotations

import json
from pathlib import Path

from infra.files import atomic_write
from infra.images import write_kernel_png
from train.data.build import rgb_to_tensor
from train.evaluate.predictions import read_predictions
from train.evaluate.scenes import Scene, bokeh_name, render_number, scene_number, sweep_name
from train.evaluate.sweeps import cycles_sweep

LABEL = "predictions"
KERNELS = "kernels"  # beside inputs.json: <scene:06d>_<render:02d>.png, each render's aperture


def expected_predictions(scenes: list[Scene]) -> dict[str, dict]:
    """Every prediction the benchmark scores on ``scenes``: name -> its size and conditions
    (scene, render, focus disparity in 1/m, K at the set's width, the AIF and depth files)."""
    out = {}
    for sc in scenes:
        h, w = sc.aif.shape[-2:]
        base = {"scene_id": scene_number(sc), "width_px": int(w), "height_px": int(h)}
        for r in sc.renders:
            out[bokeh_name(sc, r)] = {
                **base,
                "render_id": render_number(r),
                "disp_focus_per_m": r["disp_focus"],
                "k": r["k"],
            }
        sweep = cycles_sweep(sc)
        if sweep is not None:
            df = sc.renders[0]["disp_focus"]
            for i, k in enumerate(sweep[0]):
                out[sweep_name(sc, i)] = {**base, "sweep_index": i, "disp_focus_per_m": df, "k": k}
    return out


def write_inputs(scenes: list[Scene], rows_by_scene: dict[int, dict], path: Path) -> int:
    """``inputs.json`` at ``path``: per expected prediction its conditions, with the scene's AIF
    and depth files (``rows_by_scene``: scene id -> a manifest row, for its ``aif_path``,
    ``depth_path`` and manifest root) and the render's aperture kernel (a sweep frame: render
    0's), written as a kernel PNG (``infra.images.write_kernel_png``, as ``aperture_kernel_path``
    files are) in :data:`KERNELS` beside ``path``. Returns the number of predictions listed."""
    expected = expected_predictions(scenes)
    kernels = {  # (scene, render) -> its aperture kernel, written once beside the list
        (scene_number(sc), render_number(r)): r["kernel_raw"] for sc in scenes for r in sc.renders
    }
    folder, written = Path(path).parent / KERNELS, set()
    for item in expected.values():
        row = rows_by_scene[item["scene_id"]]
        item["aif_file"] = str(Path(row["_root"]) / row["aif_path"])
        item["depth_file"] = str(Path(row["_root"]) / row["depth_path"])
        key = (item["scene_id"], item.get("render_id", 0))  # a sweep frame: render 0's lens
        kernel_file = folder / f"{key[0]:06d}_{key[1]:02d}.png"
        if key not in written:
            atomic_write(kernel_file, lambda p, k=kernels[key]: write_kernel_png(p, k))
            written.add(key)
        item["kernel_file"] = str(kernel_file)
    text = json.dumps({"predictions": expected}, indent=1, sort_keys=True)
    atomic_write(path, lambda p: Path(p).write_text(text))
    return len(expected)


class Predicted:
    """A predictions folder as the benchmark's candidate method: :meth:`bokeh` returns the
    image named ``key`` ([1, 3, H, W] in [-1, 1]); the folder is checked whole when built
    (``train.evaluate.predictions.read_predictions``: one-line ``PredictionsError``)."""

    label = LABEL

    def __init__(self, folder, scenes: list[Scene]):
        sizes = {
            name: (item["width_px"], item["height_px"])
            for name, item in expected_predictions(scenes).items()
        }
        self.images = read_predictions(folder, sizes)

    def bokeh(self, image, disparity, disp_focus: float, k: float, kernel=None, key=None):
        """The prediction named ``key`` (the other arguments are what the external pipeline
        was given to make it)."""
        return rgb_to_tensor(self.images[key])[None]
