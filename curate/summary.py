"""The end-of-job report: a one-screen text summary, ``summary.png`` and ``summary.html``.

Plots (matplotlib, Agg backend): histograms of f-number, equivalent f-number and focal length
of the kept photos, the top camera models, the score distributions (log10 sharpness, bokeh
evidence, CLIP quality when present) and the reject reasons. The HTML embeds the PNG and the
count tables, and says in plain words when CLIP scores were not computed.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter

import numpy as np

from curate.stats import value_counts


def _values(table, name) -> np.ndarray:
    if table is None or name not in table.column_names:
        return np.zeros(0)
    v = table.column(name).drop_null().to_numpy(zero_copy_only=False)
    return np.asarray(v, dtype=np.float64)


# the kept photos' columns plot_png reads (the job reads only these: not the CLIP embeddings)
PLOT_COLUMNS = [
    "f_number",
    "f_number_equivalent",
    "focal_length_mm",
    "model",
    "sharpness",
    "bokeh_evidence",
    "clip_quality",
]


def plot_png(kept, rejects) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    panels = [
        ("f_number", "f-number N", axes[0, 0]),
        ("f_number_equivalent", "equivalent f-number N·crop", axes[0, 1]),
        ("focal_length_mm", "focal length (mm)", axes[0, 2]),
    ]
    for col, title, ax in panels:
        v = _values(kept, col)
        if v.size:
            ax.hist(v, bins=min(30, max(5, v.size)), color="#4477aa")
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{title} (kept, n={v.size})")
    ax = axes[1, 0]
    models = Counter(
        m for m in (kept.column("model").to_pylist() if kept is not None else []) if m
    ).most_common(10)
    if models:
        ax.barh([m for m, _ in models][::-1], [c for _, c in models][::-1], color="#228833")
    ax.set_title("top camera models (kept)")
    ax = axes[1, 1]
    sharp = _values(kept, "sharpness")
    if sharp.size:
        ax.hist(np.log10(1 + sharp), bins=20, alpha=0.6, label="log10(1+sharpness)")
        ax.hist(_values(kept, "bokeh_evidence"), bins=20, alpha=0.6, label="bokeh evidence")
        clipq = _values(kept, "clip_quality")
        if clipq.size:
            ax.hist(clipq, bins=20, alpha=0.6, label="CLIP quality")
        ax.legend()
    ax.set_title("scores (kept)" + ("" if _values(kept, "clip_quality").size else "; no CLIP"))
    ax = axes[1, 2]
    reasons = Counter(value_counts(rejects, "reason") if rejects is not None else {})
    if reasons:
        items = reasons.most_common()
        ax.barh([r for r, _ in items][::-1], [c for _, c in items][::-1], color="#cc6677")
    ax.set_title(f"reject reasons (n={sum(reasons.values())})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def clip_note(stats: dict) -> str:
    clip = stats.get("clip", {})
    if clip.get("enabled"):
        return f"CLIP scores computed with {clip.get('model')} from a local checkpoint."
    return (
        "CLIP scores were NOT computed: "
        + clip.get("reason", "no checkpoint configured")
        + ". The columns clip_quality, clip_shallow_dof and clip_embedding are empty (null); "
        "ranking and dedup used the weight-free scores (sharpness, bokeh evidence)."
    )


def text_summary(stats: dict) -> str:
    """One screen: counts, reasons, speed, CLIP status, where the outputs are."""
    lines = [
        f"curate: {stats['inputs']} input(s) -> kept {stats['kept']}, "
        f"rejected {stats['rejected']}"
        + (
            f" ({stats['stages']['list']} by the listing: links, special files)"
            if stats.get("stages", {}).get("list")
            else ""
        )
        + (
            f" ({stats['ignored_by_extension']} other file(s) ignored by extension)"
            if stats.get("ignored_by_extension")
            else ""
        ),
        f"count identity inputs = kept + rejected: {'ok' if stats['counts_ok'] else 'BROKEN'}",
    ]
    if stats.get("reasons"):
        lines.append("rejects by reason:")
        for reason, n in sorted(stats["reasons"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {reason:<30} {n}")
    t = stats.get("timing", {})
    for key, label in (("pass1", "pass 1 (EXIF)"), ("pass2", "pass 2 (decode/score)")):
        if key in t:
            lines.append(
                f"{label}: {t[key]['files']} file(s) in {t[key]['seconds']:.1f} s "
                f"({t[key]['files_per_s']:.0f} files/s)"
            )
    lines.append(
        f"shards: {stats['shards']} ({stats.get('shards_skipped', 0)} already done, skipped)"
    )
    lines.append(clip_note(stats))
    lines.append(f"outputs: {stats['out']}/{{real_photos,rejects}}/, stats.json, summary.png/html")
    return "\n".join(lines)


def html_report(stats: dict, png: bytes) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r)}</td><td>{n}</td></tr>"
        for r, n in sorted(stats.get("reasons", {}).items(), key=lambda kv: -kv[1])
    )
    img = base64.b64encode(png).decode()
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>curate summary</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}
td,th{{padding:2px 10px;text-align:left}} .note{{background:#fff3cd;padding:8px}}</style></head>
<body><h1>curate summary</h1>
<p>{stats["inputs"]} inputs: <b>{stats["kept"]} kept</b>, {stats["rejected"]} rejected
(inputs = kept + rejected: {"ok" if stats["counts_ok"] else "BROKEN"}).</p>
<p class="note">{html.escape(clip_note(stats))}</p>
<h2>Rejects by reason</h2><table><tr><th>reason</th><th>count</th></tr>{rows}</table>
<h2>Distributions</h2><img alt="summary plots" src="data:image/png;base64,{img}" width="100%">
<pre>{html.escape(text_summary(stats))}</pre>
</body></html>
"""
