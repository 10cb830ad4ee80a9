"""``python -m train benchmark-real``: its arguments (:func:`add_parser`, every number
range-checked) and its handler (:func:`run_command`: one dataset scored, bad input one ``error:``
line and exit 2). Light to import: ``train.cli`` builds its parser from here, and the scoring
modules load only when the command runs."""

from __future__ import annotations

import sys

from infra.config_file import integer
from train.evaluate.realsets.report import DATASETS

MAX_ITEMS = 10_000_000  # --max-items (as benchmark's --max-scenes)
MAX_SIDE_PX = 65536  # --max-side (0: native resolution)


def add_parser(sub) -> None:
    """The ``benchmark-real`` subparser under ``sub`` (``argparse`` subparsers)."""
    r = sub.add_parser(
        "benchmark-real",
        help="score on a real dataset read from a local root (DPDD, RealDOF, RealBokeh, "
        "Learn2Refocus focal stacks); nothing is downloaded",
        description="Writes real_benchmark.json and real_benchmark.md in --out. "
        "docs/real-datasets.md gives each dataset's layout and defines every number.",
    )
    r.add_argument("--dataset", required=True, choices=DATASETS)
    r.add_argument("--root", required=True, help="the dataset's folder, in its published layout")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--deblur", help="DeblurNet run folder or checkpoint (dpdd, realdof)")
    r.add_argument(
        "--predictions", help="a folder of an external method's outputs, named as the docs say"
    )
    r.add_argument(
        "--max-items",
        type=integer(0, MAX_ITEMS),
        default=0,
        help=f"score the first N pairs or scenes, 0-{MAX_ITEMS} (0: all)",
    )
    r.add_argument(
        "--max-side",
        type=integer(0, MAX_SIDE_PX),
        default=0,
        help=f"score at most this long side, 0-{MAX_SIDE_PX} px, every row alike (0: native)",
    )
    r.add_argument("--lpips-weights", help="local LPIPS weights file (backbone + lin layers)")
    r.add_argument("--dists-weights", help="local DISTS weights file (VGG-16 + alpha, beta)")


def run_command(a) -> int:
    """Run ``benchmark-real`` for the parsed arguments ``a``; the exit status."""
    from train.evaluate.realsets.files import RealSetError
    from train.evaluate.realsets.report import table_markdown
    from train.evaluate.realsets.run import options_problem, run_real_benchmark
    from train.evaluate.scenes import BenchmarkError

    problem = options_problem(a.dataset, a.deblur)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        results = run_real_benchmark(
            a.dataset,
            a.root,
            a.out,
            deblur=a.deblur,
            predictions=a.predictions,
            max_items=a.max_items,
            max_side=a.max_side,
            lpips_weights=a.lpips_weights,
            dists_weights=a.dists_weights,
        )
    except (RealSetError, BenchmarkError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table_markdown(results), end="")
    print(f"benchmark-real: {a.out}/real_benchmark.json and real_benchmark.md")
    return 0
