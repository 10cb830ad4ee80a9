"""The refocus benchmark: trained DeblurNet and BokehNet against path-traced truth, whole frames.

A held-out ``synthetic_pairs`` manifest holds, per scene, the all-in-focus image, planar depth
and several Cycles depth-of-field renders at different focus distances and f-numbers, each with
its exact K and focus disparity. Frames are resized once to the models' working size (sides a
multiple of both models' granularity; K rescaled with the width) and never cropped. Sections:

* ``deblur``: each DoF render in, the AIF expected (DeblurNet, and the input itself as the
  identity row); ``deblur_sharp``: the AIF in, the AIF expected (a deblurrer must leave sharp
  pixels alone).
* ``bokeh``: AIF + the render's defocus map in, the Cycles render expected (BokehNet, the
  classical reference renderer ``optics.render_bokeh``, and "return the AIF").
* ``refocus``: render *a* in, render *b* of the same scene expected (DeblurNet then BokehNet,
  DeblurNet then the reference, and render *a* itself as the identity row).
* ``lvcorr``: one AIF per scene at the first render's focus plane over the eval K sweep,
  ``−pearson(K, Laplacian variance)`` (BokehNet and the reference: what a perfectly controllable
  renderer scores on the same sweep).
* ``focus_follows``: per scene a near and a far focus plane (the median disparity of the
  nearest and of the farthest of four equal-width disparity bands) at ``focus_k``; the
  fraction of outputs whose sharpest depth band (relative to the AIF) is the one in focus.

Rows report the mean and the worst image (PSNR in dB, SSIM). Outputs: ``benchmark.json``,
``benchmark.md`` (the table), ``benchmark_grid.png`` and ``k_sweep.png``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import optics
from train.data.build import (
    kernel_image,
    load_rows,
    read_depth_m,
    read_rgb,
    rgb_to_tensor,
    synthetic_kernel,
)
from train.heldout import defocus_maps, generate
from train.metrics import band_medians, focus_follows, lvcorr, psnr_per_image, ssim_per_image


class BenchmarkError(ValueError):
    """Bad input to the benchmark; ``str()`` is one line naming what is wrong."""


@dataclass
class Scene:
    key: str
    aif: torch.Tensor  # [1, 3, H, W] in [-1, 1] at the working size
    disparity: torch.Tensor  # [1, 1, H, W], 1/m
    # dof [1, 3, H, W], k (at the working width), disp_focus, id, kernel (the render's aperture
    # as a condition image [1, 3, H, W], for a BokehNet with model.shape_condition)
    renders: list[dict]


class Model:
    """A trained run as ``model(conditions) -> image`` (Euler sampling, the run's eval steps)."""

    def __init__(self, run: str | Path, network: str, steps: int = 0):
        from train.refocus import load_run

        try:
            self.cfg, self.built = load_run(run)
        except (FileNotFoundError, ValueError) as e:
            raise BenchmarkError(str(e)) from None
        if self.cfg.network != network:
            raise BenchmarkError(f"{run}: a {self.cfg.network} run, expected a {network} run")
        self.steps = steps or self.cfg.eval.sample_steps

    @torch.no_grad()
    def __call__(self, conds: list[torch.Tensor], kernel: torch.Tensor | None = None):
        """The output for ``conds``; ``kernel`` (an aperture kernel image) is appended when the
        model takes one more condition (BokehNet with ``model.shape_condition``)."""
        if self.built.n_conds == len(conds) + 1 and kernel is not None:
            conds = [*conds, kernel]
        return generate(self.built.denoiser, self.built.codec, conds, self.steps, seed=0)


def _resize(img: np.ndarray, w: int, h: int, resample) -> np.ndarray:
    if img.shape[1] == w and img.shape[0] == h:
        return img
    return np.asarray(Image.fromarray(img).resize((w, h), resample))


def load_scenes(manifests: list[str], granularity: int, max_scenes: int = 0) -> list[Scene]:
    """Held-out scenes at the working size (sides rounded to ``granularity``)."""
    try:
        rows = load_rows(manifests, "synthetic_pairs")
    except Exception as e:  # noqa: BLE001 - any unreadable manifest is one line
        raise BenchmarkError(f"{', '.join(manifests)}: no readable synthetic_pairs ({e})") from None
    by_scene: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("bokeh_path"):
            by_scene[f"{r.get('dataset_id', '')}/{r['scene_id']}"].append(r)
    if not by_scene:
        raise BenchmarkError(f"{', '.join(manifests)}: no depth-of-field renders (bokeh_path)")
    scenes = []
    for key in sorted(by_scene)[: max_scenes or None]:
        group = sorted(by_scene[key], key=lambda r: r["render_id"])
        scenes.append(_scene(key, group, granularity))
    return scenes


def _scene(key: str, group: list[dict], gran: int) -> Scene:
    r0 = group[0]
    aif = read_rgb(r0["aif_path"], r0["_root"])
    depth = read_depth_m(r0["depth_path"], r0["_root"])
    h, w = aif.shape[:2]
    if depth.shape != (h, w):
        raise BenchmarkError(f"{r0['depth_path']}: depth {depth.shape} vs AIF {(h, w)}")
    ww, hh = max(gran, round(w / gran) * gran), max(gran, round(h / gran) * gran)
    disp = optics.disparity_from_depth(_resize(depth, ww, hh, Image.NEAREST))
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
                "dof": rgb_to_tensor(_resize(dof, ww, hh, Image.BICUBIC))[None],
                "k": k,
                "disp_focus": float(r["disp_focus"]),
                "id": f"{key}/{r['render_id']}",
                "kernel": kernel,
                "kernel_raw": kernel_raw,  # the square kernel (optics.aperture conventions)
                "shape": r.get("aperture_shape_id"),  # a shaped render's label, else None
            }
        )
    aif_t = rgb_to_tensor(_resize(aif, ww, hh, Image.BICUBIC))[None]
    return Scene(key, aif_t, torch.from_numpy(np.ascontiguousarray(disp))[None, None], renders)


