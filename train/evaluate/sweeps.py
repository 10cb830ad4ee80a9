"""The benchmark's controllability section on Cycles' own K sweeps (``train.evaluate.control``).

A held-out scene has a *Cycles sweep* when, beside its all-in-focus render (K = 0), at least
``control.MIN_FRAMES − 1`` of its DoF renders share its first render's focus plane (equal
``disp_focus``) at distinct K: a benchmark set renders them on purpose (``[aperture]
sweep_f_numbers`` of its synth config; ``Scene.sweep``), and regular renders that happen to
share the focus count too.
Every method renders the same K values at that focus (the reference renderer, "return the AIF"
and the BokehNet, given the first render's aperture), so each is scored against the truth of
the same frames: the rank, truth-correlation, dynamic-range and focus-kept measures, per scene,
then summarised (``control.summarise``). The first scored scenes' sweeps are kept for the
figures (:data:`FIGURE_SCENES`).
"""

from __future__ import annotations

import numpy as np
import torch

from train.evaluate import control
from train.evaluate.artifacts import artifact_share
from train.evaluate.methods import Model, reference
from train.evaluate.metrics import eight_bit, unit_hwc
from train.evaluate.scenes import Scene, sweep_name

TRUTH = "cycles (truth)"
BASELINES = (TRUTH, "reference", "aif")  # beside the scored method (its label)
FIGURE_SCENES = 3  # scenes whose sweeps the figures show


def cycles_sweep(sc: Scene) -> tuple[list[float], list[torch.Tensor]] | None:
    """``(k_values, frames)`` of the scene's Cycles sweep at its first render's focus plane:
    the AIF at K = 0, then each render at that focus by increasing K (the first of equal Ks);
    None when there are fewer than ``control.MIN_FRAMES`` frames."""
    focus = sc.renders[0]["disp_focus"]
    ks, frames = [0.0], [sc.aif]
    candidates = [r for r in sc.renders + sc.sweep if r["disp_focus"] == focus]
    for r in sorted(candidates, key=lambda r: r["k"]):
        if r["k"] > ks[-1]:
            ks.append(float(r["k"]))
            frames.append(r["dof"])
    return (ks, frames) if len(ks) >= control.MIN_FRAMES else None


def method_sweeps(bokeh: Model, sc: Scene, ks: list[float], truth: list) -> dict[str, list]:
    """Every method's frames ([1, 3, H, W] in [-1, 1]) at ``ks`` and the first render's focus,
    each at 8-bit precision as the truth is (``metrics.eight_bit``)."""
    r0 = sc.renders[0]
    df, kernel, raw = r0["disp_focus"], r0["kernel"], r0["kernel_raw"]
    return {
        TRUTH: truth,
        "reference": [eight_bit(reference(sc.aif, sc.disparity, k, df, raw)) for k in ks],
        "aif": [sc.aif for _ in ks],
        bokeh.label: [
            eight_bit(bokeh.bokeh(sc.aif, sc.disparity, df, k, kernel, key=sweep_name(sc, i)))
            for i, k in enumerate(ks)
        ],
    }


def sweep_artifacts(frames: list, truth: list, aif: np.ndarray) -> float:
    """The mean artifact share of a sweep's frames against the AIF and Cycles' frame at the same
    K (``train.evaluate.artifacts``; every image H×W×3 in [0, 1])."""
    shares = [artifact_share(f, [aif, t]) for f, t in zip(frames, truth, strict=True)]
    return float(np.mean(shares))


def control_section(bokeh: Model, scenes: list[Scene]) -> dict | None:
    """``{"results": {...}, "figure": [...]}`` over the scenes with a Cycles sweep, or None
    when no scene has one. ``results``: per method the summary of ``control.summarise`` and
    ``scenes``, the count of scored scenes; ``figure``: per shown scene its key, Ks, each
    method's frames and whole-frame and background LV."""
    methods = (*BASELINES, bokeh.label)
    per_scene: dict[str, list] = {m: [] for m in methods}
    outliers: dict[str, list] = {m: [] for m in methods}  # artifact share per scene
    figure = []
    for sc in scenes:
        sweep = cycles_sweep(sc)
        if sweep is None:
            continue
        ks, truth = sweep
        frames = method_sweeps(bokeh, sc, ks, truth)
        disp = sc.disparity[0, 0].double().numpy()
        df = sc.renders[0]["disp_focus"]
        aif = unit_hwc(sc.aif)
        hwc = {m: [unit_hwc(f) for f in fs] for m, fs in frames.items()}  # [0, 1], once
        lv = {m: control.sweep_lv(fs, disp, df, ks, aif, sc.emitters) for m, fs in hwc.items()}
        for m in methods:
            per_scene[m].append(control.score_sweep(ks, lv[m], None if m == TRUTH else lv[TRUTH]))
            outliers[m].append(sweep_artifacts(hwc[m], hwc[TRUTH], aif))
        if len(figure) < FIGURE_SCENES:
            figure.append({"scene": sc.key, "k": ks, "frames": frames, "lv": lv})
    if not per_scene[TRUTH]:
        return None
    results = control.summarise(per_scene, truth=TRUTH)
    for m in methods:
        results[m]["artifacts"] = float(np.mean(outliers[m]))
    return {"results": {"methods": results, "scenes": len(per_scene[TRUTH])}, "figure": figure}


def lv_figure(figure: list[dict], path: str) -> None:
    """LV against K (background LV, log scale; whole frame dashed) for each shown scene and
    method, one panel per scene, as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(figure), figsize=(4.2 * len(figure), 3.4), squeeze=False)
    colours = {TRUTH: "black", "reference": "tab:blue", "aif": "tab:grey"}
    for ax, item in zip(axes[0], figure, strict=True):
        for m in item["lv"]:
            for region, style in (("background", "-"), ("whole", ":")):
                lv = np.asarray(item["lv"][m][region], dtype=np.float64)
                if np.all(np.isfinite(lv)) and lv.min() > 0:
                    label = m if region == "background" else None
                    ax.plot(
                        item["k"],
                        lv,
                        style,
                        color=colours.get(m, "tab:red"),
                        marker="o",
                        ms=3,
                        label=label,
                    )
        ax.set_yscale("log")
        ax.set_xlabel("K (px per 1/m, at the working width)")
        ax.set_title(item["scene"], fontsize=9)
    axes[0][0].set_ylabel("Laplacian variance (background; whole frame dotted)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def strip_rows(figure: list[dict]) -> tuple[list[list[torch.Tensor]], list[str]]:
    """The K strips of the shown scenes beside Cycles' own sweep: per scene, one row per method
    (Cycles, the reference, BokehNet), one column per K of the scene's sweep; and the column
    labels (the first scene's Ks, as other scenes' Ks differ)."""
    rows = []
    for item in figure:
        for m in [m for m in item["frames"] if m != "aif"]:  # Cycles, reference, the method
            rows.append([f[0] for f in item["frames"][m]])
    width = max(len(r) for r in rows)
    rows = [r + [torch.zeros_like(r[0])] * (width - len(r)) for r in rows]
    labels = [f"K={k:.3g}" for k in figure[0]["k"]] + [""] * (width - len(figure[0]["k"]))
    return rows, labels
