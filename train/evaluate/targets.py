"""The benchmark's targets (docs/train.md) and its Markdown table: each target a name, a value
and a threshold read from a results dict; :func:`mean_results` averages several runs' results.
"""

from __future__ import annotations

import numpy as np

from train.evaluate.shapes import shape_table

# The model targets (docs/train.md): (name, value, threshold) from a results dict.
TARGETS = (
    ("BokehNet LVCorr >= 0.9", lambda r: r["lvcorr"]["bokehnet"], lambda r: 0.9),
    (
        "BokehNet LVCorr >= 0.9 x reference",
        lambda r: r["lvcorr"]["bokehnet"],
        lambda r: 0.9 * r["lvcorr"]["reference"],
    ),
    ("focus follows >= 0.9", lambda r: r["focus_follows"]["bokehnet"], lambda r: 0.9),
    (
        "bokeh PSNR > return the AIF",
        lambda r: r["bokeh"]["bokehnet"]["psnr"],
        lambda r: r["bokeh"]["aif"]["psnr"] + 1e-9,
    ),
    (
        "bokeh PSNR >= reference - 2 dB",
        lambda r: r["bokeh"]["bokehnet"]["psnr"],
        lambda r: r["bokeh"]["reference"]["psnr"] - 2.0,
    ),
    (
        "DeblurNet gain >= +1 dB",
        lambda r: r["deblur"]["deblurnet"]["psnr"] - r["deblur"]["identity (blurry input)"]["psnr"],
        lambda r: 1.0,
    ),
    (
        "DeblurNet SSIM >= the input's",
        lambda r: r["deblur"]["deblurnet"]["ssim"],
        lambda r: r["deblur"]["identity (blurry input)"]["ssim"],
    ),
    (
        "sharp inputs >= 30 dB, worst image",
        lambda r: r["deblur_sharp"]["deblurnet"]["psnr_worst"],
        lambda r: 30.0,
    ),
    (
        "refocus PSNR > identity",
        lambda r: r["refocus"]["deblurnet + bokehnet"]["psnr"],
        lambda r: r["refocus"]["identity (input render)"]["psnr"] + 1e-9,
    ),
)


# Aperture shapes (when the shapes section scored a BokehNet with the shape condition).
SHAPE_TARGETS = (
    (
        "shape IoU >= 0.7 (BokehNet with the shape)",
        lambda r: r["shapes"]["rows"]["bokehnet (shape)"]["iou_kernel"],
        lambda r: 0.7,
    ),
    (
        "shape IoU >= no-shape BokehNet + 0.05",
        lambda r: r["shapes"]["rows"]["bokehnet (shape)"]["iou_kernel"],
        lambda r: r["shapes"]["rows"]["bokehnet"]["iou_kernel"] + 0.05,
    ),
)


def check_targets(results: dict) -> list[dict]:
    """Each target of ``TARGETS`` on a results dict: name, value, threshold, ok."""
    out = []
    shaped = "bokehnet (shape)" in (results.get("shapes") or {}).get("rows", {})
    for name, value, threshold in TARGETS + (SHAPE_TARGETS if shaped else ()):
        v, t = float(value(results)), float(threshold(results))
        out.append({"target": name, "value": v, "threshold": t, "ok": bool(v >= t)})
    return out


def mean_results(runs: list[dict]) -> dict:
    """The mean of several results dicts (same keys), leaf by leaf; ``setup`` from the first."""

    def mean(vals):
        if isinstance(vals[0], dict):
            return {k: mean([v[k] for v in vals]) for k in vals[0] if k not in ("setup", "targets")}
        if isinstance(vals[0], str):  # e.g. the shapes section's figure scene
            return vals[0]
        return float(np.mean(vals))

    return {**mean(runs), "setup": runs[0]["setup"]}


def table_markdown(results: dict) -> str:
    """The results as a Markdown table (one row per section and method)."""
    lines = [
        "| section | method | PSNR dB | worst | SSIM | worst | images |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("deblur", "deblur_sharp", "bokeh", "refocus"):
        for row, v in results[name].items():
            lines.append(
                f"| {name} | {row} | {v['psnr']:.2f} | {v['psnr_worst']:.2f} | "
                f"{v['ssim']:.3f} | {v['ssim_worst']:.3f} | {v['images']} |"
            )
    lines += ["", "| controllability | LVCorr | focus follows |", "|---|---|---|"]
    for row in results["lvcorr"]:
        lines.append(
            f"| {row} | {results['lvcorr'][row]:.3f} | "
            f"{results['focus_follows'].get(row, float('nan')):.2f} |"
        )
    if results.get("shapes"):
        lines += shape_table(results["shapes"])
    lines += ["", "| target | value | threshold | met |", "|---|---|---|---|"]
    for t in results.get("targets") or check_targets(results):
        met = "yes" if t["ok"] else "no"
        lines.append(f"| {t['target']} | {t['value']:.3f} | {t['threshold']:.3f} | {met} |")
    return "\n".join(lines) + "\n"
