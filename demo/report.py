"""``report.html``: one self-contained page (images inlined as data URIs) that opens from disk.

Sections: the synthetic set (contact sheet), curation (EXIF histograms, reject reasons), training
(loss curves, held-out metrics against the identity baseline), controllability (a K sweep) and
refocus examples. A small script stamps ``data-images-loaded="k/n"`` on ``<body>`` once the
page has loaded, so a headless browser can check that every image decoded.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
});
</script>"""


def _img(path: Path, alt: str, width: str = "100%") -> str:
    if not path.is_file():
        return f"<p class=missing>missing: {html.escape(str(path))}</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure style="width:{width}"><img src="data:image/png;base64,{data}" '
        f'alt="{html.escape(alt)}" style="width:100%;image-rendering:pixelated">'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
    )


def _table(rows: list[list], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _slope_range(row: dict) -> str:
    """The group's steepest..flattest image slope ("-" in results from before it was kept)."""
    lo, hi = row.get("spectral_slope_min"), row.get("spectral_slope_max")
    return "-" if lo is None or hi is None else f"{lo:.2f}..{hi:.2f}"


def _benchmark_section(out: Path, r: dict) -> str:
    """The refocus benchmark: whole held-out frames against Cycles' renders."""
    setup = r["setup"]
    rows = [
        [section, method, v["psnr"], v["psnr_worst"], v["ssim"], v["images"]]
        + [v.get("psnr_band", ""), v.get("ssim_band", "")]
        for section in ("deblur", "deblur_sharp", "bokeh", "refocus")
        for method, v in r[section].items()
    ]
    ctrl = [
        [m, r["lvcorr"][m], r.get("lvcorr_0_30", {}).get(m, ""), r["focus_follows"].get(m, "")]
        for m in r["lvcorr"]
    ]
    size = "×".join(str(x) for x in setup["size_px"])
    return (
        f"<h3>Benchmark: {setup['scenes']} held-out scenes, whole {size} frames, against the "
        "path-traced truth</h3>"
        + _table(
            rows,
            ["section", "method", "PSNR dB", "worst", "SSIM", "images", "edge band PSNR", "SSIM"],
        )
        + "<p>deblur: DoF render in, all-in-focus expected; deblur_sharp: the all-in-focus "
        "image in, itself expected; bokeh: all-in-focus + defocus map in, the Cycles render "
        "expected; refocus: one Cycles render in, the render of the same scene at another focus "
        "and aperture expected. Reference = the classical layered renderer "
        "(<code>optics.render_bokeh</code>). Edge band: the pixels within a few pixels of a "
        "depth edge of the target render (docs/benchmark.md).</p>"
        + _table(
            ctrl,
            ["method", f"paper's LVCorr, K {setup['k_sweep']}", "K 0-30", "focus follows"],
        )
        + _control_part(out, r)
        + _table(
            [
                [t["target"], t["value"], t["threshold"], "yes" if t["ok"] else "no"]
                for t in r.get("targets", [])
            ],
            ["target (docs/benchmark.md)", "value", "threshold", "met"],
        )
        + _img(out / "benchmark" / "k_sweep.png", "K sweep: BokehNet (top), reference (bottom)")
        + _img(
            out / "benchmark" / "benchmark_grid.png",
            "refocus: input render | DeblurNet | true all-in-focus | BokehNet | reference | "
            "Cycles at the target focus and aperture",
        )
    )


def _control_part(out: Path, r: dict) -> str:
    """The controllability family on Cycles' own K sweeps, with its two figures."""
    control = r.get("control")
    if not control:
        return ""
    keys = ("pearson", "spearman_whole", "spearman_background", "truth_correlation")
    rows = [
        [m, *(v[k] for k in keys), v["dynamic_range_ratio"], v["focus_kept"]]
        for m, v in control["methods"].items()
    ]
    head = ["method", "-Pearson", "-Spearman whole", "-Spearman background", "truth corr."]
    return (
        f"<h4>Controllability on Cycles' K sweeps ({control['scenes']} scenes, one focus "
        "each; docs/benchmark.md)</h4>"
        + _table(rows, [*head, "dyn. range / Cycles'", "focus kept"])
        + _img(
            out / "benchmark" / "lv_vs_k.png",
            "Background Laplacian variance against K (whole frame dotted): Cycles, the "
            "reference, BokehNet and the AIF",
        )
        + _img(
            out / "benchmark" / "control_strips.png",
            "K strips per scene: Cycles (truth), the reference, BokehNet",
        )
    )


def _shapes_section(out: Path, r: dict) -> str:
    """Aperture shapes: held-out night scenes through triangle, star and heart, against Cycles."""
    shapes = r.get("shapes")
    if not shapes:
        return ""
    rows = [
        [m, v["iou_kernel"], v["iou_cycles"], int(v["highlights"])]
        for m, v in shapes["rows"].items()
    ]
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(shapes["shapes"].items()))
    return (
        f"<h3>Aperture shapes: {shapes['renders']} held-out renders ({kinds})</h3>"
        "<p>Isolated highlights (the depth pass saw them, nothing in front, a darker ground): "
        "the footprint of each method's disc against the requested kernel scaled to the "
        "predicted CoC (IoU at equal area, robust to clipped highlights) and against Cycles' "
        "disc. BokehNet = the model without the shape condition; +shape = the BokehNet "
        "trained with it (<code>model.shape_condition</code>). IoU with Cycles measures size "
        "as much as shape: Cycles' emitters are far brighter than white, so its clipped discs "
        "are larger than any 8-bit input can give (docs/train.md, Aperture shapes).</p>"
        + _table(rows, ["method", "IoU with the kernel", "IoU with Cycles", "highlights"])
        + _img(
            out / "benchmark" / "shapes_grid.png",
            f"scene {shapes['scene']}, one row per DoF render (triangle, star, heart): AIF | "
            "Cycles | reference with the kernel | reference with a disc | BokehNet | BokehNet "
            "with the shape",
        )
    )


