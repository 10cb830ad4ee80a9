"""The demo's 2.5-D twin: its training renders' AIF and true depth through the classical renderer.

``python -m synth photos --photos OUT/synth --out OUT/synth_2p5d`` keeps every render's focus, K
and aperture, so a twin pair differs from its Cycles render only by the renderer (occlusion at
depth edges, clipped highlights, the path-traced noise). :func:`run_twin` writes the set, the
PSNR of every twin against its Cycles render, and ``compare.png``: for the scenes with the most
blur, all-in-focus | Cycles | 2.5-D | the difference (×4).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SHOWN_SCENES = 4
REPO = Path(__file__).resolve().parents[1]


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def run_twin(out: Path) -> dict:
    """The twin set under ``OUT/synth_2p5d`` and its comparison with the Cycles renders."""
    from manifests import read_table

    twin = out / "synth_2p5d"
    p = subprocess.run(
        [sys.executable, "-m", "synth", "photos", "--photos", str(out / "synth"), "--out",
         str(twin), "--workers", "0", "--quiet", "--set", "photos.min_short_side_px=8"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )  # fmt: skip
    if p.returncode not in (0, 1):
        raise RuntimeError(f"synth photos failed: {(p.stderr or p.stdout).strip()[-500:]}")
    stats = json.loads((twin / "stats.json").read_text())
    cycles = {
        (r["scene_id"], r["render_id"]): r
        for r in read_table(out / "synth", "synthetic_pairs").to_pylist()
    }
    pairs = []
    for r in read_table(twin, "synthetic_pairs").to_pylist():
        c = cycles[(r["scene_id"], r["render_id"])]
        ours, truth = _rgb(twin / r["bokeh_path"]), _rgb(out / "synth" / c["bokeh_path"])
        blur = float(np.abs(np.load(twin / r["coc_path"])).mean())
        pairs.append((blur, r, c, psnr_db(ours, truth)))
    rows, shown = [], set()
    for _, r, c, _ in sorted(pairs, key=lambda x: -x[0]):  # each scene's most blurred render
        if r["scene_id"] in shown or len(shown) == SHOWN_SCENES:
            continue
        shown.add(r["scene_id"])
        aif = _rgb(out / "synth" / c["aif_path"])
        truth = _rgb(out / "synth" / c["bokeh_path"])
        ours = _rgb(twin / r["bokeh_path"])
        diff = np.clip(np.abs(ours.astype(int) - truth.astype(int)) * 4, 0, 255).astype(np.uint8)
        rows.append(np.concatenate([aif, truth, ours, diff], axis=1))
    figure = twin / "compare.png"
    if rows:
        h = max(x.shape[0] for x in rows)
        rows = [np.pad(x, ((0, h - x.shape[0]), (0, 0), (0, 0))) for x in rows]
        Image.fromarray(np.concatenate(rows, axis=0)).save(figure)
    values = [x[3] for x in pairs if np.isfinite(x[3])]
    return {
        "stats": stats,
        "pairs": len(pairs),
        "psnr_vs_cycles_db": float(np.mean(values)) if values else None,
        "psnr_vs_cycles_worst_db": float(np.min(values)) if values else None,
        "figure": str(figure) if rows else None,
        "summary": f"{stats['kept']} scenes, {len(pairs)} twin pairs, PSNR against Cycles "
        f"{np.mean(values) if values else float('nan'):.2f} dB",
    }
