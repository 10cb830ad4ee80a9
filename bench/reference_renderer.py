"""The classical reference renderer (optics.render_bokeh) against Cycles' true DoF renders.

For every row of a ``synthetic_pairs`` manifest (one Cycles DoF render: AIF, planar depth, K,
``disp_focus``), renders bokeh from the AIF and scores it against the Cycles render with the
trainer's conventions (images mapped to [-1, 1], data range 2; ``train.evaluate.metrics``):
PSNR and SSIM over (a) the whole frame and (b) the *depth-edge band*: pixels within
``--band-px`` (3) of a depth edge, i.e. of a 4-neighbour pair whose signed CoC *diameter*
``2 · signed_coc_radius_px`` differs by more than ``--edge-jump-px`` (2) px (band SSIM = the mean
of the SSIM map over window centres in the band). Methods, side by side:

* ``aif``: return the AIF itself (the trivial baseline);
* ``render_srgb``: blur the 8-bit sRGB values as they are (gamma-naive);
* ``render_linear``: blur in linear light (``srgb=True``): the renderer as users should call it
  on an 8-bit AIF (the headline row);
* ``render_radiance``: only where the set was rendered with ``--set render.exr=true``: blur the
  unclipped linear AIF (``aif.exr`` × 2^exposure_ev from the scene's meta.json) and apply the
  view transform (clip, sRGB) after: what the renderer can do when highlights are not clipped.

Also the render time per image (``render_linear``, one thread) and LVCorr
(``−pearson(K, Laplacian variance)``, ``train.evaluate.metrics.lvcorr``) over a K sweep
(0, 10, 20, 40, 80 at the frame width) of every row's AIF and ``disp_focus``, averaged over rows.
Prints a table and writes everything (with per-row numbers) as JSON to ``--out``.

  OMP_NUM_THREADS=1 .venv/bin/python bench/reference_renderer.py \\
      --data /tmp/refr-heldout --out /tmp/refr-heldout/reference_renderer.json
  # the set: python -m synth render --config synth/configs/heldout.toml --out /tmp/refr-heldout \\
  #     --scenes 8 --resolution 128 --samples 16 [--set render.exr=true]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optics import (  # noqa: E402
    disparity_from_depth,
    linear_to_srgb,
    render_bokeh,
    rescale_k,
    signed_coc_radius_px,
)
from train.evaluate.edges import edge_band, scores, ssim_map  # noqa: E402

METHODS = ("aif", "render_srgb", "render_linear", "render_radiance")


def load_rgb(path: Path) -> np.ndarray:
    """An image file as float64 H×W×3 in [0, 1]."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0


def load_exr_rgb(path: Path) -> np.ndarray:
    """A linear RGB EXR (as synth writes it) as float64 H×W×3."""
    import OpenEXR

    with OpenEXR.File(str(path)) as f:
        ch = f.parts[0].channels
        if "RGB" in ch:
            return np.asarray(ch["RGB"].pixels, dtype=np.float64)
        return np.stack([np.asarray(ch[c].pixels, dtype=np.float64) for c in "RGB"], axis=-1)


def error_shares(pred01: np.ndarray, true01: np.ndarray, zones: dict) -> dict:
    """Share of the squared error (and of the pixels) in each zone (zones are disjoint)."""
    se = ((pred01 - true01) ** 2).sum(axis=-1)
    total = float(se.sum()) or 1.0
    return {name: float(se[z].sum()) / total for name, z in zones.items()}


def luma(img01: np.ndarray) -> float:
    return float((img01 @ np.array([0.2126, 0.7152, 0.0722])).mean())


def exposure_ev(scene_dir: Path) -> float | None:
    meta = scene_dir / "meta.json"
    if not meta.exists():
        return None
    return json.loads(meta.read_text())["render_settings"].get("exposure_ev")


def lvcorr_of(aif, disp, disp_focus, k_sweep: list[float], srgb: bool) -> tuple[float, float]:
    """Pearson and Spearman LVCorr (train.evaluate.metrics) of the renders of ``aif`` over
    ``k_sweep``."""
    import torch

    from train.evaluate.metrics import lvcorr

    outs = [
        torch.from_numpy(
            np.moveaxis(render_bokeh(aif, disp, k, disp_focus, srgb=srgb) * 2 - 1, -1, 0)
        )
        for k in k_sweep
    ]
    return lvcorr(k_sweep, outs), lvcorr(k_sweep, outs, method="spearman")


