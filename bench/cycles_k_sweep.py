"""LVCorr of the ground truth: Cycles renders a K sweep at a fixed focus plane, scored like the
benchmark scores BokehNet and the reference renderer on the same sweep.

The benchmark's ``lvcorr`` section (``train/evaluate/sections.py``) sweeps K over one AIF per
held-out scene at its first render's focus plane; a physically right renderer's Laplacian variance
falls fast and then flattens, so the Pearson form (the paper's) is below 1 even for the truth. This
script measures what the truth scores: for each scene of a rendered ``synthetic_pairs`` set it
re-renders the scene's own spec (same objects, lights, camera, exposure) with a round aperture
focused at the first render's focus distance, over an f-number sweep (``--f-numbers``, within the
range the sets are rendered with; the AIF of the same render is the K = 0 end), so each scene's K
values are ``K = f² W / (2000 N sensor_w)`` at the frame width. A fixed K sweep such as the
benchmark's {0, 10, 20, 40, 80} cannot be path-traced for every scene: at 128 px, K = 80 with an 18
mm lens on a full-frame sensor is f/0.007, an aperture wider than the scene, whose rays start
inside the floor and the objects. It reports, side by side on the same sweep and the same frames:

* ``cycles``: the path-traced truth;
* ``reference``: ``optics.render_bokeh`` from the AIF, true disparity, linear light;
* ``bokehnet``: a trained run (``--bokeh RUN``), at the run's working size and eval steps;

each as LVCorr (Pearson, the paper's form, and Spearman, which is 1 for any monotone fall), and
the reference's PSNR against Cycles per K. Prints a table, writes JSON with per-scene numbers.

  OMP_NUM_THREADS=1 .venv/bin/python bench/cycles_k_sweep.py --data runs/demo/synth_heldout \\
      --bokeh runs/demo/bokeh_stage2 --scenes 8 --out /tmp/cycles_k_sweep.json \
      --strip /tmp/cycles_k_sweep.png
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

F_NUMBERS = (8.0, 5.6, 4.0, 2.8, 2.0, 1.4)  # within synth's default aperture.f_number range


def sweep_spec(spec, f_numbers):
    """The scene's spec with a round-aperture DoF render per f-number at its first focus."""
    from synth.spec import DofSpec

    focus = spec.dof[0].focus_distance_m
    dofs = [DofSpec(float(n), focus, blades=0, rotation_deg=0.0, ratio=1.0) for n in f_numbers]
    return replace(spec, dof=dofs)


def render_sweep(meta: dict, f_numbers, samples: int, tmp: Path, photos=None):
    """Render one scene's sweep; returns (AIF [0,1], K values, images [0,1] (the AIF first),
    depth, focus distance)."""
    from PIL import Image

    from optics import k_synthetic
    from synth.settings import RenderSettings
    from synth.spec import SceneSpec
    from synth.worker import render_scene_to_disk

    spec = sweep_spec(SceneSpec.from_dict(meta["spec"]), f_numbers)
    rs = meta["render_settings"]
    settings = RenderSettings(samples=samples, denoise=rs["denoise"], light_tree=rs["light_tree"])
    out = render_scene_to_disk(spec, tmp, settings, photos=photos)
    base = tmp / "scenes" / f"{spec.scene_id:06d}"

    def rgb(name):
        with Image.open(base / name) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0

    aif = rgb(Path(out["rows"][0]["aif_path"]).name)
    renders = [rgb(Path(r["bokeh_path"]).name) for r in out["rows"]]
    depth = np.load(base / "depth.npy").astype(np.float64)
    cam = spec.camera
    ks = [0.0] + [
        float(k_synthetic(cam.focal_length_mm, n, cam.sensor_width_mm, spec.width_px))
        for n in f_numbers
    ]
    return aif, ks, [aif, *renders], depth, spec.dof[0].focus_distance_m


