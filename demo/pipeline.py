"""The demo's stages, each resumable: curate_photos (only with ``--photos``: the user's photos,
whose kept ones join the photo pool) -> synth (training renders, photographic scenes built from
the pool) -> synth_heldout (other scenes, never trained on: evaluation and the refocus example)
-> synth_shapes (held-out night scenes through triangle, star and heart apertures) ->
synth_stats (natural-image statistics by kind) -> synth_2p5d (the training renders' 2.5-D twins,
``python -m synth photos``) -> curate (the renders' JPEGs) -> deblur,
side by side with bokeh 1 -> bokeh_shape (BokehNet with the aperture-shape condition;
``demo.lanes``) -> bokeh 2 -> refocus ->
benchmark (whole held-out frames against Cycles; shapes on synth_shapes) -> report. A
stage that finished leaves ``OUT/stages/<name>.json``; a rerun skips it (and the stages
themselves resume inside: finished scenes, shards and checkpoints)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from demo.config import DemoConfig
from demo.stages import run_stage
from demo.training import TRAIN_LANES, train_net, train_synth_runs
from demo.twin import run_twin

REPO = Path(__file__).resolve().parents[1]


# The benchmark's small set (train/evaluate/sets/small.toml): another seed, all "val", each scene
# with a Cycles K sweep at its first render's focus.
HELDOUT_CONFIG = REPO / "synth" / "configs" / "benchmark_small.toml"
SHAPES_CONFIG = REPO / "synth" / "configs" / "shapes.toml"  # night, every render shaped, "val"


def is_small_set(cfg: DemoConfig) -> bool:
    """Whether the demo's held-out render is the benchmark's small set (a reduced demo renders
    fewer, smaller scenes at fewer samples)."""
    from train.evaluate.sets import load_set

    small = load_set("small")
    return (cfg.heldout_scenes, cfg.resolution_px, cfg.heldout_samples) == (
        len(small.spec_hashes),
        small.resolution_px,
        small.samples,
    )


def run_synth(cfg: DemoConfig, out: Path, heldout: bool = False, shapes: bool = False) -> dict:
    """Render the training set (``synth/``), the held-out set (``synth_heldout/``) that the
    networks are evaluated on and the refocus examples come from, or the aperture-shape
    showcase (``synth_shapes/``: held out too)."""
    name, scenes, extra = "synth", cfg.scenes, []
    resolution_px, samples = cfg.resolution_px, cfg.samples
    if heldout:
        name, scenes, samples = "synth_heldout", cfg.heldout_scenes, cfg.heldout_samples
        extra = ["--config", str(HELDOUT_CONFIG)]
        if not is_small_set(cfg):  # a reduced demo: its sweeps at its own samples too
            extra += ["--set", "render.sweep_samples=0"]
    elif shapes:
        name, scenes = "synth_shapes", cfg.shape_scenes
        extra = ["--config", str(SHAPES_CONFIG)]
        resolution_px, samples = cfg.shape_resolution_px, cfg.shape_samples
    cmd = [
        sys.executable,
        "-m",
        "synth",
        "render",
        "--out",
        str(out / name),
        "--scenes",
        str(scenes),
        "--resolution",
        str(resolution_px),
        "--samples",
        str(samples),
        *extra,
    ]
    for source in pool_sources(out):
        cmd += ["--photos", source]
    subprocess.run(cmd, check=True, cwd=REPO)
    stats = json.loads((out / name / "stats.json").read_text())
    kinds = scene_kinds(out / name)
    shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return {
        "stats": stats,
        "kinds": kinds,
        "pool": json.loads((out / name / "pool.json").read_text()) if kinds else None,
        "summary": f"{stats['kept']} scenes ({shown}), {stats['renders']} DoF renders",
    }


def synth_stats(cfg: DemoConfig, out: Path) -> dict:
    """How natural the training renders look, by scene kind, against the pool's photos
    (``python -m synth report``: natural_stats.{json,md,png} under ``OUT/synth/report``)."""
    from synth.report import make_report

    r = make_report(out / "synth")
    rows = {row["name"]: row for row in r["rows"]}
    shown = ", ".join(
        f"{k} {rows[k]['gradient_w1_to_reference']:.3f}" for k in rows if k != "photos"
    )
    return {
        "rows": r["rows"],
        "targets": r["targets"],
        "summary": f"log-gradient W1 to the photos: {shown}",
    }


def pool_sources(out: Path) -> list[str]:
    """The photo pool of the photographic scenes: the embedded photos, plus the user's photos
    that curation kept (``curate_photos``), when there are any."""
    sources = ["embedded"]
    curated = out / "curate_photos"
    if (curated / "real_photos").is_dir():
        from manifests import read_table

        if read_table(curated, "real_photos", columns=["uri"]).num_rows:
            sources.append(str(curated))
    return sources


def scene_kinds(root: Path) -> dict[str, int]:
    """Scenes per kind in a render root."""
    from manifests import read_table

    t = read_table(root, "synthetic_pairs", columns=["scene_id", "scene_kind"]).to_pylist()
    kinds: dict[str, int] = {}
    for _, kind in {(r["scene_id"], r["scene_kind"] or "procedural") for r in t}:
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def _curate(inputs: list[str], folder: Path, min_short_side_px: int) -> dict:
    cmd = [sys.executable, "curate/job.py"]
    for x in inputs:
        cmd += ["--input", x]
    cmd += [
        "--out",
        str(folder),
        "--set",
        f"filters.min_short_side_px={min_short_side_px}",
        "--num-cpus",
        "2",
    ]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    subprocess.run(cmd, check=True, cwd=REPO, env=env)
    stats = json.loads((folder / "stats.json").read_text())
    return {"stats": stats, "summary": f"{stats['kept']} photos kept, {stats['rejected']} rejected"}


def curate_photos(cfg: DemoConfig, out: Path) -> dict:
    """The user's photos (``--photos``), curated before anything renders: those kept join the
    photo pool of the photographic scenes, and (with ``--depth-model``) BokehNet stage 2."""
    return _curate(cfg.photos, out / "curate_photos", 64)


def run_curate(cfg: DemoConfig, out: Path) -> dict:
    """The training renders' JPEGs (camera EXIF, true depth beside them) through curation."""
    jpegs = sorted(str(p) for p in (out / "synth" / "scenes").glob("*/dof_*.jpg"))
    return _curate(jpegs, out / "curate", max(32, cfg.resolution_px // 2))


def _absolute(uri: str, root: Path) -> str:
    """A manifest path as an absolute URI (relative ones are under ``root``)."""
    from infra.uri import file_uri, is_uri

    return uri if is_uri(uri) else file_uri((root / uri).resolve())


def real_manifest_with_depth(cfg: DemoConfig, out: Path) -> dict:
    """The curated photos usable by the real route: renders get their true depth (they are
    synth JPEGs); other photos need --depth-model."""
    from manifests import read_table, write_part

    rows = [
        dict(r, uri=_absolute(r["uri"], out / folder))
        for folder in ("curate", "curate_photos")
        if (out / folder / "real_photos").is_dir()
        for r in read_table(out / folder, "real_photos").to_pylist()
    ]
    from infra.uri import FILE_SCHEME, file_path, file_uri

    keep = []
    scenes = (out / "synth" / "scenes").resolve()
    for r in rows:
        uri = r["uri"]
        path = Path(file_path(uri)) if uri.startswith(FILE_SCHEME) else None
        if path is not None and scenes in path.parents:
            keep.append(dict(r, uri=file_uri(path), depth_path=file_uri(path.parent / "depth.npy")))
        elif cfg.depth_model:
            keep.append(r)
    if keep:
        write_part(keep, str(out / "real"), "real_photos", 0, created_by="demo")
    return {"photos": len(keep), "summary": f"{len(keep)} curated photos for stage 2"}


def refocus_input(rows: list[dict]) -> dict:
    """The render the demo refocuses: of the first held-out scene, the render with the least
    defocus (smallest K). A render focused far at f/1.9 blurs near objects by tens of pixels,
    which the tiny DeblurNet cannot undo; refocusing its soft all-in-focus image then shows the
    deblurrer's limit rather than the refocusing (docs/train-history.md)."""
    if not rows:
        raise ValueError("refocus_input: no held-out renders")
    first = min(r["scene_id"] for r in rows)
    scene = [r for r in rows if r["scene_id"] == first]
    return min(scene, key=lambda r: (r["k_genrefocus"], r["render_id"]))


def refocus_examples(cfg: DemoConfig, out: Path) -> dict:
    """A held-out render refocused near, middle and far (focus points at depth percentiles)."""
    import numpy as np
    from PIL import Image

    from manifests import read_table
    from train.refocus import refocus

    synth = out / "synth_heldout"
    row = refocus_input(read_table(synth, "synthetic_pairs").to_pylist())
    image = np.asarray(Image.open(synth / row["bokeh_path"]).convert("RGB"))
    depth = np.load(synth / row["depth_path"])
    finite = np.where(np.isfinite(depth), depth, np.nan)
    folder = out / "refocus"
    folder.mkdir(exist_ok=True)
    Image.fromarray(image).save(folder / "input.png")
    labels, points, depths = [], [], []
    for label, q in (("near", 10), ("middle", 50), ("far", 90)):
        target = np.nanpercentile(finite, q)
        y, x = np.unravel_index(np.nanargmin(np.abs(finite - target)), depth.shape)
        labels.append(label)
        points.append((x / (depth.shape[1] - 1), y / (depth.shape[0] - 1)))
        depths.append(float(target))
    bokeh = out / "bokeh_stage2" if (out / "bokeh_stage2").is_dir() else out / "bokeh_stage1"
    res = refocus(out / "deblur", bokeh, image, points, cfg.refocus_k, depth_m=depth)
    shots = []
    for label, point, z, img in zip(labels, points, depths, res["images"], strict=True):
        Image.fromarray(img).save(folder / f"{label}.png")
        shots.append(
            {"label": label, "focus_xy": point, "depth_m": z, "file": f"refocus/{label}.png"}
        )
    Image.fromarray(res["aif"]).save(folder / "aif.png")
    return {
        "dataset": row["dataset_id"],
        "scene": row["scene_id"],
        "render": row["render_id"],
        "f_number": row["f_number"],
        "focus_distance_m": row["focus_distance_m"],
        "shots": shots,
        "k": res["k"],
        "summary": f"scene {row['scene_id']} refocused near/middle/far at K={res['k']:.3g}",
    }


def run_benchmark(cfg: DemoConfig, out: Path) -> dict:
    """The trained pair against Cycles on the held-out scenes, whole frames
    (train.evaluate.benchmark)."""
    from train.evaluate.benchmark import benchmark
    from train.evaluate.sets import load_set

    bokeh = out / "bokeh_stage2" if (out / "bokeh_stage2").is_dir() else out / "bokeh_stage1"
    r = benchmark(
        out / "deblur",
        bokeh,
        [str(out / "synth_heldout")],
        out / "benchmark",
        shape_bokeh_run=out / "bokeh_shape" if (out / "bokeh_shape").is_dir() else None,
        shape_manifests=[str(out / "synth_shapes")] if (out / "synth_shapes").is_dir() else None,
        bench_set=load_set("small") if is_small_set(cfg) else None,  # a reduced demo: not the set
    )
    b, rf = r["bokeh"], r["refocus"]
    summary = (
        f"bokeh PSNR {b['bokehnet']['psnr']:.2f} (reference {b['reference']['psnr']:.2f}, "
        f"AIF {b['aif']['psnr']:.2f}); edge band {b['bokehnet']['psnr_band']:.2f} (reference "
        f"{b['reference']['psnr_band']:.2f}); focus follows {r['focus_follows']['bokehnet']:.2f}; "
        f"refocus {rf['deblurnet + bokehnet']['psnr']:.2f} (identity "
        f"{rf['identity (input render)']['psnr']:.2f})"
    )
    if r.get("control"):
        c = r["control"]["methods"]
        summary += (
            f"; on Cycles K sweeps Spearman bg {c['bokehnet']['spearman_background']:.3f} / truth "
            f"corr {c['bokehnet']['truth_correlation']:.3f} / dyn. range x"
            f"{c['bokehnet']['dynamic_range_ratio']:.2f} (reference "
            f"{c['reference']['spearman_background']:.3f} / "
            f"{c['reference']['truth_correlation']:.3f} / "
            f"x{c['reference']['dynamic_range_ratio']:.2f})"
        )
    if r.get("shapes"):
        rows = r["shapes"]["rows"]
        iou = {m: v["iou_kernel"] for m, v in rows.items()}
        summary += (
            f"; shape IoU {iou['bokehnet (shape)']:.2f} (no shape {iou['bokehnet']:.2f}, "
            f"Cycles {iou['cycles (truth)']:.2f})"
        )
    return {"results": r, "summary": summary}


def run_demo(cfg: DemoConfig, fresh: bool = False) -> dict:
    out = Path(cfg.out)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo_config.json").write_text(json.dumps(asdict(cfg), indent=1))
    results = {}
    if cfg.photos:
        results["curate_photos"] = run_stage(out, "curate_photos", curate_photos, cfg, out)
    results |= {
        "synth": run_stage(out, "synth", run_synth, cfg, out),
        "synth_heldout": run_stage(out, "synth_heldout", run_synth, cfg, out, True),
        "synth_shapes": run_stage(out, "synth_shapes", run_synth, cfg, out, False, True),
        "synth_stats": run_stage(out, "synth_stats", synth_stats, cfg, out),
        "synth_2p5d": run_stage(out, "synth_2p5d", run_twin, out),
        "curate": run_stage(out, "curate", run_curate, cfg, out),
        "real": run_stage(out, "real", real_manifest_with_depth, cfg, out),
    }
    results |= train_synth_runs(cfg, out, TRAIN_LANES)
    if results["real"]["photos"]:
        results["bokeh_stage2"] = run_stage(
            out, "bokeh_stage2", train_net, cfg, out, "bokeh_stage2"
        )
    results["refocus"] = run_stage(out, "refocus", refocus_examples, cfg, out)
    results["benchmark"] = run_stage(out, "benchmark", run_benchmark, cfg, out)
    from demo.report import write_report

    report = write_report(out, results)
    d = results["deblur"]["metrics"]
    b = results.get("bokeh_stage2", results["bokeh_stage1"])["metrics"]
    c = results["curate"]["stats"]
    print(f"\nreport: {report}")
    print(f"DeblurNet PSNR gain over the blurry input: {d['psnr'] - d['psnr_identity']:+.2f} dB")
    print(f"BokehNet LVCorr (controllability): {b['lvcorr']:.3f}")
    print(f"benchmark on whole held-out frames: {results['benchmark']['summary']}")
    print(f"photos kept / rejected: {c['kept']} / {c['rejected']}")
    return results


def main(argv: list[str] | None = None) -> int:
    from infra.quiet import quiet_library_logs

    quiet_library_logs()
    p = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/demo")
    p.add_argument(
        "--photos",
        action="append",
        default=[],
        help="a folder (or s3:// prefix) of your photos to curate as well",
    )
    p.add_argument("--depth-model", help="local depth model: lets your photos join stage 2")
    p.add_argument("--fresh", action="store_true", help="start over (delete OUT first)")
    p.add_argument("--small", action="store_true", help="reduced size (tests)")
    a = p.parse_args(argv)
    photos = [x for x in a.photos if x]
    cfg = (DemoConfig.small if a.small else DemoConfig)(
        out=a.out, photos=photos, depth_model=a.depth_model
    )
    run_demo(cfg, fresh=a.fresh)
    return 0
