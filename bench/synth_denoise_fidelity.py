"""Does the denoiser keep the detail of the all-in-focus renders? The demo's renders (16 spp,
OpenImageDenoise) against the same scenes path-traced to convergence (1024 spp, no denoiser),
side by side in one run.

Renders ``--scenes`` scenes twice with ``synth.cli.main`` (the code of ``python -m synth
render``; 128 px, the default kind weights and embedded photo pool, one DoF render per scene):
once at the demo's settings and once at ``--reference-samples`` without denoising. The scenes
are daylight without highlights (``scene.night_probability=0``, ``no_highlights_probability=1``,
no shaped scenes, which force highlights): small emitters light rough surfaces with fireflies
that even 1024 samples leave as noise, so only there is the long render a converged reference.
Per kind and over all scenes, on the AIF images (``synth.report.scene_aifs``): the spectral
slope of each run (``synth.imagestats.spectral_slope``, the statistic of ``synth report``), the
top octave's power (0.2-0.4 cycles/pixel) of the demo's render over the reference's, and PSNR,
each after matching the demo render's gain to the reference's (each render sets its own
exposure from its AIF, so the two differ by a few tenths of an EV).

Measured (2 shared cores, load 1.7-2.0, 2026-12-03), 16 spp denoised against 1024 spp:
``--scenes 6 --seed 7``: slope -2.85 against -2.80, top-octave power 0.93 x, PSNR 37.9 dB;
``--scenes 16 --seed 3``: slope -2.60 against -2.53 (procedural -2.18 / -2.07, cards -2.96 /
-2.87, textured -2.69 / -2.66), power 0.91 x (procedural 0.83, cards 0.89, textured 0.97), PSNR
38.9 dB; the long render costs 6.5-7.4 x. The denoiser takes 0.03-0.11 off the slope: the
photographic kinds' slopes (0.4-0.7 from the embedded pool's mean) are their content's
(docs/synth.md).

  .venv/bin/python bench/synth_denoise_fidelity.py [--scenes 6] [--seed 7] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOP_OCTAVE_CPP = (0.2, 0.4)  # cycles per pixel: the top octave below the slope band's end


def gain_matched(test: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, float]:
    """``test`` scaled by the least-squares gain onto ``ref`` (both float in [0, 1])."""
    gain = float(np.sum(test * ref) / max(np.sum(test * test), 1e-12))
    return np.clip(test * gain, 0.0, 1.0), gain


def compare(test_rgb: np.ndarray, ref_rgb: np.ndarray) -> dict:
    """Slopes, top-octave power ratio and PSNR of one demo render against its reference."""
    from synth.imagestats import radial_power_spectrum, spectral_slope, to_gray, unit_float

    ref = unit_float(ref_rgb)
    test, _ = gain_matched(unit_float(test_rgb), ref)
    g_test, g_ref = to_gray(test), to_gray(ref)
    freq, p_test = radial_power_spectrum(g_test)
    _, p_ref = radial_power_spectrum(g_ref)
    top = (freq >= TOP_OCTAVE_CPP[0]) & (freq <= TOP_OCTAVE_CPP[1]) & (p_ref > 0) & (p_test > 0)
    mse = float(np.mean((test - ref) ** 2))
    return {
        "slope_test": spectral_slope(g_test),
        "slope_ref": spectral_slope(g_ref),
        "top_octave_power": float(np.exp(np.mean(np.log(p_test[top] / p_ref[top])))),
        "psnr_db": 10 * np.log10(1.0 / max(mse, 1e-12)),
    }


def summarise(label: str, items: list[dict]) -> str:
    m = {k: float(np.mean([i[k] for i in items])) for k in items[0]}
    return (
        f"| {label} | {len(items)} | {m['slope_test']:.2f} | {m['slope_ref']:.2f} | "
        f"{m['top_octave_power']:.2f} | {m['psnr_db']:.1f} |"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=int, default=6)
    p.add_argument("--seed", type=int, default=7, help="dataset seed (another sample of scenes)")
    p.add_argument("--samples", type=int, default=16, help="the demo's samples (denoised)")
    p.add_argument("--reference-samples", type=int, default=1024, help="no denoiser")
    p.add_argument("--keep", action="store_true", help="keep the renders (printed)")
    a = p.parse_args(argv)
    if not 0 <= a.seed < 2**31 or not 1 <= a.scenes <= 1000:
        print("error: --seed must be in [0, 2^31) and --scenes in [1, 1000]", file=sys.stderr)
        return 2
    if not 1 <= a.samples <= a.reference_samples <= 65536:
        print("error: need 1 <= --samples <= --reference-samples <= 65536", file=sys.stderr)
        return 2

    from synth.cli import main as synth_main
    from synth.report import scene_aifs

    tmp = Path(tempfile.mkdtemp(prefix="bench-denoise-"))
    common = [
        "--scenes", str(a.scenes), "--resolution", "128", "--workers", "1", "--quiet",
        "--set", f"dataset_seed={a.seed}", "--set", "aperture.renders_per_scene=1",
        "--set", "scene.night_probability=0.0", "--set", "scene.no_highlights_probability=1.0",
        "--set", "aperture.shaped_scene_probability=0.0",
    ]  # fmt: skip
    runs = {
        "demo": ["--samples", str(a.samples)],
        "reference": ["--samples", str(a.reference_samples), "--set", "render.denoise=false"],
    }
    wall_s, aifs = {}, {}
    try:
        for name, extra in runs.items():
            out = tmp / name
            t0 = time.perf_counter()
            rc = synth_main(["render", "--out", str(out), *common, *extra])
            wall_s[name] = time.perf_counter() - t0
            if rc != 0:
                print(f"error: the {name} render exited {rc} (see {out}/logs)", file=sys.stderr)
                return 1
            aifs[name] = scene_aifs(out)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    by_kind = {
        kind: [compare(t, r) for t, r in zip(images, aifs["reference"][kind], strict=True)]
        for kind, images in aifs["demo"].items()
    }
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(
        f"{a.scenes} day scenes without highlights, 128 px, AIF + 1 DoF render each: "
        f"{a.samples} spp denoised {wall_s['demo']:.0f} s, {a.reference_samples} spp without "
        f"denoising {wall_s['reference']:.0f} s ({wall_s['reference'] / wall_s['demo']:.1f} x)\n"
    )
    print(
        f"| kind | scenes | slope, {a.samples} spp denoised | slope, {a.reference_samples} spp | "
        f"top-octave power, denoised / reference | PSNR dB |"
    )
    print("|---|---|---|---|---|---|")
    for kind, items in by_kind.items():
        print(summarise(kind, items))
    print(summarise("all", [i for items in by_kind.values() for i in items]))
    print(
        "top octave: 0.2-0.4 cycles/pixel; power ratio < 1: the denoised render is softer; "
        "PSNR and power after a least-squares gain match (each render sets its own exposure)"
    )
    if a.keep:
        print(f"renders kept in {tmp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
