"""The benchmark's sections over held-out scenes (``train.evaluate.scenes``): deblur, deblur of
sharp inputs, bokeh, refocus and controllability (LVCorr over a K sweep and focus-follows), each
row a method (``train.evaluate.methods``) scored by PSNR and SSIM against path-traced truth
(:class:`Scores`: mean and worst image, and the mean over the depth-edge band of the target
render, ``train.evaluate.edges``, where the bokeh and refocus sections give one).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from train.evaluate.artifacts import artifact_share
from train.evaluate.edges import scores as edge_scores
from train.evaluate.methods import Model, reference
from train.evaluate.metrics import (
    band_medians,
    finite_mean,
    focus_follows,
    lvcorr,
    psnr_per_image,
    ssim_per_image,
    unit_hwc,
)
from train.evaluate.scenes import Scene, bokeh_name


class Scores:
    """Per-row PSNR/SSIM lists, summarised as mean and worst image; with an edge band, also
    its PSNR and SSIM (``psnr_band``, ``ssim_band``: means over the images whose band is not
    empty, NaN when none has one)."""

    def __init__(self):
        self.rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

    def add(self, row: str, out: torch.Tensor, target: torch.Tensor, band=None) -> None:
        """Score ``out`` against ``target`` ([1, 3, H, W] in [-1, 1]); ``band``: the target's
        edge band (H×W bool, ``train.evaluate.edges.edge_band``)."""
        self.rows[row]["psnr"].extend(psnr_per_image(out, target).tolist())
        self.rows[row]["ssim"].extend(ssim_per_image(out, target).tolist())
        if band is not None and band.any():
            s = edge_scores(unit_hwc(out), unit_hwc(target), band)
            self.rows[row]["psnr_band"].append(s["psnr_band"])
            self.rows[row]["ssim_band"].append(s["ssim_band"])

    def summary(self) -> dict:
        out = {}
        for row, v in self.rows.items():
            out[row] = {
                "psnr": float(np.mean(v["psnr"])),
                "psnr_worst": float(np.min(v["psnr"])),
                "ssim": float(np.mean(v["ssim"])),
                "ssim_worst": float(np.min(v["ssim"])),
                "images": len(v["psnr"]),
            }
            if "psnr_band" in v:
                out[row]["psnr_band"] = finite_mean(v["psnr_band"])
                out[row]["ssim_band"] = finite_mean(v["ssim_band"])
        return out


def bokeh_section(bokeh: Model, scenes: list[Scene], scores: Scores) -> None:
    """AIF + each render's defocus map in, the Cycles render expected."""
    for sc in scenes:
        for r in sc.renders:
            key = bokeh_name(sc, r)
            out = bokeh.bokeh(sc.aif, sc.disparity, r["disp_focus"], r["k"], r["kernel"], key=key)
            ref = reference(sc.aif, sc.disparity, r["k"], r["disp_focus"], r["kernel_raw"])
            for row, img in ((bokeh.label, out), ("reference", ref), ("aif", sc.aif)):
                scores.add(row, img, r["dof"], r["band"])


K_GRID_0_30 = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)  # the paper's form on a second grid


