"""``python -m train fit`` (train a network from manifests) and ``python -m train refocus``.

Examples:
  python -m train fit --config deblurnet_tiny.toml --manifest runs/synth --out runs/deblur
  python -m train fit --config bokehnet_tiny.toml --manifest runs/synth --out runs/bokeh \\
      --launcher torchrun --num-workers 2 --set optim.lr=3e-4 --set data.resolution_px=48
  python -m train fit --config bokehnet_flux.toml --manifest s3://b/synth --out /shared/bokeh \\
      --launcher ray --num-workers 8 --gpus-per-worker 1 --resume
  python -m train refocus --deblur runs/deblur --bokeh runs/bokeh --image photo.jpg \\
      --focus 0.5,0.4 --k 30 --depth depth.npy --out refocused.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from manifests.config_file import add_set_argument
from train.config import TrainConfigError, load_train_config


def _manifest_argument(parser, help_text: str) -> None:
    parser.add_argument("--manifest", action="append", required=True, help=help_text)


def _run_arguments(parser) -> None:
    parser.add_argument("--deblur", required=True, help="DeblurNet run folder or checkpoint")
    parser.add_argument("--bokeh", required=True, help="BokehNet run folder or checkpoint")


def _fit_parser(sub):
    f = sub.add_parser(
        "fit",
        help="train DeblurNet or BokehNet from manifests",
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument("--config", required=True, help="TOML file (or a name in train/configs/)")
    _manifest_argument(f, "manifest root (repeat for several; synthetic_pairs and real_photos)")
    f.add_argument("--out", required=True, help="run folder (checkpoints, metrics, plots)")
    add_set_argument(f, "optim.lr=3e-4")
    f.add_argument("--steps", type=int, help="override optim.steps")
    f.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    f.add_argument("--init-from", help="start from the weights of a run or checkpoint folder")
    f.add_argument("--launcher", choices=["local", "torchrun", "ray", "worker"], default="local")
    f.add_argument("--num-workers", type=int, default=1)
    f.add_argument("--gpus-per-worker", type=float, default=0.0)
    f.add_argument("--ray-address", help="Ray cluster address (default: a local Ray)")
    f.add_argument("--quiet", action="store_true")


def _refocus_parser(sub):
    r = sub.add_parser("refocus", help="deblur -> depth -> defocus map -> bokeh on one image")
    _run_arguments(r)
    r.add_argument("--image", required=True)
    r.add_argument("--focus", required=True, help="x,y of the point to focus on, in [0, 1]")
    r.add_argument("--k", type=float, required=True, help="blur strength K (px per 1/m)")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--depth-model", help="local transformers depth-estimation model folder")
    g.add_argument("--depth", help="a depth map .npy (metres) of the image")
    r.add_argument("--out", required=True, help="output PNG")
    r.add_argument("--steps", type=int, default=0, help="Euler steps (default: the configs')")


def _benchmark_parser(sub):
    b = sub.add_parser(
        "benchmark",
        help="DeblurNet + BokehNet against Cycles truth on held-out scenes (whole frames)",
        description="Writes benchmark.json, benchmark.md, benchmark_grid.png and k_sweep.png.",
    )
    _run_arguments(b)
    _manifest_argument(b, "held-out synthetic_pairs manifest root (repeatable)")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--max-scenes", type=int, default=0, help="at most N scenes (0: all)")
    b.add_argument("--focus-k", type=float, default=20.0, help="K of the focus-follows test")
    b.add_argument("--steps", type=int, default=0, help="Euler steps (default: the configs')")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    _fit_parser(sub)
    _refocus_parser(sub)
    _benchmark_parser(sub)
    a = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if a.command == "benchmark":
        return _benchmark(a)
    if a.command == "refocus":
        from train.refocus import refocus_cli

        return refocus_cli(a)
    try:
        cfg = load_train_config(a.config, a.set)
    except TrainConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.launcher == "torchrun":
        from train.launch.torchrun import run_torchrun

        args = [x for x in (argv if argv is not None else sys.argv[1:]) if x != "fit"]
        args = _strip_launcher(args)
        return run_torchrun(args, a.num_workers)
    if a.launcher == "ray":
        from train.launch.ray import run_ray

        metrics = run_ray(
            a.config,
            a.manifest,
            a.out,
            a.steps,
            a.resume,
            a.num_workers,
            a.gpus_per_worker,
            a.ray_address,
            init_from=a.init_from,
            overrides=a.set,
        )
        print(json.dumps(metrics, default=str))
        return 0
    from train.launch.local import train_local

    try:
        metrics = train_local(
            cfg,
            a.manifest,
            a.out,
            steps=a.steps,
            resume=a.resume,
            init_from=a.init_from,
            show_progress=not a.quiet,
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if metrics:
        summary = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float))
        print(f"train {cfg.name}: {summary}; metrics in {a.out}/metrics.json")
    return 0


def _strip_launcher(args: list[str]) -> list[str]:
    out, skip = [], False
    for x in args:
        if skip:
            skip = False
            continue
        if x in ("--launcher", "--num-workers"):
            skip = True
            continue
        if x.startswith(("--launcher=", "--num-workers=")):
            continue
        out.append(x)
    return out


def _benchmark(a) -> int:
    from train.benchmark import BenchmarkError, benchmark, table_markdown

    if a.max_scenes < 0 or not 0 <= a.focus_k <= 1000 or not 0 <= a.steps <= 1000:
        print(
            "error: --max-scenes >= 0, 0 <= --focus-k <= 1000, 0 <= --steps <= 1000",
            file=sys.stderr,
        )
        return 2
    try:
        results = benchmark(a.deblur, a.bokeh, a.manifest, a.out, a.max_scenes, a.focus_k, a.steps)
    except (BenchmarkError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table_markdown(results), end="")
    print(f"benchmark: {a.out}/benchmark.json, benchmark.md, benchmark_grid.png, k_sweep.png")
    return 0