def reference(aif: torch.Tensor, disparity: torch.Tensor, k: float, disp_focus: float, kernel=None):
    """``optics.render_bokeh`` on tensors ([1, 3, H, W] in [-1, 1] in and out), blurring in
    linear light (the images are sRGB-encoded renders and photos); ``kernel``: an aperture
    kernel (``optics.aperture`` conventions) instead of the disc."""
    img = ((aif[0].permute(1, 2, 0).double().numpy() + 1.0) / 2.0).clip(0, 1)
    disp = disparity[0, 0].double().numpy()
    out = optics.render_bokeh(img, disp, k, disp_focus, kernel=kernel, srgb=True)
    return torch.from_numpy(np.asarray(out) * 2.0 - 1.0).permute(2, 0, 1)[None].float()


class Scores:
    """Per-row PSNR/SSIM lists, summarised as mean and worst image."""

    def __init__(self):
        self.rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

    def add(self, row: str, out: torch.Tensor, target: torch.Tensor) -> None:
        self.rows[row]["psnr"].extend(psnr_per_image(out, target).tolist())
        self.rows[row]["ssim"].extend(ssim_per_image(out, target).tolist())

    def summary(self) -> dict:
        return {
            row: {
                "psnr": float(np.mean(v["psnr"])),
                "psnr_worst": float(np.min(v["psnr"])),
                "ssim": float(np.mean(v["ssim"])),
                "ssim_worst": float(np.min(v["ssim"])),
                "images": len(v["psnr"]),
            }
            for row, v in self.rows.items()
        }


def _dmap(sc: Scene, disp_focus: float, k: float) -> torch.Tensor:
    return defocus_maps(sc.disparity, torch.tensor([disp_focus]), k)