def controllability(bokeh: Model, scenes: list[Scene], k_sweep, focus_k: float) -> dict:
    """The paper's LVCorr (``−pearson(K, LV)``, grid-dependent) over ``k_sweep`` and over
    :data:`K_GRID_0_30` (first render's focus plane) and focus-follows at ``focus_k`` (the
    nearest and the farthest band's median disparity), for BokehNet and the reference;
    ``strip``: the first scene's ``k_sweep`` images."""
    lv, lv30, follows, strip = defaultdict(list), defaultdict(list), defaultdict(list), None
    outliers = []  # per scene, BokehNet's artifact share at each K of k_sweep
    for sc in scenes:
        r0 = sc.renders[0]
        df0, kernel0, raw0 = r0["disp_focus"], r0["kernel"], r0["kernel_raw"]
        for grid, scores in ((k_sweep, lv), (K_GRID_0_30, lv30)):
            sweep = {
                "bokehnet": [bokeh.bokeh(sc.aif, sc.disparity, df0, k, kernel0)[0] for k in grid],
                "reference": [reference(sc.aif, sc.disparity, k, df0, raw0)[0] for k in grid],
            }
            for row, imgs in sweep.items():
                scores[row].append(lvcorr(grid, imgs))
            strip = strip or sweep
            if grid is k_sweep:
                aif = unit_hwc(sc.aif)
                outliers.append(
                    [
                        artifact_share(unit_hwc(b), [aif, unit_hwc(r)])
                        for b, r in zip(sweep["bokehnet"], sweep["reference"], strict=True)
                    ]
                )
        disp = sc.disparity[0, 0].numpy()
        for df in band_medians(disp)[[-1, 0]].tolist():
            if not np.isfinite(df):  # an empty band (a scene of few depths): no focus there
                continue
            outs = {
                "bokehnet": bokeh.bokeh(sc.aif, sc.disparity, df, focus_k, kernel0),
                "reference": reference(sc.aif, sc.disparity, focus_k, df, raw0),
            }
            for row, img in outs.items():
                follows[row].append(focus_follows(img, sc.aif, disp, df))
    return {
        "lvcorr": {row: float(np.nanmean(v)) for row, v in lv.items()},
        "lvcorr_0_30": {row: float(np.nanmean(v)) for row, v in lv30.items()},
        "focus_follows": {row: float(np.mean(v)) for row, v in follows.items()},
        "artifacts": {  # against the AIF and the reference at the same K
            "k": [float(k) for k in k_sweep],
            "bokehnet": np.mean(outliers, axis=0).tolist(),
        },
        "strip": strip,
    }


def deblur_scene(deblur: Model, sc: Scene, sections: dict) -> list[torch.Tensor]:
    """The deblur sections of one scene: each render in, the AIF expected (DeblurNet and the
    blurry input itself), and the AIF in (``deblur_sharp``); returns the deblurred renders."""
    sections["deblur_sharp"].add("deblurnet", deblur([sc.aif]), sc.aif)
    deblurred = [deblur([r["dof"]]) for r in sc.renders]
    for r, d in zip(sc.renders, deblurred, strict=True):
        sections["deblur"].add("deblurnet", d, sc.aif)
        sections["deblur"].add("identity (blurry input)", r["dof"], sc.aif)
    return deblurred


def deblur_section(deblur: Model, scenes: list[Scene]) -> dict:
    """Only the deblur sections over ``scenes`` (no BokehNet): ``{"deblur": ..., "deblur_sharp":
    ...}``, each row's mean and worst image as in :func:`run_benchmark`."""
    sections = {s: Scores() for s in ("deblur", "deblur_sharp")}
    for sc in scenes:
        deblur_scene(deblur, sc, sections)
    return {name: s.summary() for name, s in sections.items()}


def deblur_and_refocus(deblur: Model, bokeh: Model, scenes: list[Scene], sections: dict):
    """The deblur sections, and refocus over every ordered pair of renders of a scene; returns
    up to four refocus shots for the figure."""
    shots = []
    for sc in scenes:
        deblurred = deblur_scene(deblur, sc, sections)
        for a, ra in enumerate(sc.renders):
            for b, rb in enumerate(sc.renders):
                if a == b:
                    continue
                out = bokeh.bokeh(
                    deblurred[a], sc.disparity, rb["disp_focus"], rb["k"], rb["kernel"]
                )
                ref = reference(
                    deblurred[a], sc.disparity, rb["k"], rb["disp_focus"], rb["kernel_raw"]
                )
                rows = (
                    ("deblurnet + bokehnet", out),
                    ("deblurnet + reference", ref),
                    ("identity (input render)", ra["dof"]),
                )
                for row, img in rows:
                    sections["refocus"].add(row, img, rb["dof"], rb["band"])
                if a == 0 and b == 1 and len(shots) < 4:
                    shots.append(
                        {
                            "input": ra["dof"],
                            "deblurred": deblurred[a],
                            "aif": sc.aif,
                            "bokehnet": out,
                            "reference": ref,
                            "cycles": rb["dof"],
                        }
                    )
    return shots
