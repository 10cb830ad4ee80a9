"""The 2.5-D route's throughput: pairs per CPU-second, the job against the bare renderer call.

Builds ``--photos`` sources from scikit-image's embedded photos at ``--long-edge`` px (each with
a ``.depth.npy`` sidecar: a tilted plane with two nearer discs, 0.8-12 m), then, side by side in
one run on the same pairs (the job's own draws of focus, K and aperture):

- ``bare``: ``optics.render_bokeh`` alone, as the route calls it (``srgb=True``, band-limited
  apertures, ``photos.layer_step_px``), on arrays already in memory;
- ``job``: ``python -m synth photos`` in this process (``--workers 0``): decode, focus test,
  depth checks, the renders, PNG/npy writes, atomic commits, manifest parts;
- ``job (Ray Data)``: the same on a local Ray with ``--workers`` workers (skipped with 0).

CPU-seconds are this process's CPU time (``time.process_time``) for ``bare`` and ``job``, and
wall time × workers for the Ray run (its workers are other processes). Prints pairs per
CPU-second for each and the job's ratio to the bare call.

Measured (2026-12-07, 2 shared cores, 40 photos at 512 px, 120 pairs): bare 8.2, job 3.3
(x0.40), Ray Data with 2 workers 2.5 pairs per CPU-second (start-up included).

  .venv/bin/python bench/photos_throughput.py --photos 40 --long-edge 512 --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_sources(folder: Path, n: int, long_edge: int) -> None:
    from PIL import Image

    from infra.images import read_photo
    from synth.pool import EMBEDDED_PHOTOS, embedded_dir

    folder.mkdir(parents=True)
    for i in range(n):
        name = EMBEDDED_PHOTOS[i % 4]  # the four photographs (not the four textures)
        img = read_photo(str(embedded_dir() / name))
        h, w = img.shape[:2]
        scale = long_edge / max(h, w)
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        img = np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))
        Image.fromarray(img).save(folder / f"p{i:03d}.png")
        yy, xx = np.mgrid[0 : size[1], 0 : size[0]] / max(size)
        depth = 12.0 - 10.0 * yy
        for cx, cy, r, z in ((0.3, 0.6, 0.15, 0.8), (0.7, 0.4, 0.1, 2.0)):
            depth = np.where((xx - cx) ** 2 + (yy - cy) ** 2 < r * r, z, depth)
        np.save(folder / f"p{i:03d}.depth.npy", depth.astype(np.float32))


def bare(out: Path, cfg) -> tuple[int, float]:
    """Render the job's pairs again with the bare call; returns (pairs, CPU-seconds)."""
    from PIL import Image

    import optics
    from manifests import read_table
    from synth.photo_pairs import pair_kernel, params_from_row

    rows = read_table(out, "synthetic_pairs").to_pylist()
    inputs = []
    for r in rows:
        aif = np.asarray(Image.open(out / r["aif_path"]).convert("RGB"))
        disp = optics.disparity_from_depth(np.load(out / r["depth_path"]))
        params = params_from_row(r, r["width_px"])
        inputs.append((aif, disp, params, pair_kernel(params)))
    p = cfg.photos
    t0 = time.process_time()
    for aif, disp, pp, kernel in inputs:
        optics.render_bokeh(
            aif,
            disp,
            pp.k,
            pp.disp_focus,
            kernel=kernel,
            srgb=True,
            band_limited=True,
            layer_step_px=p.layer_step_px,
            highlight_gain=p.highlight_gain,
            highlight_threshold=p.highlight_threshold,
        )
    return len(inputs), time.process_time() - t0


def main(argv=None) -> int:
    from synth.config import load_config
    from synth.photo_job import run_photos

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=8, help="source photos (1-1000)")
    ap.add_argument("--long-edge", type=int, default=512, help="px (32-4096)")
    ap.add_argument("--workers", type=int, default=2, help="Ray Data workers (0: skip; 0-64)")
    a = ap.parse_args(argv)
    if not 1 <= a.photos <= 1000 or not 32 <= a.long_edge <= 4096 or not 0 <= a.workers <= 64:
        ap.error("--photos 1-1000, --long-edge 32-4096, --workers 0-64")
    tmp = Path(tempfile.mkdtemp(prefix="photos-bench-"))
    try:
        make_sources(tmp / "src", a.photos, a.long_edge)
        cfg = load_config(
            overrides=[f"photos.long_edge_px={a.long_edge}", "photos.min_short_side_px=16"]
        )
        t0 = time.process_time()
        stats = run_photos(str(tmp / "src"), tmp / "job", cfg, workers=0, progress=False)
        job_cpu = time.process_time() - t0
        pairs = stats["renders"]
        n_bare, bare_cpu = bare(tmp / "job", cfg)
        print(
            f"{a.photos} photos at {a.long_edge} px, {pairs} pairs ({stats['rejected']} rejected)"
        )
        print(f"bare render_bokeh      {n_bare / bare_cpu:8.3f} pairs per CPU-second")
        print(f"job (this process)     {pairs / job_cpu:8.3f} pairs per CPU-second")
        print(f"job / bare: x{(pairs / job_cpu) / (n_bare / bare_cpu):.3f}")
        if a.workers:
            t0 = time.perf_counter()
            ray_stats = run_photos(
                str(tmp / "src"), tmp / "ray", cfg, workers=a.workers, progress=False
            )
            wall = time.perf_counter() - t0
            rate = ray_stats["renders"] / (wall * a.workers)
            print(
                f"job (Ray Data, {a.workers} workers) {rate:8.3f} pairs per CPU-second "
                f"(wall x workers, Ray start-up included: {wall:.1f} s)"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
