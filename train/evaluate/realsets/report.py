"""``real_benchmark.md``: the results of ``benchmark-real`` as Markdown tables. A value that
could not be scored (a region too small in every scene) is shown as ``–``, never ``nan``; a PSNR
of an exact match is ``inf``."""

from __future__ import annotations

import math

TITLES = {
    "dpdd": "DPDD, Canon test set (Abuolaim & Brown, ECCV 2020)",
    "realdof": "RealDOF (Lee et al., CVPR 2021)",
    "realbokeh": "RealBokeh (Seizinger et al., Bokehlicious, ICCV 2025)",
    "focalstack": "Learn2Refocus focal stacks (Tedla et al., SIGGRAPH Asia 2025)",
}
DATASETS = tuple(TITLES)  # what --dataset takes
CONTROL_COLUMNS = (
    ("pearson", "Pearson (LVCorr)"),
    ("spearman_whole", "Spearman whole"),
    ("spearman_background", "Spearman background"),
    ("truth_correlation", "truth correlation"),
    ("dynamic_range_ratio", "dynamic range ratio"),
    ("focus_kept", "focus kept"),
)


def fmt(value, digits: int) -> str:
    v = float(value)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}f}"


def _fidelity(rows: dict) -> list[str]:
    measures = [m for m in ("psnr", "ssim", "lpips", "dists") if any(m in r for r in rows.values())]
    names = {"psnr": "PSNR dB", "ssim": "SSIM", "lpips": "LPIPS", "dists": "DISTS"}
    head = " | ".join(f"{names[m]} | worst" for m in measures)
    lines = [f"| row | images | {head} |", "|---|---|" + "---|---|" * len(measures)]
    for row, v in rows.items():
        cells = " | ".join(
            f"{fmt(v.get(m, math.nan), 2 if m == 'psnr' else 4)} | "
            f"{fmt(v.get(m + '_worst', math.nan), 2 if m == 'psnr' else 4)}"
            for m in measures
        )
        lines.append(f"| {row} | {v['images']} | {cells} |")
    return lines


def _by_distance(groups: dict) -> list[str]:
    dists = sorted({int(d) for g in groups.values() for d in g})
    lines = [
        "| row | " + " | ".join(f"Δ{d}" for d in dists) + " |",
        "|---|" + "---|" * len(dists),
    ]
    for row, g in groups.items():
        lines.append(f"| {row} | " + " | ".join(fmt(g.get(d, math.nan), 2) for d in dists) + " |")
    return lines


def _control(section: dict) -> list[str]:
    lines = [
        "| row | scenes | " + " | ".join(t for _, t in CONTROL_COLUMNS) + " |",
        "|---|---|" + "---|" * len(CONTROL_COLUMNS),
    ]
    for row, v in section["control"].items():
        cells = " | ".join(fmt(v[k], 3) for k, _ in CONTROL_COLUMNS)
        lines.append(f"| {row} | {v['scenes']} | {cells} |")
    lines.append(
        f"\nScenes with fewer than {section['min_frames']} photos are not scored for "
        f"controllability: {section['scenes_too_short']} of "
        f"{section['scenes_too_short'] + section['scenes_scored']}."
    )
    return lines


def table_markdown(results: dict) -> str:
    """The Markdown of a ``benchmark-real`` result (see docs/real-datasets.md)."""
    lines = [
        f"# Real-data benchmark: {TITLES[results['dataset']]}",
        "",
        f"Root `{results['root']}`; {results['scored']} of {results['items']} items scored "
        f"({results['unit']}); working size: {results['working_size']}.",
    ]
    if results.get("perceptual"):
        lines.append("Perceptual metrics: " + ", ".join(results["perceptual"].values()) + ".")
    lines += ["", "## Fidelity (mean and worst image)", "", *_fidelity(results["fidelity"])]
    if results.get("by_distance"):
        lines += ["", "## PSNR by focal distance |i − j| (dB)", ""]
        lines += _by_distance(results["by_distance"])
    if "control" in results:
        lines += ["", "## Controllability against the real sweep", ""]
        lines += _control(results["control"])
    return "\n".join(lines) + "\n"
