"""Natural-image statistics report: ``natural_stats.json``, ``.md`` and ``.png`` for groups.

The groups (e.g. photos, each procedural / photographic scene kind) are measured with
``synth.imagestats`` at one long edge; the JSON holds the settings, one row per group and the
pooled histograms on the fixed edges, the markdown file the table (``format_table``, also for
the console), and the PNG the log-gradient, saturation and brightness histograms per group.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from synth import imagestats as ist

COLUMNS = [
    ("name", "group"),
    ("images", "images"),
    ("spectral_slope_mean", "slope mean"),
    ("spectral_slope_std", "slope std"),
    ("slope_gap_to_reference", "slope gap"),
    ("gradient_w1_to_reference", "log-grad W1"),
    ("saturation_w1", "sat W1"),
    ("brightness_w1", "bright W1"),
    ("saturation_mean", "sat mean"),
    ("brightness_mean", "bright mean"),
]
_PANELS = [
    ("log_gradient", "log10(|grad I| + 1/255)", ist.GRADIENT_EDGES),
    ("saturation", "HSV saturation", ist.SATURATION_EDGES),
    ("brightness", "HSV value (brightness)", ist.BRIGHTNESS_EDGES),
]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_table(rows: list[dict]) -> str:
    """A markdown table of the rows, floats to 3 significant digits."""
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(_cell(r[key]) for key, _ in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def plot_histograms(histograms: dict[str, dict], rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slopes = {r["name"]: r["spectral_slope_mean"] for r in rows}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (key, title, edges) in zip(axes, _PANELS, strict=True):
        centres = 0.5 * (edges[:-1] + edges[1:])
        for name, hists in histograms.items():
            ax.plot(centres, hists[key], label=f"{name} (slope {slopes[name]:.2f})")
        ax.set_title(title)
        ax.set_ylabel("fraction of pixels")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_natural_stats(
    groups: dict[str, list[np.ndarray]],
    out_dir: Path,
    reference: str = "photos",
    long_edge_px: int = 128,
) -> dict:
    """Measure the groups, write ``natural_stats.{json,md,png}`` in ``out_dir``; return the JSON."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = {name: ist.group_stats(images, long_edge_px) for name, images in groups.items()}
    rows = ist.rows_from_group_stats(stats, reference)
    histograms = {
        name: {key: ist.histogram_fractions(s[key], edges).tolist() for key, _, edges in _PANELS}
        for name, s in stats.items()
    }
    report = {
        "settings": {
            "reference": reference,
            "long_edge_px": long_edge_px,
            "slope_band": (
                f"{ist.SLOPE_LOW_CYCLES_PER_IMAGE} cycles per image to "
                f"{ist.SLOPE_HIGH_FRACTION_OF_NYQUIST} x Nyquist"
            ),
            "gradient_eps": ist.GRADIENT_EPS,
            "max_samples_per_image": ist.MAX_SAMPLES_PER_IMAGE,
            "edges": {key: edges.tolist() for key, _, edges in _PANELS},
        },
        "rows": rows,
        "histograms": histograms,
    }
    (out_dir / "natural_stats.json").write_text(json.dumps(report, indent=1))
    (out_dir / "natural_stats.md").write_text(format_table(rows) + "\n")
    plot_histograms(histograms, rows, out_dir / "natural_stats.png")
    return report
