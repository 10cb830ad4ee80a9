"""How close is the benchmark's truth to converged? Each DoF frame of a rendered set against
long renders of the same frame, on the whole frame and around its highlights.

For ``--scenes`` scenes of a rendered ``synthetic_pairs`` set (the benchmark set, e.g.
``runs/demo/synth_heldout``), the scene's own spec (same objects, lights, camera, exposure rule)
is re-rendered for the chosen DoF renders (``--renders``: render 0, the set's first regular
render, and the widest aperture of its sweep by default) without the denoiser and without
adaptive sampling, at ``--samples`` N and at 2N. Cycles' sampling pattern is fixed by the seed
(the scene id), so the 2N render's first N samples are the N render's: their difference is half
of N's noise, and the 2N render's own error against convergence is estimated as
``MSE(2N, inf) ~ MSE(N, 2N)`` (for noise that falls as 1/samples; it is an estimate, reported
as such). Per frame it prints:

* ``set vs 2N``: PSNR of the set's frame (8-bit, its own samples and denoiser) against the 2N
  render, after matching the set frame's gain to it (each render sets its exposure from its
  AIF, so the two differ by a few hundredths of an EV), on the whole frame and on the
  highlight region (pixels of the 2N render brighter than 0.5 in luminance, grown by 2 px: the
  bokeh discs of small emitters);
* ``2N est.``: the 2N render's estimated PSNR against convergence, same two regions.

The set's frame is only measured against its truth where ``2N est.`` is well above ``set vs
2N``; the issue's bar is 35 dB at every frame. Writes JSON with every number (``--out``) and a
strip of the frames and their highlight crops (``--strip``).

  OMP_NUM_THREADS=2 .venv/bin/python bench/truth_convergence.py --data runs/demo/synth_heldout \\
      --scenes 2 --samples 2048 --out /tmp/truth.json --strip /tmp/truth.png
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

HIGHLIGHT_LUMA = 0.5  # of the 2N render, in [0, 1]
GROW_PX = 2


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of images in [0, 1] over ``mask`` (``train.evaluate.edges.psnr``, peak 1;
    NaN for an empty mask)."""
    from train.evaluate.edges import psnr as masked_psnr

    if mask is not None and not mask.any():
        return float("nan")
    return masked_psnr(a, b, mask, data_range=1.0)


def gain_matched(test: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``test`` at ``ref``'s exposure (``bench/synth_denoise_fidelity.py``'s least squares)."""
    from bench.synth_denoise_fidelity import gain_matched as matched

    return matched(test, ref)[0]


def highlight_mask(img: np.ndarray) -> np.ndarray:
    """Pixels brighter than :data:`HIGHLIGHT_LUMA` (channel mean), grown by :data:`GROW_PX`."""
    from scipy.ndimage import binary_dilation

    bright = img.mean(axis=-1) > HIGHLIGHT_LUMA
    return binary_dilation(bright, iterations=GROW_PX) if bright.any() else bright


def render_frames(meta: dict, render_ids, samples: int, tmp: Path, photos) -> dict[int, np.ndarray]:
    """The scene's chosen DoF renders at ``samples``, no denoiser, no adaptive sampling."""
    from synth.settings import RenderSettings

    rs = meta["render_settings"]
    settings = RenderSettings(
        samples=samples,
        denoise=False,
        light_tree=rs["light_tree"],
        adaptive_sampling=False,
        exact_highlights=bool(rs.get("exact_highlights", False)),  # the same discs, computed
    )
    return rerender(meta, render_ids, settings, tmp, photos)


def rerender(meta: dict, render_ids, settings, tmp: Path, photos) -> dict[int, np.ndarray]:
    """The DoF renders ``render_ids`` of the scene of ``meta`` (its ``meta.json``) rendered
    again with ``settings`` into ``tmp``: render id -> H×W×3 in [0, 1]."""
    from PIL import Image

    from synth.spec import SceneSpec
    from synth.worker import render_scene_to_disk

    spec = SceneSpec.from_dict(meta["spec"])
    spec = replace(spec, dof=[spec.dof[i] for i in render_ids])
    out = render_scene_to_disk(spec, tmp, settings, photos=photos)
    base = tmp / "scenes" / f"{spec.scene_id:06d}"
    frames = {}
    for rid, row in zip(render_ids, out["rows"], strict=True):
        with Image.open(base / Path(row["bokeh_path"]).name) as im:
            frames[rid] = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
    return frames


