"""What the 2.5-D approximation costs, measured against path-traced truth (issue 31, item 4).

Takes a finished demo (``make demo``), makes the 2.5-D twin of its training renders
(``python -m synth photos --photos DEMO/synth``: every scene's AIF render and true depth through
``optics.render_bokeh``, with the renders' own focus, K and aperture, so that only the renderer
differs), then trains the demo's BokehNet stage 1 (its config and step count, so every arm sees
the same number of samples) on

- ``path_traced``: the Cycles renders (what the demo trains on);
- ``2p5d``: their 2.5-D twins;
- ``both``: the union (half of each, in expectation),

for each seed, and scores every run with ``python -m train benchmark`` on the demo's held-out
set (whole frames, edge band, the controllability family on its Cycles K sweeps). Prints the
table (mean and per seed) and writes ``OUT/route_2p5d.json``; reruns reuse finished runs.

Measured (2026-12-07, 2 cores, 18.6 min; means over seeds 0/1/2, path-traced / 2.5-D / both):
whole-frame bokeh PSNR 23.18 / 24.77 / 23.80, edge band 18.66 / 18.69 / 18.92, background
Spearman 0.936 / 0.913 / 0.940, truth correlation 0.789 / 0.791 / 0.790 (docs/synth.md).

  .venv/bin/python bench/route_2p5d.py --demo runs/demo --seeds 0 1 2 --out runs/route_2p5d
  .venv/bin/python bench/route_2p5d.py --demo runs/demo --seeds 0 --steps 20   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARMS = ("path_traced", "2p5d", "both")
METRICS = (
    ("bokeh PSNR", ("bokeh", "bokehnet", "psnr")),
    ("edge band PSNR", ("bokeh", "bokehnet", "psnr_band")),
    ("bokeh SSIM", ("bokeh", "bokehnet", "ssim")),
    ("focus follows", ("focus_follows", "bokehnet")),
    ("Spearman (background)", ("control", "methods", "bokehnet", "spearman_background")),
    ("truth correlation", ("control", "methods", "bokehnet", "truth_correlation")),
    ("dynamic range / Cycles'", ("control", "methods", "bokehnet", "dynamic_range_ratio")),
)


def _get(d: dict, path: tuple):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d if isinstance(d, (int, float)) else None


def make_twin(demo: Path, out: Path) -> dict:
    from synth.config import load_config
    from synth.photo_job import run_photos

    cfg = load_config(overrides=["photos.min_short_side_px=8"])  # the demo's frames, any size
    return run_photos(str(demo / "synth"), out / "twin", cfg, workers=0, progress=False)


def demo_config(demo: Path, seed: int = 0):
    """The demo's data settings (its training settings: today's defaults) with ``seed``."""
    from demo.config import DemoConfig

    base = json.loads((demo / "demo_config.json").read_text())
    keys = ("scenes", "heldout_scenes", "heldout_samples", "resolution_px", "samples")
    return DemoConfig(**{k: base[k] for k in keys if k in base}, out=str(demo), train_seed=seed)


def train_arm(demo: Path, out: Path, arm: str, seed: int, steps: int) -> Path:
    from demo.training import stage_config, stage_steps
    from train.launch.local import train_local

    cfg = demo_config(demo, seed)
    run = out / f"seed{seed}" / arm
    if (run / "DONE").is_file():
        return run
    data = {
        "path_traced": [demo / "synth"],
        "2p5d": [out / "twin"],
        "both": [demo / "synth", out / "twin"],
    }[arm]
    manifests = [str(p) for p in data] + [str(demo / "synth_heldout")]
    tcfg = stage_config(cfg, demo, "bokeh_stage1")
    train_local(tcfg, manifests, run, steps=steps or stage_steps(cfg, "bokeh_stage1"), resume=True)
    (run / "DONE").write_text("ok\n")
    return run


def score(demo: Path, run: Path) -> dict:
    from demo.pipeline import is_small_set
    from train.evaluate.benchmark import benchmark
    from train.evaluate.sets import load_set
    from train.outputs import from_json_safe

    path = run / "benchmark" / "benchmark.json"
    if not path.is_file():
        benchmark(
            demo / "deblur",
            run,
            [str(demo / "synth_heldout")],
            run / "benchmark",
            bench_set=load_set("small") if is_small_set(demo_config(demo)) else None,
        )
    return from_json_safe(json.loads(path.read_text()))


def table(results: dict) -> list[str]:
    seeds = sorted(results)
    lines = ["| metric | " + " | ".join(f"{a} (mean)" for a in ARMS) + " | per seed |"]
    lines.append("|---" * (len(ARMS) + 2) + "|")
    for name, path in METRICS:
        cells, per_seed = [], []
        for arm in ARMS:
            vals = [_get(results[s][arm], path) for s in seeds]
            vals = [v for v in vals if v is not None]
            cells.append(f"{sum(vals) / len(vals):.3f}" if vals else "-")
            per_seed.append(f"{arm} " + "/".join(f"{v:.3f}" for v in vals))
        lines.append(f"| {name} | " + " | ".join(cells) + " | " + "; ".join(per_seed) + " |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", default="runs/demo", help="a finished demo folder")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=0, help="training steps (0: the demo's)")
    ap.add_argument("--out", default="runs/route_2p5d")
    a = ap.parse_args(argv)
    demo, out = Path(a.demo), Path(a.out)
    if not (demo / "demo_config.json").is_file() or not (demo / "deblur").is_dir():
        ap.error(f"{demo}: not a finished demo (run make demo first)")
    if not all(0 <= s < 2**31 for s in a.seeds) or len(set(a.seeds)) != len(a.seeds):
        ap.error("--seeds: distinct integers in [0, 2^31)")
    if not 0 <= a.steps <= 1_000_000:
        ap.error("--steps: an integer in [0, 1000000]")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    twin = make_twin(demo, out)
    print(f"twin: {twin['kept']} scenes, {twin['renders']} pairs in {twin['wall_s']:.1f} s")
    results: dict = {}
    for seed in a.seeds:
        for arm in ARMS:
            print(f"== seed {seed}, {arm} ({time.perf_counter() - t0:.0f} s)", flush=True)
            run = train_arm(demo, out, arm, seed, a.steps)
            results.setdefault(seed, {})[arm] = score(demo, run)
    lines = table(results)
    print("\n".join(lines))
    print(f"({time.perf_counter() - t0:.0f} s)")
    doc = {"seeds": a.seeds, "steps": a.steps or "demo", "twin": twin, "table": lines}
    doc["results"] = {str(s): r for s, r in results.items()}
    (out / "route_2p5d.json").write_text(json.dumps(doc, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