def bokehnet_sweep(model, aif01: np.ndarray, depth: np.ndarray, ks, disp_focus: float):
    """The run's outputs over the sweep at its working size (K rescaled with the width)."""
    import torch
    from PIL import Image

    import optics
    from train.data.build import rgb_to_tensor

    h, w = aif01.shape[:2]
    g = model.cfg.granularity_px
    ww, hh = max(g, round(w / g) * g), max(g, round(h / g) * g)
    aif8 = (aif01 * 255).round().astype(np.uint8)
    if (ww, hh) != (w, h):
        aif8 = np.asarray(Image.fromarray(aif8).resize((ww, hh), Image.BICUBIC))
        depth = np.asarray(
            Image.fromarray(depth.astype(np.float32)).resize((ww, hh), Image.NEAREST)
        )
    aif_t = rgb_to_tensor(aif8)[None]
    disp = torch.from_numpy(np.ascontiguousarray(optics.disparity_from_depth(depth)))[None, None]
    outs = []
    for k in ks:
        out = model.bokeh(aif_t, disp.float(), disp_focus, float(optics.rescale_k(k, w, ww)))
        outs.append(((out[0].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1))
    return outs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", required=True, help="a rendered synthetic_pairs set (scene meta.json)"
    )
    ap.add_argument("--scenes", type=int, default=8, help="first N scenes (1-1000)")
    ap.add_argument("--samples", type=int, default=0, help="Cycles samples (0: the set's)")
    ap.add_argument("--bokeh", default=None, help="a trained BokehNet run to score on the sweep")
    ap.add_argument(
        "--f-numbers", default=",".join(f"{n:g}" for n in F_NUMBERS), help="the sweep, N > 0"
    )
    ap.add_argument("--out", default=None, help="JSON results")
    ap.add_argument("--strip", default=None, help="PNG: the first scenes' sweeps, row by row")
    a = ap.parse_args(argv)
    if not 1 <= a.scenes <= 1000 or not 0 <= a.samples <= 65536:
        ap.error("--scenes must be in [1, 1000] and --samples in [0, 65536]")
    try:
        f_numbers = [float(x) for x in a.f_numbers.split(",")]
    except ValueError:
        ap.error(f"--f-numbers: not a list of numbers: {a.f_numbers!r}")
    if len(f_numbers) < 2 or not all(0.5 <= n <= 128 for n in f_numbers):
        ap.error("--f-numbers: at least two, each in [0.5, 128]")
    import optics
    from train.evaluate.metrics import lvcorr, psnr

    metas = sorted(Path(a.data).glob("scenes/*/meta.json"))[: a.scenes]
    if not metas:
        ap.error(f"{a.data}: no scenes/*/meta.json")
    model = None
    if a.bokeh:
        from train.evaluate.methods import Model

        model = Model(a.bokeh, "bokehnet")
    photos = None  # photographic scenes re-render from the set's own pool (OUT/pool.json)
    if (Path(a.data) / "pool.json").is_file():
        from synth.pool import PhotoCache, pool_from_index

        photos = PhotoCache(pool_from_index(Path(a.data) / "pool.json"))
    rows, strip, t0 = [], [], time.perf_counter()
    for i, path in enumerate(metas):
        meta = json.loads(path.read_text())
        samples = a.samples or meta["render_settings"]["samples"]
        with tempfile.TemporaryDirectory(prefix="ksweep-") as tmp:
            aif, ks, cycles, depth, focus_m = render_sweep(
                meta, f_numbers, samples, Path(tmp), photos
            )
        disp = optics.disparity_from_depth(depth)
        ref = [np.asarray(optics.render_bokeh(aif, disp, k, 1.0 / focus_m, srgb=True)) for k in ks]
        sweeps = {"cycles": cycles, "reference": ref}
        if model is not None:
            sweeps["bokehnet"] = bokehnet_sweep(model, aif, depth, ks, 1.0 / focus_m)
        if len(strip) < 3 * len(sweeps):
            strip += list(sweeps.values())
        row = {"scene": path.parent.name, "focus_m": focus_m, "k": ks}
        for name, imgs in sweeps.items():
            t = [np.moveaxis(im * 2 - 1, -1, 0) for im in imgs]  # [C, H, W] in [-1, 1]
            row[name] = {m: lvcorr(ks, t, method=m) for m in ("pearson", "spearman")}
        row["reference_psnr_vs_cycles"] = [
            psnr(np.moveaxis(r * 2 - 1, -1, 0)[None], np.moveaxis(c * 2 - 1, -1, 0)[None])
            for r, c in zip(ref, cycles, strict=True)
        ]
        rows.append(row)
        print(
            f"[{i + 1}/{len(metas)}] scene {row['scene']} focus {focus_m:.2f} m: "
            + ", ".join(f"{n} {row[n]['pearson']:.3f}" for n in sweeps)
            + f" ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    names = [n for n in ("cycles", "reference", "bokehnet") if n in rows[0]]
    summary = {
        n: {m: float(np.mean([r[n][m] for r in rows])) for m in ("pearson", "spearman")}
        for n in names
    }
    ref_psnr = np.mean([r["reference_psnr_vs_cycles"] for r in rows], axis=0).tolist()
    print(f"\nLVCorr over the AIF and f/{f_numbers} at one focus, {len(rows)} scenes (mean):")
    print("| sweep | LVCorr (Pearson) | Spearman |\n|---|---|---|")
    for n in names:
        print(f"| {n} | {summary[n]['pearson']:.3f} | {summary[n]['spearman']:.3f} |")
    if "bokehnet" in summary:
        ratio = summary["bokehnet"]["pearson"] / summary["cycles"]["pearson"]
        print(f"bokehnet / cycles (Pearson): {ratio:.3f}")
    print("reference PSNR vs Cycles per f-number: " + ", ".join(f"{p:.1f}" for p in ref_psnr[1:]))
    if a.out:
        doc = {"f_numbers": f_numbers, "summary": summary, "reference_psnr": ref_psnr, "rows": rows}
        Path(a.out).write_text(json.dumps(doc, indent=1))
    if a.strip:
        from PIL import Image

        tiles = [np.concatenate(row, axis=1) for row in strip]
        grid = (np.concatenate(tiles, axis=0) * 255).round().clip(0, 255).astype(np.uint8)
        Image.fromarray(grid).save(a.strip)
        print(f"wrote {a.strip}: rows " + ", ".join(list(sweeps) * (len(strip) // len(sweeps))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