def measure_scene(scene_dir: Path, data: Path, render_ids, samples: int, photos) -> list[dict]:
    from PIL import Image

    meta = json.loads((scene_dir / "meta.json").read_text())
    ids = [i for i in render_ids if i < len(meta["rows"])]
    rows = {int(r["render_id"]): r for r in meta["rows"]}
    with tempfile.TemporaryDirectory() as t:
        n = render_frames(meta, ids, samples, Path(t) / "n", photos)
        n2 = render_frames(meta, ids, 2 * samples, Path(t) / "n2", photos)
    out = []
    for rid in ids:
        with Image.open(data / rows[rid]["bokeh_path"]) as im:
            truth = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
        mask = highlight_mask(n2[rid])
        matched = gain_matched(truth, n2[rid])
        out.append(
            {
                "scene": int(meta["spec"]["scene_id"]),
                "render": rid,
                "f_number": rows[rid]["f_number"],
                "highlight_px": int(mask.sum()),
                "set_vs_2n_db": psnr(matched, n2[rid]),
                "set_vs_2n_highlights_db": psnr(matched, n2[rid], mask),
                "est_2n_db": psnr(n[rid], n2[rid]),
                "est_2n_highlights_db": psnr(n[rid], n2[rid], mask),
                "frames": (matched, n[rid], n2[rid]),
            }
        )
    return out


def write_strip(results: list[dict], path: str) -> None:
    """Per frame: the set's frame, the N and the 2N render (rows), full size."""
    from PIL import Image

    rows = [np.concatenate(r["frames"], axis=1) for r in results]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    img = (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)
    Image.fromarray(img).resize((img.shape[1] * 2, img.shape[0] * 2), Image.NEAREST).save(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a rendered synthetic_pairs set (synth render)")
    p.add_argument("--scenes", type=int, default=2)
    p.add_argument("--scene-ids", help="these scene ids (comma-separated) instead of the first N")
    p.add_argument("--renders", default="0,7", help="render ids per scene (7: the widest sweep)")
    p.add_argument("--samples", type=int, default=1024, help="N: renders at N and 2N samples")
    p.add_argument("--out", help="JSON with every number")
    p.add_argument("--strip", help="PNG: per frame the set's, the N and the 2N render")
    a = p.parse_args(argv)
    if not (1 <= a.samples <= 65536 and 1 <= a.scenes <= 1000):
        p.error("--samples must be in [1, 65536] and --scenes in [1, 1000]")
    from synth.pool import PhotoCache, pool_from_index

    data = Path(a.data)
    index = data / "pool.json"
    photos = PhotoCache(pool_from_index(index)) if index.is_file() else None
    render_ids = [int(x) for x in a.renders.split(",")]
    scene_dirs = sorted(d for d in (data / "scenes").iterdir() if (d / "meta.json").is_file())
    if a.scene_ids:
        wanted = {f"{int(x):06d}" for x in a.scene_ids.split(",")}
        scene_dirs = [d for d in scene_dirs if d.name in wanted]
    results, t0 = [], time.perf_counter()
    for d in scene_dirs[: a.scenes]:
        results += measure_scene(d, data, render_ids, a.samples, photos)
        print(f"scene {d.name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nTruth vs {2 * a.samples} spp (no denoiser), PSNR dB; '2N est.' = the long render's")
    print("own estimated PSNR to convergence (from its N and 2N renders):")
    print("| scene | render | f/ | set vs 2N | highlights | 2N est. | highlights | bright px |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['scene']} | {r['render']} | {r['f_number']:.1f} | {r['set_vs_2n_db']:.1f} | "
            f"{r['set_vs_2n_highlights_db']:.1f} | {r['est_2n_db']:.1f} | "
            f"{r['est_2n_highlights_db']:.1f} | {r['highlight_px']} |"
        )
    worst = min(r["set_vs_2n_db"] for r in results)
    print(f"worst frame (whole): {worst:.1f} dB; wall {time.perf_counter() - t0:.0f} s")
    if a.strip:
        write_strip(results, a.strip)
    if a.out:
        keep = [{k: v for k, v in r.items() if k != "frames"} for r in results]
        Path(a.out).write_text(json.dumps(keep, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
