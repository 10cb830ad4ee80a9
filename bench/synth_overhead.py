"""How much of synth's wall time is Cycles sampling, and how many DoF renders per CPU-minute.

Renders a few default scenes at 256², 32 spp through the real pipeline (``python -m synth``'s
worker: build, depth, AIF, DoF renders, labels, PNG/JPEG/npy, meta, atomic commit, manifest,
contact sheet) and compares, side by side in one run, the time spent inside Cycles' render calls
with the pipeline's wall time. Goal: overhead (everything but render calls) <= 10 % of wall.

  .venv/bin/python bench/synth_overhead.py [--scenes 4] [--resolution 256] [--samples 32]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=int, default=4)
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()

    from synth.config import load_config
    from synth.launch import Job, run_shard_local
    from synth.pool import load_pool

    cfg = load_config(resolution_px=a.resolution, samples=a.samples)
    pool = load_pool(None) if cfg.scene.kinds.needs_photos else None  # the default kinds' photos
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench"
        job = Job(cfg=cfg, out=out, n_scenes=a.scenes, threads=a.threads, pool=pool)
        import bpy  # noqa: F401  (import cost is start-up, not per-scene work)

        t0, c0 = time.perf_counter(), cpu_s()
        stats = run_shard_local(job, 0, 1, show_progress=False)
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
        metas = [
            json.loads((out / "scenes" / f"{i:06d}" / "meta.json").read_text())
            for i in range(a.scenes)
        ]
    render_s = sum(v for m in metas for k, v in m["timings_s"].items() if k.startswith("render_"))
    dof_s = sum(v for m in metas for k, v in m["timings_s"].items() if k.startswith("render_dof"))
    n_dof = sum(len(m["rows"]) for m in metas)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{a.scenes} scenes at {a.resolution}px, {a.samples} spp, {n_dof} DoF renders")
    print(f"pipeline wall time            {wall:8.2f} s  (shard incl. manifest, contact sheet)")
    print(f"inside Cycles render calls    {render_s:8.2f} s  (bare library calls, same scenes)")
    print(f"  of which DoF renders        {dof_s:8.2f} s")
    print(f"Cycles share of wall time     {render_s / wall:8.1%}  (goal >= 90 %)")
    print(f"overhead share of wall time   {1 - render_s / wall:8.1%}  (goal <= 10 %)")
    print(f"DoF renders per CPU-minute    {n_dof / (cpu / 60):8.2f}  ({cpu:.1f} CPU-s used)")
    print(f"DoF renders per wall-minute   {n_dof / (wall / 60):8.2f}")
    print(f"scenes failed                 {stats['rejected']:8d}")


if __name__ == "__main__":
    main()