def _synth_section(out: Path, results: dict) -> str:
    """1. The synthetic set: counts, scene kinds, the photo pool, the held-out set, the contact
    sheets and (when measured) how natural the renders look."""
    synth = results["synth"]["stats"]
    parts = [
        "<h2>1. Synthetic paired set (Blender Cycles)</h2>",
        f"<p>{synth['kept']} scenes, {synth['renders']} depth-of-field renders "
        f"({synth['rejected']} failed) for training. Each row: all-in-focus | disparity | DoF"
        " renders | signed CoC map.</p>",
    ]
    kinds, pool = results["synth"].get("kinds"), results["synth"].get("pool")
    if kinds:
        shown = ", ".join(f"{n} {html.escape(k)}" for k, n in sorted(kinds.items()))
        parts.append(
            f"<p>Scene kinds: {shown}. <i>cards</i>: photo cards (some cut out along a "
            "silhouette) before a photo backdrop; <i>textured</i>: objects with photo crops as "
            "albedo on a photo ground; <i>procedural</i>: procedural textures.</p>"
        )
    if pool:
        parts.append(
            f"<p>Photo pool: {pool['photos']} photos from {html.escape(str(pool['source']))} "
            f"({pool['skipped']} skipped), hash <code>{pool['pool_hash']}</code>; each scene "
            "row names the photos it used (<code>python -m manifests show "
            "OUT/synth/synthetic_pairs</code>).</p>"
        )
    if "synth_heldout" in results:
        held = results["synth_heldout"]["stats"]
        parts.append(
            f"<p>Held out: {held['kept']} other scenes ({held['renders']} renders, another "
            "dataset seed), never trained on: the metrics below and the refocus example.</p>"
        )
    for sheet in sorted((out / "synth" / "contact").glob("*.png")):
        parts.append(_img(sheet, f"contact sheet {sheet.stem}"))
    if results.get("synth_2p5d", {}).get("figure"):
        parts.append(_twin_part(results["synth_2p5d"]))
    if "synth_stats" in results:
        parts.append(_natural_stats_section(out, results["synth_stats"]))
    return "".join(parts)


