"""The benchmark's aperture-shape section: shape fidelity on the held-out shaped renders.

For every held-out DoF render made through a shaped aperture (``aperture_shape_id`` set), whole
frames at the benchmark's working size: the isolated highlights of
``train.evaluate.shape_fidelity`` are scored in the Cycles render (the truth: how well the
measurement itself sees the shape), the classical reference renderer given the kernel and given
the disc, the benchmarked BokehNet (given the kernel when it takes one) and, when given, a
BokehNet trained with the shape condition (``model.shape_condition``). Rows: mean footprint
IoU with the kernel (``iou_kernel``) and with Cycles (``iou_cycles``) over all highlights, and
their count. The figure is one shaped scene (the one with the most scored highlights, the
darkest on a tie: night scenes show bokeh best): per render, the AIF, Cycles' truth and each
method's output.
"""

from __future__ import annotations

import numpy as np

from train.evaluate.methods import reference
from train.evaluate.metrics import unit_hwc
from train.evaluate.shape_fidelity import score_render

TRUTH = "cycles (truth)"
REF_KERNEL = "reference (kernel)"
REF_DISC = "reference (disc)"
SHORT = {  # the figure's column labels (a tile is as wide as the frame)
    TRUTH: "Cycles",
    REF_KERNEL: "ref+kernel",
    REF_DISC: "ref disc",
    "bokehnet": "BokehNet",
    "bokehnet (shape)": "+shape",
}


def shape_section(bokeh, shape_bokeh, scenes) -> dict | None:
    """Scores and figure rows, or None when no held-out render is shaped. ``bokeh`` /
    ``shape_bokeh``: ``train.evaluate.methods.Model`` (the second may be None)."""
    methods = [TRUTH, REF_KERNEL, REF_DISC, "bokehnet"]
    if shape_bokeh is not None:
        methods.append("bokehnet (shape)")
    iou = {m: {"iou_kernel": [], "iou_cycles": []} for m in methods}
    renders, shapes, figures = 0, {}, []
    for sc in scenes:
        aif = unit_hwc(sc.aif)
        disp = sc.disparity[0, 0].double().numpy()
        rows, n_highlights = [], 0
        for r in sc.renders:
            if not r.get("shape"):
                continue
            renders += 1
            name = r["shape"].split("@")[0]
            shapes[name] = shapes.get(name, 0) + 1
            k, df, kernel = r["k"], r["disp_focus"], r["kernel_raw"]
            outs = {
                TRUTH: r["dof"],
                REF_KERNEL: reference(sc.aif, sc.disparity, k, df, kernel),
                REF_DISC: reference(sc.aif, sc.disparity, k, df),
                "bokehnet": bokeh.bokeh(sc.aif, sc.disparity, df, k, r["kernel"]),
            }
            if shape_bokeh is not None:
                outs["bokehnet (shape)"] = shape_bokeh.bokeh(
                    sc.aif, sc.disparity, df, k, r["kernel"]
                )
            scores, highlights = score_render(
                aif, disp, k, df, kernel, {m: unit_hwc(t) for m, t in outs.items()}, truth=TRUTH
            )
            for m in methods:
                for key in ("iou_kernel", "iou_cycles"):
                    iou[m][key].extend(scores[m][key])
            n_highlights += len(highlights)
            rows.append([sc.aif[0], *(outs[m][0] for m in methods)])
        if rows:
            figures.append((n_highlights, -float(aif.mean()), sc.key, rows))
    if not renders:
        return None

    def mean(v):
        return float(np.mean(v)) if v else float("nan")

    results = {
        m: {
            "iou_kernel": mean(iou[m]["iou_kernel"]),
            "iou_cycles": mean(iou[m]["iou_cycles"]),
            "highlights": len(iou[m]["iou_kernel"]),
        }
        for m in methods
    }
    best = max(figures, key=lambda f: (f[0], f[1]))
    return {
        "results": {"rows": results, "renders": renders, "shapes": shapes, "scene": best[2]},
        "grid": {"labels": ["AIF", *(SHORT[m] for m in methods)], "rows": best[3]},
    }


def shape_table(shapes: dict) -> list[str]:
    """Markdown lines for the section (after the benchmark's other tables)."""
    lines = [
        "",
        f"Aperture shapes: {shapes['renders']} shaped held-out renders "
        f"({', '.join(f'{k} {v}' for k, v in sorted(shapes['shapes'].items()))}); "
        "footprint IoU of isolated highlights",
        "",
        "| method | IoU with the kernel | IoU with Cycles | highlights |",
        "|---|---|---|---|",
    ]
    for m, v in shapes["rows"].items():
        lines.append(
            f"| {m} | {v['iou_kernel']:.3f} | {v['iou_cycles']:.3f} | {int(v['highlights'])} |"
        )
    return lines
