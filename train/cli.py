"""``python -m train fit`` (train a network from manifests), ``python -m train refocus`` (refocus
a photo with a trained pair), ``python -m train benchmark`` (score a pair against Cycles) and
``python -m train benchmark-real`` (score on a real dataset from a local root) and ``python -m train
cache`` (encode the training images into a latent cache once).

Examples:
  python -m train fit --config deblurnet_tiny.toml --manifest runs/synth --out runs/deblur
  python -m train fit --config bokehnet_tiny.toml --manifest runs/synth --out runs/bokeh \\
      --launcher torchrun --num-workers 2 --set optim.lr=3e-4 --set data.resolution_px=48
  python -m train fit --config bokehnet_flux.toml --manifest s3://b/synth --out /shared/bokeh \\
      --launcher ray --num-workers 8 --gpus-per-worker 1 --resume
  python -m train refocus --deblur runs/deblur --bokeh runs/bokeh --image photo.jpg \\
      --focus 0.5,0.4 --k 30 --depth depth.npy --out refocused.png
  python -m train refocus --deblur runs/deblur --bokeh runs/bokeh_shape --image photo.jpg \
      --focus 0.5,0.4 --k 30 --depth depth.npy --aperture hexagon --out hexagon.png
  python -m train benchmark --deblur runs/deblur --bokeh runs/bokeh --manifest runs/heldout \
      --out runs/benchmark
  python -m train benchmark-real --dataset dpdd --root dd_dp_dataset_canon --deblur runs/deblur \
      --max-side 512 --out runs/real_dpdd
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from infra.config_file import add_set_argument, integer, number
from infra.quiet import quiet_library_logs
from train.config import TrainConfigError, load_train_config
from train.config_types import MAX_EULER_STEPS, MAX_K, MAX_STEPS
from train.threads import MAX_COMPUTE_THREADS

# Every number a flag takes has both bounds (reliability round 2, item 9); the config's bounds
# where a flag overrides a key (--steps: optim.steps), generous ones elsewhere.
MAX_SCENES = 10_000_000  # benchmark --max-scenes (synth renders at most this many scenes)
MAX_WORKERS = 4096  # --num-workers: training processes (Ray Train workers, torchrun ranks)
MAX_GPUS_PER_WORKER = 64.0  # --gpus-per-worker (a node holds 8-16; a fraction shares one)
MAX_FAILURES = 1000  # --max-failures (-1: no limit)


def focus_point(text: str) -> tuple[float, float]:
    """An argparse ``type``: ``x,y``, two finite fractions of the width and height in [0, 1]."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"must be x,y (two numbers in [0, 1]), got {text!r}")
    try:
        x, y = (number(0.0, 1.0)(v.strip()) for v in parts)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"x,y: each {e}") from None
    return x, y


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
    f.add_argument(
        "--steps", type=integer(1, MAX_STEPS), help=f"override optim.steps (1-{MAX_STEPS})"
    )
    f.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    f.add_argument("--init-from", help="start from the weights of a run or checkpoint folder")
    f.add_argument("--launcher", choices=["local", "torchrun", "ray", "worker"], default="local")
    f.add_argument("--num-workers", type=integer(1, MAX_WORKERS), default=1)
    f.add_argument("--gpus-per-worker", type=number(0.0, MAX_GPUS_PER_WORKER), default=0.0)
    f.add_argument("--ray-address", help="Ray cluster address (default: a local Ray)")
    f.add_argument(
        "--max-failures",
        type=integer(-1, MAX_FAILURES),
        default=2,
        help="Ray: restarts of a failed worker group (a lost node, a crashed worker), each from "
        "the last checkpoint Ray registered; -1: no limit (default 2)",
    )
    f.add_argument(
        "--placement-strategy",
        choices=["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"],
        default="PACK",
        help="Ray: how the workers are placed on nodes; SPREAD puts them on different nodes, so "
        "one lost node takes fewer of them (default PACK)",
    )
    f.add_argument("--quiet", action="store_true")


