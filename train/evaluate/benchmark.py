"""The refocus benchmark: trained DeblurNet and BokehNet against path-traced truth, whole frames.

A held-out ``synthetic_pairs`` manifest holds, per scene, the all-in-focus image, planar depth
and several Cycles depth-of-field renders at different focus distances and f-numbers, each with
its exact K and focus disparity. Frames are resized once to the models' working size (sides a
multiple of both models' granularity; K rescaled with the width) and never cropped. Sections:

* ``deblur``: each DoF render in, the AIF expected (DeblurNet, and the input itself as the
  identity row); ``deblur_sharp``: the AIF in, the AIF expected (a deblurrer must leave sharp
  pixels alone).
* ``bokeh``: AIF + the render's defocus map in, the Cycles render expected (BokehNet, the
  classical reference renderer ``optics.render_bokeh``, and "return the AIF"); beside the whole
  frame, PSNR and SSIM in the render's depth-edge band (``train.evaluate.edges``).
* ``refocus``: render *a* in, render *b* of the same scene expected (DeblurNet then BokehNet,
  DeblurNet then the reference, and render *a* itself as the identity row); with the edge band.
* ``lvcorr`` and ``lvcorr_0_30``: the paper's ``−pearson(K, Laplacian variance)`` over the
  eval K sweep and over {0, 5, …, 30}, one AIF per scene at its first render's focus plane
  (grid-dependent: BokehNet and the reference on the same grid).
* ``control``: on the scenes with a Cycles K sweep at one focus (``train.evaluate.sweeps``),
  the controllability family of ``train.evaluate.control`` for Cycles, the reference, "return
  the AIF" and BokehNet (docs/benchmark.md).
* ``focus_follows``: per scene a near and a far focus plane (the median disparity of the
  nearest and of the farthest of four equal-width disparity bands) at ``focus_k``; the
  fraction of outputs whose sharpest depth band (relative to the AIF) is the one in focus.

Rows report the mean and the worst image (PSNR in dB, SSIM). Outputs: ``benchmark.json``,
``benchmark.md`` (the tables and targets), ``benchmark_grid.png``, ``k_sweep.png`` and, with
Cycles sweeps, ``lv_vs_k.png`` (LV against K per method) and ``control_strips.png`` (each
method's K strip beside Cycles' own sweep).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from infra.files import atomic_write
from train.data.build import load_rows
from train.evaluate.methods import Model
from train.evaluate.predicted import Predicted, write_inputs
from train.evaluate.predictions import PredictionsError
from train.evaluate.scenes import BenchmarkError, Scene, load_scenes
from train.evaluate.sections import (
    K_GRID_0_30,
    Scores,
    bokeh_section,
    controllability,
    deblur_and_refocus,
)
from train.evaluate.sets import BenchmarkSet
from train.evaluate.shapes import shape_section
from train.evaluate.sweeps import control_section, lv_figure, strip_rows
from train.evaluate.targets import check_targets, table_markdown
from train.outputs import json_safe, write_sample_grid


def run_benchmark(
    deblur: Model,
    bokeh: Model,
    scenes: list[Scene],
    focus_k: float,
    shape_bokeh=None,
    shape_scenes: list[Scene] | None = None,
) -> dict:
    """Every section over ``scenes``; returns the results and the images for the figures.
    ``shape_bokeh``: a BokehNet with the shape condition, scored in the ``shapes`` section (over
    ``shape_scenes`` when given, else ``scenes``)."""
    k_sweep = [float(k) for k in bokeh.cfg.eval.k_sweep]
    sections = {s: Scores() for s in ("deblur", "deblur_sharp", "bokeh", "refocus")}
    shots = deblur_and_refocus(deblur, bokeh, scenes, sections)
    bokeh_section(bokeh, scenes, sections["bokeh"])
    ctrl = controllability(bokeh, scenes, k_sweep, focus_k)
    results = {name: s.summary() for name, s in sections.items()}
    results["lvcorr"], results["focus_follows"] = ctrl["lvcorr"], ctrl["focus_follows"]
    results["lvcorr_0_30"], results["artifacts"] = ctrl["lvcorr_0_30"], ctrl["artifacts"]
    sweeps = control_section(bokeh, scenes)
    if sweeps is not None:
        results["control"] = sweeps["results"]
    results["setup"] = {
        "scenes": len(scenes),
        "k_sweep": k_sweep,
        "k_grid_0_30": list(K_GRID_0_30),
        "focus_k": focus_k,
        "size_px": list(scenes[0].aif.shape[-2:][::-1]),
        "deblur_steps": deblur.steps,
        "bokeh_steps": bokeh.steps,
    }
    shapes = shape_section(bokeh, shape_bokeh, shape_scenes or scenes)
    if shapes is not None:
        results["shapes"] = shapes["results"]
    return {
        "results": results,
        "shots": shots,
        "strip": ctrl["strip"],
        "k_sweep": k_sweep,
        "shape_grid": shapes["grid"] if shapes else None,
        "control_figure": sweeps["figure"] if sweeps else None,
    }


def write_outputs(out: Path, bench: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    results = bench["results"]
    results["targets"] = check_targets(results)
    # strict JSON: an IoU of no highlights is "nan", not a bare NaN token
    text = json.dumps(json_safe(results), indent=1, sort_keys=True, allow_nan=False)
    atomic_write(out / "benchmark.json", lambda p: Path(p).write_text(text))
    atomic_write(out / "benchmark.md", lambda p: Path(p).write_text(table_markdown(results)))
    if bench["shots"]:
        kinds = list(bench["shots"][0])
        rows = [[s[k][0] for k in kinds] for s in bench["shots"]]
        write_sample_grid(rows, kinds, str(out / "benchmark_grid.png"))
    if bench["strip"]:
        labels = [f"K={k:g}" for k in bench["k_sweep"]]
        strip = [list(bench["strip"]["bokehnet"]), list(bench["strip"]["reference"])]
        write_sample_grid(strip, labels, str(out / "k_sweep.png"))
    if bench.get("control_figure"):
        lv_figure(bench["control_figure"], str(out / "lv_vs_k.png"))
        rows, labels = strip_rows(bench["control_figure"])
        write_sample_grid(rows, labels, str(out / "control_strips.png"))
    if bench.get("shape_grid"):
        g = bench["shape_grid"]
        write_sample_grid(g["rows"], g["labels"], str(out / "shapes_grid.png"))
    return results


def score_predictions(predicted: Predicted, scenes: list[Scene]) -> dict:
    """The sections a predictions folder answers (``bokeh`` with its edge band, and
    ``control`` on the set's Cycles sweeps) with the reference and "return the AIF" beside it."""
    scores = Scores()
    bokeh_section(predicted, scenes, scores)
    results = {"bokeh": scores.summary(), "candidate": predicted.label}
    sweeps = control_section(predicted, scenes)
    if sweeps is not None:
        results["control"] = sweeps["results"]
    results["setup"] = {"scenes": len(scenes), "size_px": list(scenes[0].aif.shape[-2:][::-1])}
    return {
        "results": results,
        "shots": [],
        "strip": None,
        "k_sweep": [],
        "control_figure": sweeps["figure"] if sweeps else None,
    }


def write_set_inputs(manifests: list[str], bench_set: BenchmarkSet, path, max_scenes=0) -> int:
    """``inputs.json`` for an external pipeline: what a predictions folder for ``bench_set``
    must hold and the conditions of each file (``train.evaluate.predicted.write_inputs``)."""
    scenes = load_scenes(manifests, 1, max_scenes, bench_set)
    rows = {int(r["scene_id"]): r for r in load_rows(manifests, "synthetic_pairs")}
    return write_inputs(scenes, rows, Path(path))


def benchmark(
    deblur_run,
    bokeh_run,
    manifests: list[str],
    out,
    max_scenes: int = 0,
    focus_k: float = 20.0,
    steps: int = 0,
    shape_bokeh_run=None,
    shape_manifests: list[str] | None = None,
    bench_set: BenchmarkSet | None = None,
    predictions=None,
) -> dict:
    """Load the runs and the held-out scenes, run every section, write the outputs.
    ``shape_bokeh_run``: a BokehNet run with ``model.shape_condition`` for the shapes section;
    ``shape_manifests``: held-out scenes for that section alone (default: ``manifests``);
    ``bench_set``: the manifests must be that benchmark set (its sweeps then score the
    ``control`` section); ``predictions``: a predictions folder scored instead of the runs, on
    the set's frames at their own size (``train.evaluate.predicted``; needs ``bench_set``)."""
    if predictions is not None:
        if bench_set is None:
            raise BenchmarkError("--predictions needs --set (the files are named by its rows)")
        scenes = load_scenes(manifests, 1, max_scenes, bench_set)
        try:
            predicted = Predicted(predictions, scenes)
        except PredictionsError as e:  # names the file inside the folder, or the folder
            where = "" if e.name == os.fspath(predictions) else f"{os.fspath(predictions)}/"
            raise BenchmarkError(f"{where}{e}") from None
        return write_outputs(Path(out), score_predictions(predicted, scenes))
    deblur = Model(deblur_run, "deblurnet", steps)
    bokeh = Model(bokeh_run, "bokehnet", steps)
    shape_bokeh = Model(shape_bokeh_run, "bokehnet", steps) if shape_bokeh_run else None
    if shape_bokeh is not None and shape_bokeh.built.n_conds != 3:
        raise BenchmarkError(f"{shape_bokeh_run}: trained without model.shape_condition")
    grans = [m.cfg.granularity_px for m in (deblur, bokeh, shape_bokeh) if m is not None]
    scenes = load_scenes(manifests, max(grans), max_scenes, bench_set)
    shape_scenes = load_scenes(shape_manifests, max(grans), max_scenes) if shape_manifests else None
    return write_outputs(
        Path(out), run_benchmark(deblur, bokeh, scenes, focus_k, shape_bokeh, shape_scenes)
    )