def bokeh_section(bokeh: Model, scenes: list[Scene], scores: Scores) -> None:
    """AIF + each render's defocus map in, the Cycles render expected."""
    for sc in scenes:
        for r in sc.renders:
            out = bokeh([sc.aif, _dmap(sc, r["disp_focus"], r["k"])], r["kernel"])
            ref = reference(sc.aif, sc.disparity, r["k"], r["disp_focus"])
            for row, img in (("bokehnet", out), ("reference", ref), ("aif", sc.aif)):
                scores.add(row, img, r["dof"])


def controllability(bokeh: Model, scenes: list[Scene], k_sweep, focus_k: float) -> dict:
    """LVCorr over ``k_sweep`` (first render's focus plane) and focus-follows at ``focus_k``
    (the nearest and the farthest band's median disparity), for BokehNet and the reference;
    ``strip``: the first scene's sweep images."""
    lv, follows, strip = defaultdict(list), defaultdict(list), None
    for sc in scenes:
        df0, kernel0 = sc.renders[0]["disp_focus"], sc.renders[0]["kernel"]
        sweep = {
            "bokehnet": [bokeh([sc.aif, _dmap(sc, df0, k)], kernel0)[0] for k in k_sweep],
            "reference": [reference(sc.aif, sc.disparity, k, df0)[0] for k in k_sweep],
        }
        for row, imgs in sweep.items():
            lv[row].append(lvcorr(k_sweep, imgs))
        strip = strip or sweep
        disp = sc.disparity[0, 0].numpy()
        for df in band_medians(disp)[[-1, 0]].tolist():
            if not np.isfinite(df):  # an empty band (a scene of few depths): no focus there
                continue
            outs = {
                "bokehnet": bokeh([sc.aif, _dmap(sc, df, focus_k)], kernel0),
                "reference": reference(sc.aif, sc.disparity, focus_k, df),
            }
            for row, img in outs.items():
                follows[row].append(focus_follows(img, sc.aif, disp, df))
    return {
        "lvcorr": {row: float(np.nanmean(v)) for row, v in lv.items()},
        "focus_follows": {row: float(np.mean(v)) for row, v in follows.items()},
        "strip": strip,
    }


def deblur_scene(deblur: Model, sc: Scene, sections: dict) -> list[torch.Tensor]:
    """The deblur sections of one scene: each render in, the AIF expected (DeblurNet and the
    blurry input itself), and the AIF in (``deblur_sharp``); returns the deblurred renders."""
    sections["deblur_sharp"].add("deblurnet", deblur([sc.aif]), sc.aif)
    deblurred = [deblur([r["dof"]]) for r in sc.renders]
    for r, d in zip(sc.renders, deblurred, strict=True):
        sections["deblur"].add("deblurnet", d, sc.aif)
        sections["deblur"].add("identity (blurry input)", r["dof"], sc.aif)
    return deblurred


def deblur_section(deblur: Model, scenes: list[Scene]) -> dict:
    """Only the deblur sections over ``scenes`` (no BokehNet): ``{"deblur": ..., "deblur_sharp":
    ...}``, each row's mean and worst image as in :func:`run_benchmark`."""
    sections = {s: Scores() for s in ("deblur", "deblur_sharp")}
    for sc in scenes:
        deblur_scene(deblur, sc, sections)
    return {name: s.summary() for name, s in sections.items()}