def _twin_part(twin: dict) -> str:
    """The 2.5-D twins of the training renders beside the Cycles renders."""
    st = twin["stats"]
    return (
        "<h3>The 2.5-D route beside the path-traced renders</h3>"
        f"<p><code>python -m synth photos --photos OUT/synth</code>: every training scene's "
        f"all-in-focus render and true depth through the classical layered renderer "
        f"(<code>optics.render_bokeh</code>) with the render's own focus, K and aperture: the "
        f"way the paper made its BokehNet pairs, from photos. {st['kept']} scenes, "
        f"{twin['pairs']} pairs ({st['rejected']} rejected); PSNR against the Cycles render "
        f"{_fmt(twin['psnr_vs_cycles_db'])} dB on average, {_fmt(twin['psnr_vs_cycles_worst_db'])}"
        " dB at worst. Each row: all-in-focus | Cycles | 2.5-D | difference ×4, for the scenes "
        "with the most blur; the differences sit at depth edges (a single image cannot know "
        "what a blurred foreground hides) and at light sources (an 8-bit image clips them). "
        "What training on these pairs costs against path-traced ones: docs/synth.md.</p>"
        + _img(Path(twin["figure"]), "AIF | Cycles | 2.5-D | difference x4")
    )


NATURAL_STATS_HEADER = [
    "group",
    "images",
    "spectral slope",
    "steepest..flattest",
    "slope gap",
    "log-gradient W1",
    "saturation W1",
    "brightness W1",
]


def _natural_stats_section(out: Path, st: dict) -> str:
    """The renders' natural-image statistics by scene kind against the pool's photos."""
    rows = [
        [
            r["name"],
            r["images"],
            r["spectral_slope_mean"],
            _slope_range(r),
            r["slope_gap_to_reference"],
            r["gradient_w1_to_reference"],
            r["saturation_w1"],
            r["brightness_w1"],
        ]
        for r in st["rows"]
    ]
    return (
        "<h3>How natural the renders look (<code>python -m synth report</code>)</h3>"
        + _table(rows, NATURAL_STATS_HEADER)
        + "<p>All-in-focus renders by scene kind against the pool's photos at 128 px: "
        "W1 = Wasserstein distance of the distributions (0 = the photos'). docs/synth.md "
        "explains the targets and why the slope gap measures the pool more than the renders "
        "(the photos' slopes fall in two groups, and their mean lies between them)."
        "</p>" + _img(out / "synth" / "report" / "natural_stats.png", "distributions by kind")
    )


def _curate_section(out: Path, results: dict) -> str:
    """2. Curation: the user's photos (when given), the renders' JPEGs, reject reasons."""
    cur = results["curate"]["stats"]
    parts = ["<h2>2. Curated photos (EXIF, filters, quality, dedup)</h2>"]
    if "curate_photos" in results:
        mine = results["curate_photos"]["stats"]
        parts.append(
            f"<p>Your photos: {mine['inputs']} inputs, {mine['kept']} kept (they join the photo "
            f"pool of the photographic scenes), {mine['rejected']} rejected. The training "
            "renders' JPEGs:</p>"
        )
    parts.append(f"<p>{cur['inputs']} inputs: {cur['kept']} kept, {cur['rejected']} rejected.</p>")
    reasons = cur.get("rejected_by_reason") or cur.get("reasons") or {}
    if isinstance(reasons, dict) and reasons:
        parts.append(_table(sorted(reasons.items(), key=lambda x: -x[1]), ["reason", "files"]))
    parts.append(_img(out / "curate" / "summary.png", "EXIF and score histograms"))
    return "".join(parts)


TRAINED_RUNS = ("deblur", "bokeh_stage1", "bokeh_stage2")
TRAINING_HEADER = [
    "run",
    "held-out images",
    "PSNR dB",
    "identity PSNR dB",
    "SSIM",
    "LVCorr",
    "steps",
    "threads",
    "seconds",
    "real photos",
]