def check_ssim_against_train(a01: np.ndarray, b01: np.ndarray) -> float:
    """|numpy SSIM − train.evaluate.metrics.ssim| on one pair (the band SSIM relies on the
    same map)."""
    import torch

    from train.evaluate.metrics import ssim

    t = [torch.from_numpy(np.moveaxis(x * 2 - 1, -1, 0)) for x in (a01, b01)]
    return abs(float(ssim_map(a01 * 2 - 1, b01 * 2 - 1).mean()) - ssim(*t))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="root holding a synthetic_pairs manifest")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--band-px", type=float, default=3.0)
    p.add_argument("--edge-jump-px", type=float, default=2.0)
    p.add_argument("--k-sweep", default="0,10,20,40,80", help="K values for LVCorr")
    p.add_argument("--limit", type=int, default=0, help="score only the first N rows")
    a = p.parse_args()

    from tqdm import tqdm

    from manifests import read_table

    root = Path(a.data)
    rows = read_table(root, "synthetic_pairs").to_pylist()
    rows.sort(key=lambda r: (r["scene_id"], r["render_id"]))
    if a.limit:
        rows = rows[: a.limit]
    k_sweep = [float(k) for k in a.k_sweep.split(",")]
    per_row = []
    ssim_check = None
    for r in tqdm(rows, desc="renders", unit="render"):
        aif = load_rgb(root / r["aif_path"])
        true = load_rgb(root / r["bokeh_path"])
        height, width = aif.shape[:2]
        disp = disparity_from_depth(np.load(root / r["depth_path"]), dtype=np.float64)
        k = float(rescale_k(r["k_genrefocus"], r["k_ref_width_px"], width))
        df = float(r["disp_focus"])
        band = edge_band(signed_coc_radius_px(disp, df, k), a.edge_jump_px, a.band_px)
        t0 = time.perf_counter()
        lin = render_bokeh(aif, disp, k, df, srgb=True)
        elapsed = time.perf_counter() - t0
        preds = {"aif": aif, "render_linear": lin, "render_srgb": render_bokeh(aif, disp, k, df)}
        aif_exr = (root / r["aif_path"]).with_suffix(".exr")
        ev = exposure_ev(aif_exr.parent)
        if aif_exr.exists() and ev is not None:
            radiance = load_exr_rgb(aif_exr) * 2.0**ev
            preds["render_radiance"] = linear_to_srgb(
                np.clip(render_bokeh(radiance, disp, k, df), 0.0, 1.0)
            )
        # Where clipped highlights' bokeh lands: the renderer's spread of the saturated pixels.
        sat = (aif.max(axis=-1) >= 1.0).astype(np.float64)[..., None]
        near_highlight = render_bokeh(sat, disp, k, df)[..., 0] > 0.02
        zones = {
            "edge_band": band,
            "highlights": near_highlight & ~band,
            "elsewhere": ~near_highlight & ~band,
        }
        if ssim_check is None:
            ssim_check = check_ssim_against_train(lin, true)
        row = {
            "scene_id": r["scene_id"],
            "render_id": r["render_id"],
            "k_px": k,
            "disp_focus": df,
            "max_radius_px": float(np.abs(signed_coc_radius_px(disp, df, k)).max()),
            "aperture_blades": r["aperture_blades"],
            "band_fraction": float(band.mean()),
            "render_s": elapsed,
            "luma": {"aif": luma(aif), "cycles": luma(true), "render_linear": luma(lin)},
            "saturated_fraction_aif": float((aif.max(axis=-1) >= 1.0).mean()),
        }
        row.update({m: scores(pred, true, band) for m, pred in preds.items()})
        row["pixel_share"] = {name: float(z.mean()) for name, z in zones.items()}
        for m, pred in preds.items():
            row[m]["error_share"] = error_shares(pred, true, zones)
        if "render_radiance" in preds:
            row["luma"]["render_radiance"] = luma(preds["render_radiance"])
        row["lvcorr_linear"] = lvcorr_of(aif, disp, df, k_sweep, srgb=True)
        row["lvcorr_srgb"] = lvcorr_of(aif, disp, df, k_sweep, srgb=False)
        per_row.append(row)

    methods = [m for m in METHODS if all(m in row for row in per_row)]
    table = {
        m: {
            key: float(np.nanmean([row[m][key] for row in per_row]))
            for key in ("psnr", "ssim", "psnr_band", "ssim_band")
        }
        for m in methods
    }
    for m in methods:  # pooled over all renders: share of the total squared error per zone
        sse = {z: 0.0 for z in ("edge_band", "highlights", "elsewhere")}
        for row in per_row:
            mse_row = 10.0 ** (-row[m]["psnr"] / 10.0) * 4.0  # back from dB, data range 2
            for z in sse:
                sse[z] += row[m]["error_share"][z] * mse_row
        table[m]["error_share"] = {z: v / sum(sse.values()) for z, v in sse.items()}
    pixel_share = {
        z: float(np.mean([row["pixel_share"][z] for row in per_row]))
        for z in ("edge_band", "highlights", "elsewhere")
    }
    times = np.array([row["render_s"] for row in per_row])
    summary = {
        "data": str(root),
        "renders": len(per_row),
        "scenes": len({row["scene_id"] for row in per_row}),
        "width_px": width,
        "band": {"band_px": a.band_px, "edge_jump_px": a.edge_jump_px},
        "band_fraction_mean": float(np.mean([row["band_fraction"] for row in per_row])),
        "table": table,
        "pixel_share": pixel_share,
        "render_s": {"mean": float(times.mean()), "median": float(np.median(times))},
        "k_sweep": k_sweep,
        "lvcorr": {
            name: {
                "pearson": float(np.mean([row[f"lvcorr_{name}"][0] for row in per_row])),
                "spearman": float(np.mean([row[f"lvcorr_{name}"][1] for row in per_row])),
            }
            for name in ("linear", "srgb")
        },
        "luma_mean": {
            key: float(np.mean([row["luma"][key] for row in per_row if key in row["luma"]]))
            for key in ("aif", "cycles", "render_linear", "render_radiance")
            if any(key in row["luma"] for row in per_row)
        },
        "ssim_numpy_vs_train_metrics": ssim_check,
        "rows": per_row,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(summary, indent=1))

    print(f"\n{len(per_row)} Cycles DoF renders of {summary['scenes']} scenes, {width} px: {root}")
    print(f"edge band: {summary['band_fraction_mean']:.1%} of pixels (within {a.band_px:g} px of")
    print(f"  a CoC-diameter jump > {a.edge_jump_px:g} px); [-1, 1] images, data range 2")
    print(
        f"{'method':<16}{'PSNR dB':>9}{'SSIM':>8}{'PSNR band':>11}{'SSIM band':>11}"
        f"   squared error: band / highlights / elsewhere"
    )
    for m, v in table.items():
        e = v["error_share"]
        print(
            f"{m:<16}{v['psnr']:>9.2f}{v['ssim']:>8.4f}{v['psnr_band']:>11.2f}"
            f"{v['ssim_band']:>11.4f}   {e['edge_band']:>6.0%} / {e['highlights']:>4.0%} / "
            f"{e['elsewhere']:>4.0%}"
        )
    print(
        "pixels: "
        + " / ".join(f"{z} {v:.1%}" for z, v in pixel_share.items())
        + " (highlights: where clipped AIF pixels' bokeh lands, outside the band)"
    )
    print(
        f"render time (render_linear, 1 thread): mean {times.mean() * 1e3:.0f} ms, "
        f"median {np.median(times) * 1e3:.0f} ms per image"
    )
    lv = summary["lvcorr"]
    print(
        f"LVCorr over K {k_sweep}: linear light {lv['linear']['pearson']:.3f} "
        f"(Spearman {lv['linear']['spearman']:.3f}), sRGB values {lv['srgb']['pearson']:.3f}"
    )
    print("mean luma: " + ", ".join(f"{k} {v:.3f}" for k, v in summary["luma_mean"].items()))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