def deblur_and_refocus(deblur: Model, bokeh: Model, scenes: list[Scene], sections: dict):
    """The deblur sections, and refocus over every ordered pair of renders of a scene; returns
    up to four refocus shots for the figure."""
    shots = []
    for sc in scenes:
        deblurred = deblur_scene(deblur, sc, sections)
        for a, ra in enumerate(sc.renders):
            for b, rb in enumerate(sc.renders):
                if a == b:
                    continue
                out = bokeh([deblurred[a], _dmap(sc, rb["disp_focus"], rb["k"])], rb["kernel"])
                ref = reference(deblurred[a], sc.disparity, rb["k"], rb["disp_focus"])
                rows = (
                    ("deblurnet + bokehnet", out),
                    ("deblurnet + reference", ref),
                    ("identity (input render)", ra["dof"]),
                )
                for row, img in rows:
                    sections["refocus"].add(row, img, rb["dof"])
                if a == 0 and b == 1 and len(shots) < 4:
                    shots.append(
                        {
                            "input": ra["dof"],
                            "deblurred": deblurred[a],
                            "aif": sc.aif,
                            "bokehnet": out,
                            "reference": ref,
                            "cycles": rb["dof"],
                        }
                    )
    return shots


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
    from train.shape_bench import shape_section

    k_sweep = [float(k) for k in bokeh.cfg.eval.k_sweep]
    sections = {s: Scores() for s in ("deblur", "deblur_sharp", "bokeh", "refocus")}
    shots = deblur_and_refocus(deblur, bokeh, scenes, sections)
    bokeh_section(bokeh, scenes, sections["bokeh"])
    ctrl = controllability(bokeh, scenes, k_sweep, focus_k)
    results = {name: s.summary() for name, s in sections.items()}
    results["lvcorr"], results["focus_follows"] = ctrl["lvcorr"], ctrl["focus_follows"]
    results["setup"] = {
        "scenes": len(scenes),
        "k_sweep": k_sweep,
        "focus_k": focus_k,
        "size_px": list(scenes[0].aif.shape[-2:][::-1]),
        "deblur_steps": deblur.steps,
        "bokeh_steps": bokeh.steps,
    }
    shapes = shape_section(bokeh, shape_bokeh, shape_scenes or scenes, _dmap, reference)
    if shapes is not None:
        results["shapes"] = shapes["results"]
    return {
        "results": results,
        "shots": shots,
        "strip": ctrl["strip"],
        "k_sweep": k_sweep,
        "shape_grid": shapes["grid"] if shapes else None,
    }


def table_markdown(results: dict) -> str:
    """The results as a Markdown table (one row per section and method)."""
    lines = [
        "| section | method | PSNR dB | worst | SSIM | worst | images |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("deblur", "deblur_sharp", "bokeh", "refocus"):
        for row, v in results[name].items():
            lines.append(
                f"| {name} | {row} | {v['psnr']:.2f} | {v['psnr_worst']:.2f} | "
                f"{v['ssim']:.3f} | {v['ssim_worst']:.3f} | {v['images']} |"
            )
    lines += ["", "| controllability | LVCorr | focus follows |", "|---|---|---|"]
    for row in results["lvcorr"]:
        lines.append(
            f"| {row} | {results['lvcorr'][row]:.3f} | "
            f"{results['focus_follows'].get(row, float('nan')):.2f} |"
        )
    if results.get("shapes"):
        from train.shape_bench import shape_table

        lines += shape_table(results["shapes"])
    lines += ["", "| target | value | threshold | met |", "|---|---|---|---|"]
    for t in results.get("targets") or check_targets(results):
        met = "yes" if t["ok"] else "no"
        lines.append(f"| {t['target']} | {t['value']:.3f} | {t['threshold']:.3f} | {met} |")
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, bench: dict) -> dict:
    from infra.files import atomic_write
    from train.outputs import json_safe, write_sample_grid

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
    labels = [f"K={k:g}" for k in bench["k_sweep"]]
    strip = [list(bench["strip"]["bokehnet"]), list(bench["strip"]["reference"])]
    write_sample_grid(strip, labels, str(out / "k_sweep.png"))
    if bench.get("shape_grid"):
        g = bench["shape_grid"]
        write_sample_grid(g["rows"], g["labels"], str(out / "shapes_grid.png"))
    return results


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
) -> dict:
    """Load the runs and the held-out scenes, run every section, write the outputs.
    ``shape_bokeh_run``: a BokehNet run with ``model.shape_condition`` for the shapes section;
    ``shape_manifests``: held-out scenes for that section alone (default: ``manifests``)."""
    deblur = Model(deblur_run, "deblurnet", steps)
    bokeh = Model(bokeh_run, "bokehnet", steps)
    shape_bokeh = Model(shape_bokeh_run, "bokehnet", steps) if shape_bokeh_run else None
    if shape_bokeh is not None and shape_bokeh.built.n_conds != 3:
        raise BenchmarkError(f"{shape_bokeh_run}: trained without model.shape_condition")
    grans = [m.cfg.granularity_px for m in (deblur, bokeh, shape_bokeh) if m is not None]
    scenes = load_scenes(manifests, max(grans), max_scenes)
    shape_scenes = load_scenes(shape_manifests, max(grans), max_scenes) if shape_manifests else None
    return write_outputs(
        Path(out), run_benchmark(deblur, bokeh, scenes, focus_k, shape_bokeh, shape_scenes)
    )