def _training_section(out: Path, results: dict) -> str:
    """3. Training: held-out metrics of each run against the identity baseline, each run's loss
    curve and samples, then the benchmark and the aperture shapes (when benchmarked)."""
    rows = []
    for name in TRAINED_RUNS:
        if name in results:
            m = results[name]["metrics"]
            rows.append(
                [
                    name,
                    m.get("eval_images", ""),
                    m.get("psnr"),
                    m.get("psnr_identity", ""),
                    m.get("ssim"),
                    m.get("lvcorr", ""),
                    m.get("step"),
                    m.get("compute_threads", ""),
                    f"{results[name].get('seconds', 0):.0f}",
                    m.get("real_photos_used", ""),
                ]
            )
    parts = [
        "<h2>3. Training (tiny models on a CPU)</h2>",
        _table(rows, TRAINING_HEADER),
        "<p>Identity = the blurry input itself (DeblurNet's baseline). LVCorr = "
        "−corr(K, Laplacian variance of the output) over a K sweep: 1 = blur follows K. "
        "DeblurNet trains side by side with BokehNet stage 1 and then the shape-conditioned "
        "BokehNet, one process each (their seconds overlap); stage 2 needs both and follows."
        "</p>",
    ]
    for name in TRAINED_RUNS:
        run = out / name
        if run.is_dir():
            parts.append(
                f"<h3>{name}</h3><div class=row>"
                + _img(run / "loss.png", f"{name}: training loss", "48%")
                + _img(run / "samples.png", f"{name}: condition | output | target", "48%")
                + "</div>"
            )
    if "benchmark" in results:
        parts.append(_benchmark_section(out, results["benchmark"]["results"]))
        parts.append(_shapes_section(out, results["benchmark"]["results"]))
    return "".join(parts)


def _controllability_section(out: Path) -> str:
    """4. The last BokehNet's output for one image over a K sweep."""
    last = "bokeh_stage2" if (out / "bokeh_stage2").is_dir() else "bokeh_stage1"
    return "<h2>4. Controllability: one image over a K sweep</h2>" + _img(
        out / last / "k_sweep.png", "BokehNet output as K grows"
    )


def _refocus_section(out: Path, ref: dict) -> str:
    """5. A held-out render, its all-in-focus image and the render refocused near to far."""
    taken = (
        f" (f/{ref['f_number']:.1f}, focused at {ref['focus_distance_m']:.2f} m)"
        if "f_number" in ref
        else ""
    )
    parts = [
        f"<h2>5. Refocusing a held-out render (scene {ref['scene']}, "
        f"K = {ref['k']:.3g})</h2><div class=row>",
        _img(out / "refocus" / "input.png", f"input render{taken}", "18.5%"),
        _img(out / "refocus" / "aif.png", "DeblurNet all-in-focus", "18.5%"),
    ]
    for shot in ref["shots"]:
        parts.append(
            _img(out / shot["file"], f"focus {shot['label']} ({shot['depth_m']:.2f} m)", "18.5%")
        )
    parts.append("</div>")
    return "".join(parts)


STYLE = (
    "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
    ".row figure{display:inline-block;vertical-align:top}"
    "figure{margin:0.4%;box-sizing:border-box}"
    "figcaption{font-size:12px;color:#444}.missing{color:#a00}</style>"
)


def write_report(out: Path, results: dict) -> Path:
    """``OUT/report.html`` from the stages' ``results`` (and ``OUT/results.json`` beside it)."""
    out = Path(out)
    sections = [
        f"<h1>Refocusing data engine: demo run</h1><p>Output folder: "
        f"<code>{html.escape(str(out.resolve()))}</code></p>",
        _synth_section(out, results),
        _curate_section(out, results),
        _training_section(out, results),
        _controllability_section(out),
        _refocus_section(out, results["refocus"]),
    ]
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>refocus demo</title>{STYLE}"
        f"</head><body>{''.join(sections)}{CHECK_SCRIPT}</body></html>"
    )
    path = out / "report.html"
    path.write_text(page)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return path
