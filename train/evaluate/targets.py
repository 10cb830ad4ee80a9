"""The benchmark's targets (docs/benchmark.md) and its Markdown tables: each target a name, a
value and a threshold read from a results dict, met when the value is at least the threshold.
:data:`TARGETS` hold for every set; :data:`BAND_TARGETS` where the results have an edge band,
:data:`CONTROL_TARGETS` (and the calibration of the protocol, :data:`CALIBRATION`) where the set
has Cycles K sweeps, :data:`SHAPE_TARGETS` where a shape-conditioned BokehNet was scored.
:func:`mean_results` averages several runs' results.
"""

from __future__ import annotations

import numpy as np

from train.evaluate.shapes import shape_table

# The model targets (docs/benchmark.md): (name, value, threshold) from a results dict. The
# absolute "LVCorr >= 0.9" is withdrawn: no renderer meets it on a fixed grid (Cycles' own
# sweeps score about 0.6, docs/train-history.md); the paper's form is kept relative to the
# reference on the same grid.
TARGETS = (
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
        "bokeh PSNR >= reference + 0.5 dB",
        lambda r: r["bokeh"]["bokehnet"]["psnr"],
        lambda r: r["bokeh"]["reference"]["psnr"] + 0.5,
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


# In the depth-edge band (where the bokeh section has one).
BAND_TARGETS = (
    (
        "bokeh edge-band PSNR >= reference + 0.5 dB",
        lambda r: r["bokeh"]["bokehnet"]["psnr_band"],
        lambda r: r["bokeh"]["reference"]["psnr_band"] + 0.5,
    ),
)


def _ctrl(r: dict, method: str, key: str) -> float:
    return r["control"]["methods"][method][key]


# On Cycles' K sweeps (where the set has them): BokehNet against the reference and the truth.
CONTROL_TARGETS = (
    (
        "BokehNet Spearman (background) >= reference - 0.02",
        lambda r: _ctrl(r, "bokehnet", "spearman_background"),
        lambda r: _ctrl(r, "reference", "spearman_background") - 0.02,
    ),
    (
        "BokehNet truth correlation >= reference - 0.02",
        lambda r: _ctrl(r, "bokehnet", "truth_correlation"),
        lambda r: _ctrl(r, "reference", "truth_correlation") - 0.02,
    ),
    (
        "BokehNet dynamic range >= 0.8 x Cycles'",
        lambda r: _ctrl(r, "bokehnet", "dynamic_range_ratio"),
        lambda r: 0.8,
    ),
    (
        "BokehNet dynamic range <= 1.2 x Cycles'",
        lambda r: -_ctrl(r, "bokehnet", "dynamic_range_ratio"),
        lambda r: -1.2,
    ),
)

# The protocol's own calibration: the truth and the classical reference must score as a
# controllable renderer does, or the measures cannot rank models (docs/benchmark.md).
CALIBRATION = (
    (
        "calibration: reference Spearman (background) >= 0.99",
        lambda r: _ctrl(r, "reference", "spearman_background"),
        lambda r: 0.99,
    ),
    (
        "calibration: Cycles Spearman (background) >= 0.99",
        lambda r: _ctrl(r, "cycles (truth)", "spearman_background"),
        lambda r: 0.99,
    ),
    (
        "calibration: reference truth correlation >= 0.99",
        lambda r: _ctrl(r, "reference", "truth_correlation"),
        lambda r: 0.99,
    ),
    (
        "calibration: reference dynamic range within 10 % of Cycles'",
        lambda r: -abs(_ctrl(r, "reference", "dynamic_range_ratio") - 1.0),
        lambda r: -0.1,
    ),
)


def check_targets(results: dict) -> list[dict]:
    """Each target that applies to a results dict (module docstring): name, value, threshold,
    ok (a NaN value is not met)."""
    out = []
    shaped = "bokehnet (shape)" in (results.get("shapes") or {}).get("rows", {})
    banded = "psnr_band" in results["bokeh"].get("bokehnet", {})
    control = "control" in results
    for name, value, threshold in (
        TARGETS
        + (BAND_TARGETS if banded else ())
        + (CONTROL_TARGETS + CALIBRATION if control else ())
        + (SHAPE_TARGETS if shaped else ())
    ):
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
