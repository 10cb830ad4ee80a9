"""Scenes per CPU-minute of each synth scene kind, side by side in one run, and how natural each
kind's all-in-focus images look (``python -m synth report`` on the same renders).

Renders ``--scenes`` scenes with the default kind weights (procedural 0.2, cards 0.4, textured
0.4; the embedded photo pool) at the demo's settings (128 px, 16 spp, 3 DoF renders per scene)
into a fresh folder with one render call (``synth.cli.main``, the code of ``python -m synth
render``, ``--workers 1``: every scene renders in this process). This process's CPU clock
(``getrusage(RUSAGE_SELF)``: user + system time of all its threads, Cycles' render threads
included) is read before and after each scene, so a scene's CPU time is exact, wherever in
the scene the time goes (photo decoding and scene building run on one thread, Cycles on all
cores). Per kind: scenes, mean wall s/scene (``meta.json`` ``scene_total``), of which inside
Cycles' render calls and in scene building, mean CPU s/scene, scenes per CPU-minute and its
ratio to the procedural kind (target >= 0.8). Then the natural-image statistics table and
targets of ``synth.report``.

Measured (2 shared cores, load 1.8, ``--scenes 45 --seed 1``, 2026-12-03 defaults: 1 px box
pixel filter, cards show their photo's largest crop), scenes per CPU-minute: procedural 5.21
(11 scenes), cards 8.62 (18; ratio 1.65), textured 6.71 (16; ratio 1.29): both photographic
kinds pass >= 0.8. Statistics: spectral slope photos -2.03, procedural -2.73, cards -2.42,
textured -2.70 (both photographic kinds FAIL |gap| <= 0.2, see docs/synth.md: the pool's mean
mixes scene photos at -2.9 and close-up textures at -0.7..-1.6); log-gradient W1 procedural
0.359, cards 0.103 (0.29 x, pass <= 0.5 x), textured 0.099 (0.28 x, pass). ``--seed 0``
(the same defaults, an earlier run): cards 0.149 (0.495 x procedural's 0.301), textured 0.103.

  .venv/bin/python bench/synth_kinds.py [--scenes 24] [--seed 0] [--out runs/bench-kinds --keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KINDS = ("procedural", "cards", "textured")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextlib.contextmanager
def timing_scenes(cpu_by_scene: dict[int, float]):
    """Record each scene's CPU seconds (all threads of this process) while rendering."""
    import synth.worker as worker

    original = worker.render_scene_to_disk

    def timed(spec, *args, **kwargs):
        c0 = cpu_s()
        meta = original(spec, *args, **kwargs)
        cpu_by_scene[spec.scene_id] = cpu_s() - c0
        return meta

    worker.render_scene_to_disk = timed
    try:
        yield
    finally:
        worker.render_scene_to_disk = original


def per_kind(out: Path, cpu_by_scene: dict[int, float]) -> list[dict]:
    """One row per kind from the scenes' meta.json and the measured CPU times."""
    scenes: dict[str, list[dict]] = {k: [] for k in KINDS}
    for meta_path in sorted((out / "scenes").glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        sid = meta["spec"]["scene_id"]
        t = meta["timings_s"]
        scenes.setdefault(meta["spec"].get("kind", "procedural"), []).append(
            {
                "wall_s": t["scene_total"],
                "cycles_s": sum(v for k, v in t.items() if k.startswith("render_")),
                "build_s": t.get("build", 0.0),
                "cpu_s": cpu_by_scene[sid],
            }
        )
    rows = []
    for kind, items in scenes.items():
        if not items:
            rows.append({"kind": kind, "scenes": 0})
            continue
        n = len(items)
        cpu = sum(s["cpu_s"] for s in items) / n
        rows.append(
            {
                "kind": kind,
                "scenes": n,
                "wall_s": sum(s["wall_s"] for s in items) / n,
                "cycles_s": sum(s["cycles_s"] for s in items) / n,
                "build_s": sum(s["build_s"] for s in items) / n,
                "cpu_s": cpu,
                "per_cpu_min": 60.0 / cpu,
            }
        )
    proc = next((r for r in rows if r["kind"] == "procedural" and r["scenes"]), None)
    for r in rows:
        r["ratio"] = r["per_cpu_min"] / proc["per_cpu_min"] if proc and r["scenes"] else None
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = [
        "| kind | scenes | wall s/scene | in Cycles | building | CPU s/scene | "
        "scenes/CPU-min | vs procedural |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["scenes"]:
            lines.append(f"| {r['kind']} | 0 | - | - | - | - | - | - |")
            continue
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['kind']} | {r['scenes']} | {r['wall_s']:.2f} | {r['cycles_s']:.2f} | "
            f"{r['build_s']:.2f} | {r['cpu_s']:.2f} | {r['per_cpu_min']:.2f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=int, default=24)
    p.add_argument("--out", help="render folder, kept (must be new or empty; default: temporary)")
    p.add_argument("--keep", action="store_true", help="keep the temporary renders and report")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (another sample of scenes)")
    a = p.parse_args(argv)
    if not 0 <= a.seed < 2**31 or not 1 <= a.scenes <= 10_000:
        print("error: --seed must be in [0, 2^31) and --scenes in [1, 10000]", file=sys.stderr)
        return 2

    from synth.cli import main as synth_main
    from synth.report import format_targets, make_report
    from synth.stats_report import format_table

    if a.out and Path(a.out).exists() and any(Path(a.out).iterdir()):
        print(f"error: --out {a.out}: not empty (timings need fresh renders)", file=sys.stderr)
        return 2
    tmp = None if a.out else tempfile.mkdtemp(prefix="bench-kinds-")
    out = Path(a.out) if a.out else Path(tmp) / "render"
    import bpy  # noqa: F401  (import cost is start-up, not per-scene work)

    cpu_by_scene: dict[int, float] = {}
    argv_render = [
        "render", "--out", str(out), "--scenes", str(a.scenes), "--resolution", "128",
        "--samples", "16", "--workers", "1", "--quiet", "--set", f"dataset_seed={a.seed}",
    ]  # fmt: skip
    t0, c0 = time.perf_counter(), cpu_s()
    try:
        with timing_scenes(cpu_by_scene):
            rc = synth_main(argv_render)
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
        if rc != 0:
            print(f"error: the render exited {rc} (see {out}/logs)", file=sys.stderr)
            return 1
        rows = per_kind(out, cpu_by_scene)
        report = make_report(out)
    finally:
        if tmp and not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(
        f"{a.scenes} scenes at 128 px, 16 spp, 3 DoF renders each, one process (Cycles threads: "
        f"auto, {os.cpu_count()}): {wall:.1f} s wall, {cpu:.1f} CPU-s "
        f"({cpu / wall:.2f} cores busy on average, incl. manifest and contact sheet)"
    )
    print("per scene: wall from meta.json scene_total; CPU = this process's user+sys time\n")
    print(format_rows(rows))
    print("target: every photographic kind >= 0.8 x procedural's scenes per CPU-minute")
    for r in rows:
        if r["kind"] != "procedural" and r.get("ratio") is not None:
            verdict = "pass" if r["ratio"] >= 0.8 else "FAIL"
            print(f"  {r['kind']:<10} {r['ratio']:.2f}: {verdict}")
    print("\nnatural-image statistics of the same renders (python -m synth report):")
    print(format_table(report["rows"]))
    print(format_targets(report["targets"]))
    if a.out or a.keep:
        print(f"renders and report kept in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
