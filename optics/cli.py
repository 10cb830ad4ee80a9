r"""The ``python -m optics`` lens calculator; each command prints just the number on its last line.

Examples:
  python -m optics coc --focal-mm 50 --f-number 1.8 --focus-m 2 --depth-m 1 \
      --sensor-mm 36 --width-px 512
  python -m optics k-exif --focal-mm 50 --f-number 1.8 --focus-m 2 \
      --sensor-mm 36 --long-edge-px 1024
  python -m optics k-synthetic --focal-mm 50 --f-number 1.8 --sensor-mm 36 --width-px 512
"""

from __future__ import annotations

import argparse
import math
import sys

from optics.coc import coc_cycles_px, coc_thin_lens_px
from optics.genrefocus import k_exif, k_synthetic


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m optics",
        description="Lens calculator (lengths in metres unless the flag says mm/px).",
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("coc", help="signed CoC diameter in px (negative in front of focus)")
    for flag in ("--focal-mm", "--f-number", "--focus-m", "--depth-m", "--sensor-mm", "--width-px"):
        c.add_argument(flag, type=_positive, required=True)
    c.add_argument("--thin-lens", action="store_true", help="textbook thin lens, not Cycles")

    k = sub.add_parser("k-exif", help="K from EXIF values (paper Eq. 3)")
    for flag in ("--focal-mm", "--f-number", "--focus-m", "--sensor-mm", "--long-edge-px"):
        k.add_argument(flag, type=_positive, required=True)

    s = sub.add_parser("k-synthetic", help="exact K for a Cycles render")
    for flag in ("--focal-mm", "--f-number", "--sensor-mm", "--width-px"):
        s.add_argument(flag, type=_positive, required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    if a.command == "coc":
        fn = coc_thin_lens_px if a.thin_lens else coc_cycles_px
        if a.thin_lens and a.focus_m * 1e3 <= a.focal_mm:
            print(
                f"error: focus distance {a.focus_m} m is inside the focal length", file=sys.stderr
            )
            return 2
        value = fn(a.focal_mm, a.f_number, a.focus_m, a.depth_m, a.sensor_mm, a.width_px)
        model = "thin lens" if a.thin_lens else "Cycles"
        print(f"signed CoC ({model}), px:")
    elif a.command == "k-exif":
        if a.focus_m * 1e3 <= a.focal_mm:
            print(
                f"error: focus distance {a.focus_m} m is inside the focal length", file=sys.stderr
            )
            return 2
        value = k_exif(a.focal_mm, a.f_number, a.focus_m, a.sensor_mm, a.long_edge_px)
        print(f"K (paper Eq. 3, px per 1/m at {a.long_edge_px:g} px long edge):")
    else:
        value = k_synthetic(a.focal_mm, a.f_number, a.sensor_mm, a.width_px)
        print(f"K (exact for Cycles, px per 1/m at {a.width_px:g} px width):")
    print(f"{float(value):.6g}")
    return 0
