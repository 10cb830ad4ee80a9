"""Is the controllability truth converged? A set's Cycles K sweeps against longer renders of the
same sweeps, through the benchmark's own control forms.

For the chosen scenes of a rendered benchmark set (``--set``: checked against its definition,
e.g. ``small``; without it, any render with sweeps), each scene's Cycles sweep (the AIF at
K = 0, render 0 and the sweep renders at its focus, ``train.evaluate.sweeps.cycles_sweep``) is
rendered again at ``--samples`` (the set's own render settings, only the samples change), and
the background LV sequences of the set's sweep, the long sweep and the classical reference are
compared with ``train.evaluate.control``: the reference's truth correlation against the set's
truth and against the long one, and the set's truth against the long one (how far the set's
samples are from convergence, in the measure the benchmark uses). Prints a table and the means;
``--out`` writes JSON with every LV sequence.

  OMP_NUM_THREADS=2 .venv/bin/python bench/sweep_convergence.py --data runs/demo/synth_heldout \\
      --set small --scene-ids 0,5 --samples 512 --out /tmp/sweep_convergence.json

Measured 2026-12-07 on set v3's scenes 0, 1, 3 and 5 (2 shared cores, 128 px; 2.2-4.1, 3.6-6.2
and 4.6-16.3 s per frame at 64, 128 and 512 spp): the reference's truth correlation is 0.987
against the 32-spp sweeps and 0.993, 0.997 and 0.996 against the longer ones (the current
reference and rules), which is why set v4 renders its sweeps at 64 spp (docs/benchmark.md,
"The truth's convergence").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def long_sweep(data: Path, scene_id: int, render_ids, samples: int, photos, shape_hw):
    """The scene's ``render_ids`` rendered again at ``samples`` with the set's own settings
    (``truth_convergence.rerender``), as [0, 1] H×W×3 frames at ``shape_hw``."""
    from PIL import Image

    from bench.truth_convergence import rerender
    from synth.settings import RenderSettings
    from train.evaluate.scenes import resize

    meta = json.loads((data / "scenes" / f"{scene_id:06d}" / "meta.json").read_text())
    rs = meta["render_settings"]  # the set's own, but for the samples
    same = {f.name: rs[f.name] for f in fields(RenderSettings) if f.name in rs}
    same.pop("threads", None)
    settings = RenderSettings(**{**same, "samples": samples, "sweep_samples": 0})  # all at samples
    with tempfile.TemporaryDirectory() as t:
        frames = rerender(meta, render_ids, settings, Path(t), photos)
    h, w = shape_hw
    return [
        np.asarray(resize(np.rint(frames[i] * 255).astype(np.uint8), w, h, Image.BICUBIC)) / 255.0
        for i in render_ids
    ]


def measure(sc, data: Path, samples: int, photos) -> dict:
    from train.evaluate import control
    from train.evaluate.methods import reference
    from train.evaluate.metrics import eight_bit, unit_hwc
    from train.evaluate.scenes import render_number, scene_number
    from train.evaluate.sweeps import cycles_sweep

    ks, truth = cycles_sweep(sc)
    by_frame = {id(r["dof"]): render_number(r) for r in sc.renders + sc.sweep}
    render_ids = [by_frame[id(f)] for f in truth[1:]]
    r0 = sc.renders[0]
    df, disp = r0["disp_focus"], sc.disparity[0, 0].double().numpy()
    aif = unit_hwc(sc.aif)
    ref = [
        unit_hwc(eight_bit(reference(sc.aif, sc.disparity, k, df, r0["kernel_raw"]))) for k in ks
    ]
    t0 = time.perf_counter()
    long = [aif, *long_sweep(data, scene_number(sc), render_ids, samples, photos, disp.shape)]
    seconds = time.perf_counter() - t0

    def lv(frames):
        return control.sweep_lv(frames, disp, df, ks, aif, sc.emitters)

    lv_set, lv_long, lv_ref = lv([unit_hwc(f) for f in truth]), lv(long), lv(ref)
    return {
        "scene": scene_number(sc),
        "k": [float(k) for k in ks],
        "lv_background": {
            "set": lv_set["background"].tolist(),
            "long": lv_long["background"].tolist(),
            "reference": lv_ref["background"].tolist(),
        },
        "reference_vs_set": control.score_sweep(ks, lv_ref, lv_set).truth_correlation,
        "reference_vs_long": control.score_sweep(ks, lv_ref, lv_long).truth_correlation,
        "set_vs_long": control.score_sweep(ks, lv_set, lv_long).truth_correlation,
        "seconds_per_frame": seconds / max(1, len(render_ids)),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a rendered benchmark set (synth render)")
    p.add_argument(
        "--set", dest="bench_set", help="check the render is this set first (small, full)"
    )
    p.add_argument("--scene-ids", default="0", help="comma-separated scene ids")
    p.add_argument("--samples", type=int, default=512, help="samples of the long sweeps")
    p.add_argument("--out", help="JSON with every number")
    a = p.parse_args(argv)
    if not 1 <= a.samples <= 65536:
        p.error("--samples must be in [1, 65536]")
    try:
        wanted = {int(x) for x in a.scene_ids.split(",")}
    except ValueError:
        p.error(f"--scene-ids {a.scene_ids!r}: comma-separated integers")
    from synth.pool import PhotoCache, pool_from_index
    from train.evaluate.scenes import BenchmarkError, load_scenes, scene_number
    from train.evaluate.sets import SetError, load_set
    from train.evaluate.sweeps import cycles_sweep

    data = Path(a.data)
    index = data / "pool.json"
    photos = PhotoCache(pool_from_index(index)) if index.is_file() else None
    try:
        bset = load_set(a.bench_set) if a.bench_set else None
        scenes = load_scenes([str(data)], 1, 0, bset)
    except (BenchmarkError, SetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    chosen = [sc for sc in scenes if scene_number(sc) in wanted and cycles_sweep(sc)]
    if not chosen:
        print(f"error: {data}: none of scenes {sorted(wanted)} has a Cycles sweep", file=sys.stderr)
        return 2
    rows = []
    print(f"truth correlation of the background, {a.samples} spp long sweeps")
    print("scene  reference vs set  reference vs long  set vs long  s/frame")
    for sc in chosen:
        r = measure(sc, data, a.samples, photos)
        rows.append(r)
        print(
            f"{r['scene']:>5}  {r['reference_vs_set']:16.4f}  {r['reference_vs_long']:17.4f}"
            f"  {r['set_vs_long']:11.4f}  {r['seconds_per_frame']:7.1f}",
            flush=True,
        )
    means = {
        k: float(np.nanmean([r[k] for r in rows]))
        for k in ("reference_vs_set", "reference_vs_long", "set_vs_long")
    }
    print(
        "means: reference vs set {reference_vs_set:.4f}, reference vs long "
        "{reference_vs_long:.4f}, set vs long {set_vs_long:.4f}".format(**means)
    )
    if a.out:
        Path(a.out).write_text(
            json.dumps({"samples": a.samples, "means": means, "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