# The model targets (docs/train.md): (name, value, threshold) from a results dict.
TARGETS = (
    ("BokehNet LVCorr >= 0.9", lambda r: r["lvcorr"]["bokehnet"], lambda r: 0.9),
    (
        "BokehNet LVCorr >= 0.9 x reference",
        lambda r: r["lvcorr"]["bokehnet"],
        lambda r: 0.9 * r["lvcorr"]["reference"],
    ),
    ("focus follows >= 0.9", lambda r: r["focus_follows"]["bokehnet"], lambda r: 0.9),
    (
        "bokeh PSNR > return the AIF",
        lambda r: r["bokeh"]["bokehnet"]["psnr"],
        lambda r: r["bokeh"]["aif"]["psnr"] + 1e-9,
    ),
    (
        "bokeh PSNR >= reference - 2 dB",
        lambda r: r["bokeh"]["bokehnet"]["psnr"],
        lambda r: r["bokeh"]["reference"]["psnr"] - 2.0,
    ),
    (
        "DeblurNet gain >= +1 dB",
        lambda r: r["deblur"]["deblurnet"]["psnr"] - r["deblur"]["identity (blurry input)"]["psnr"],
        lambda r: 1.0,
    ),
    (
        "DeblurNet SSIM >= the input's",
        lambda r: r["deblur"]["deblurnet"]["ssim"],
        lambda r: r["deblur"]["identity (blurry input)"]["ssim"],
    ),
    (
        "sharp inputs >= 30 dB, worst image",
        lambda r: r["deblur_sharp"]["deblurnet"]["psnr_worst"],
        lambda r: 30.0,
    ),
    (
        "refocus PSNR > identity",
        lambda r: r["refocus"]["deblurnet + bokehnet"]["psnr"],
        lambda r: r["refocus"]["identity (input render)"]["psnr"] + 1e-9,
    ),
)


# Aperture shapes (when the shapes section scored a BokehNet with the shape condition).
SHAPE_TARGETS = (
    (
        "shape IoU >= 0.7 (BokehNet with the shape)",
        lambda r: r["shapes"]["rows"]["bokehnet (shape)"]["iou_kernel"],
        lambda r: 0.7,
    ),
    (
        "shape IoU >= no-shape BokehNet + 0.05",
        lambda r: r["shapes"]["rows"]["bokehnet (shape)"]["iou_kernel"],
        lambda r: r["shapes"]["rows"]["bokehnet"]["iou_kernel"] + 0.05,
    ),
)


def check_targets(results: dict) -> list[dict]:
    """Each target of ``TARGETS`` on a results dict: name, value, threshold, ok."""
    out = []
    shaped = "bokehnet (shape)" in (results.get("shapes") or {}).get("rows", {})
    for name, value, threshold in TARGETS + (SHAPE_TARGETS if shaped else ()):
        v, t = float(value(results)), float(threshold(results))
        out.append({"target": name, "value": v, "threshold": t, "ok": bool(v >= t)})
    return out


def mean_results(runs: list[dict]) -> dict:
    """The mean of several results dicts (same keys), leaf by leaf; ``setup`` from the first."""

    def mean(vals):
        if isinstance(vals[0], dict):
            return {k: mean([v[k] for v in vals]) for k in vals[0] if k not in ("setup", "targets")}
        if isinstance(vals[0], str):  # e.g. the shapes section's figure scene
            return vals[0]
        return float(np.mean(vals))

    return {**mean(runs), "setup": runs[0]["setup"]}