def _refocus_parser(sub):
    r = sub.add_parser("refocus", help="deblur -> depth -> defocus map -> bokeh on one image")
    _run_arguments(r)
    r.add_argument("--image", required=True)
    r.add_argument(
        "--focus", type=focus_point, required=True, help="x,y of the point to focus on, in [0, 1]"
    )
    r.add_argument(
        "--k", type=number(0.0, MAX_K), required=True, help="blur strength K (px per 1/m), 0-1000"
    )
    r.add_argument(
        "--beyond-training",
        action="store_true",
        help="render a K whose blur passes what the BokehNet was trained on (refused otherwise)",
    )
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--depth-model", help="local transformers depth-estimation model folder")
    g.add_argument("--depth", help="a depth map .npy (metres) of the image")
    r.add_argument("--out", required=True, help="output PNG")
    r.add_argument(
        "--aperture",
        help="aperture shape for a BokehNet trained with model.shape_condition: round, hexagon, "
        "triangle, star, heart, a label (polygon7@15, star6) or a kernel PNG (white = open); "
        "default round",
    )
    _steps_argument(r)


def _benchmark_parser(sub):
    b = sub.add_parser(
        "benchmark",
        help="DeblurNet + BokehNet (or a predictions folder) against Cycles truth (whole frames)",
        description="Writes benchmark.json, benchmark.md, benchmark_grid.png and k_sweep.png "
        "(shapes_grid.png when held-out renders are shaped; lv_vs_k.png and control_strips.png "
        "on a set with Cycles K sweeps). docs/benchmark.md defines every number.",
    )
    b.add_argument("--deblur", help="DeblurNet run folder or checkpoint")
    b.add_argument("--bokeh", help="BokehNet run folder or checkpoint")
    b.add_argument(
        "--set",
        dest="bench_set",
        help="the benchmark set the manifest must be (small, full, or a definition .toml): "
        "refused in one line when its scenes or spec hashes differ",
    )
    b.add_argument(
        "--predictions",
        help="score this folder of images (bokeh/<scene>_<render>.png, sweep/<scene>_<i>.png; "
        "needs --set) instead of the runs",
    )
    b.add_argument(
        "--write-inputs",
        help="write the list of predictions --set expects, with their conditions, to this JSON "
        "file and stop",
    )
    b.add_argument(
        "--shape-bokeh",
        help="a BokehNet run trained with model.shape_condition, scored on the shaped renders",
    )
    b.add_argument(
        "--shape-manifest",
        action="append",
        help="held-out renders for the shapes section alone (repeatable; default: --manifest)",
    )
    _manifest_argument(b, "held-out synthetic_pairs manifest root (repeatable)")
    b.add_argument("--out", help="output folder (needed unless --write-inputs)")
    b.add_argument(
        "--max-scenes", type=integer(0, MAX_SCENES), default=0, help="at most N scenes (0: all)"
    )
    b.add_argument(
        "--focus-k", type=number(0.0, MAX_K), default=20.0, help="K of the focus-follows test"
    )
    _steps_argument(b)


def _benchmark_real_parser(sub):
    """``benchmark-real``: its arguments are ``train.evaluate.realsets.command``'s."""
    from train.evaluate.realsets.command import add_parser

    add_parser(sub)


def _cache_parser(sub):
    """``cache``: its arguments are ``train.launch.cache``'s."""
    from train.launch.cache import add_parser

    add_parser(sub)


def _steps_argument(parser) -> None:
    parser.add_argument(
        "--steps",
        type=integer(0, MAX_EULER_STEPS),
        default=0,
        help="Euler steps, 0-1000 (0: the configs')",
    )


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
    _benchmark_real_parser(sub)
    _cache_parser(sub)
    a = p.parse_args(argv)
    quiet_library_logs()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if a.command == "benchmark":
        return _benchmark(a)
    if a.command == "benchmark-real":
        return _benchmark_real(a)
    if a.command == "cache":
        from train.launch.cache import run_command

        return run_command(a)
    if a.command == "refocus":
        from train.refocus import refocus_cli

        return refocus_cli(a)
    return _fit(a, argv)


def _fit(a, argv: list[str] | None) -> int:
    """``fit``: the config loaded once, then the chosen launcher."""
    try:
        cfg = load_train_config(a.config, a.set)
    except TrainConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    omp_threads = None  # the user's OMP_NUM_THREADS wins over auto, in every process of the run
    if a.launcher != "worker" and cfg.compute_threads == 0:
        try:
            omp_threads = _user_omp_threads()
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if omp_threads:
            a.set = [*a.set, f"compute_threads={omp_threads}"]
            cfg.compute_threads = omp_threads
    if a.launcher == "torchrun":
        from train.launch.torchrun import run_torchrun

        args = [x for x in (argv if argv is not None else sys.argv[1:]) if x != "fit"]
        args = _strip_launcher(args)
        if omp_threads:
            args += ["--set", f"compute_threads={omp_threads}"]
        return run_torchrun(args, a.num_workers)
    if a.launcher == "ray":
        return _fit_ray(a)
    return _fit_local(a, cfg)


def _fit_ray(a) -> int:
    from train.launch.ray import run_ray

    try:
        metrics = run_ray(
            a.config,
            a.manifest,
            a.out,
            a.steps,
            a.resume,
            a.num_workers,
            a.gpus_per_worker,
            a.ray_address,
            max_failures=a.max_failures,
            init_from=a.init_from,
            overrides=a.set,
            placement_strategy=a.placement_strategy,
        )
    except (ValueError, FileNotFoundError) as e:  # checked in the driver, before any worker
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, default=str))
    return 0


def _fit_local(a, cfg) -> int:
    from train.launch.local import train_local
    from train.loop import Diverged

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
    except (ValueError, OSError) as e:  # bad settings or data: an unreadable or corrupt file
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Diverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if metrics:
        summary = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float))
        print(f"train {cfg.name}: {summary}; metrics in {a.out}/metrics.json")
    return 0


def _user_omp_threads() -> int | None:
    """``OMP_NUM_THREADS`` as the user set it for ``fit`` (None: unset). Read here, in the
    process the user started: torchrun and Ray set it in their workers themselves, where a
    worker cannot tell theirs from the user's."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not text:
        return None
    try:
        return integer(1, MAX_COMPUTE_THREADS)(text)
    except argparse.ArgumentTypeError as e:
        raise ValueError(
            f"OMP_NUM_THREADS {e} (threads per process; unset it for the automatic count, "
            "or set compute_threads)"
        ) from None


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


def _benchmark_problem(a) -> str | None:
    """Why a benchmark command line cannot run, or None."""
    if (a.predictions or a.write_inputs) and not a.bench_set:
        return "--predictions and --write-inputs need --set (files are named by the set's rows)"
    if a.predictions and a.max_scenes:
        return (
            "--predictions scores the whole set (its folder holds every scene): drop --max-scenes"
        )
    if a.predictions and (a.deblur or a.bokeh):
        return "--predictions scores the folder instead of --deblur/--bokeh: give one or the other"
    if not (a.predictions or a.write_inputs) and not (a.deblur and a.bokeh):
        return "--deblur and --bokeh are required (or --predictions DIR with --set)"
    if not a.write_inputs and not a.out:
        return "--out is required"
    return None


def _benchmark(a) -> int:
    from train.evaluate.benchmark import benchmark, write_set_inputs
    from train.evaluate.scenes import BenchmarkError
    from train.evaluate.sets import SetError, load_set
    from train.evaluate.targets import table_markdown

    problem = _benchmark_problem(a)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        bench_set = load_set(a.bench_set) if a.bench_set else None
        if a.write_inputs:
            n = write_set_inputs(a.manifest, bench_set, a.write_inputs, a.max_scenes)
            print(f"benchmark: {n} expected predictions listed in {a.write_inputs}")
            return 0
        results = benchmark(
            a.deblur,
            a.bokeh,
            a.manifest,
            a.out,
            a.max_scenes,
            a.focus_k,
            a.steps,
            shape_bokeh_run=a.shape_bokeh,
            shape_manifests=a.shape_manifest,
            bench_set=bench_set,
            predictions=a.predictions,
        )
    except (BenchmarkError, SetError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table_markdown(results), end="")
    print(f"benchmark: {a.out}/benchmark.json, benchmark.md and the figures")
    return 0


def _benchmark_real(a) -> int:
    from train.evaluate.realsets.command import run_command

    return run_command(a)
