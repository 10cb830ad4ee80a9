"""demo.report without a demo run: every section from small fake results, images inlined."""

import json

from PIL import Image

from demo.report import write_report


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 100, 200)).save(path)


def _base_results() -> dict:
    metrics = {"eval_images": 6, "psnr": 22.5, "psnr_identity": 20.1, "ssim": 0.7, "step": 20}
    return {
        "synth": {"stats": {"kept": 6, "renders": 18, "rejected": 0}, "kinds": {"cards": 6}},
        "curate": {"stats": {"inputs": 18, "kept": 16, "rejected": 2, "reasons": {"small": 2}}},
        "deblur": {"metrics": metrics, "seconds": 12.3},
        "bokeh_stage1": {"metrics": dict(metrics, lvcorr=0.6)},
        "refocus": {
            "scene": 3,
            "k": 40.0,
            "shots": [{"label": "near", "depth_m": 1.0, "file": "refocus/near.png"}],
        },
    }


def test_report_has_every_section_and_inlines_its_images(tmp_path):
    for f in ("synth/contact/a.png", "curate/summary.png", "deblur/loss.png", "refocus/near.png"):
        _png(tmp_path / f)
    results = _base_results()
    path = write_report(tmp_path, results)
    text = path.read_text()
    for heading in (
        "1. Synthetic paired set",
        "2. Curated photos",
        "3. Training",
        "4. Controllability",
        "5. Refocusing a held-out render (scene 3, K = 40)",
    ):
        assert f"<h2>{heading}" in text
    assert "Scene kinds: 6 cards." in text and "<td>small</td><td>2</td>" in text
    assert "<td>deblur</td><td>6</td><td>22.500</td><td>20.100</td>" in text
    assert text.count('src="data:image/png;base64,') == 4  # the four images written above
    assert "missing: " in text  # e.g. the K sweep, not written
    assert "Benchmark" not in text and "How natural" not in text  # not run
    assert json.loads((tmp_path / "results.json").read_text())["refocus"]["scene"] == 3


def _row(p):
    return {"psnr": p, "psnr_worst": p - 4, "ssim": 0.7, "ssim_worst": 0.5, "images": 24}


def test_the_benchmark_part_shows_the_edge_band_the_control_family_and_its_figures(tmp_path):
    for f in ("lv_vs_k.png", "control_strips.png", "benchmark_grid.png"):
        _png(tmp_path / "benchmark" / f)
    band = {"psnr_band": 17.25, "ssim_band": 0.45}
    control = {
        m: {
            "pearson": 0.6,
            "spearman_whole": 0.98,
            "spearman_background": 1.0,
            "truth_correlation": t,
            "dynamic_range_ratio": dr,
            "focus_kept": 0.95,
        }
        for m, t, dr in (
            ("cycles (truth)", 1.0, 1.0),
            ("reference", 0.997, 1.04),
            ("bokehnet", 0.9, 0.4),
        )
    }
    bench = {
        "deblur": {"deblurnet": _row(21.0)},
        "deblur_sharp": {"deblurnet": _row(38.0)},
        "bokeh": {"bokehnet": {**_row(21.4), **band}, "reference": _row(21.1)},
        "refocus": {"deblurnet + bokehnet": _row(21.0)},
        "lvcorr": {"bokehnet": 0.58, "reference": 0.62},
        "lvcorr_0_30": {"bokehnet": 0.7, "reference": 0.75},
        "focus_follows": {"bokehnet": 0.94},
        "control": {"methods": control, "scenes": 8},
        "targets": [{"target": "t", "value": 1.0, "threshold": 0.5, "ok": True}],
        "setup": {"scenes": 8, "size_px": [128, 128], "k_sweep": [0, 10]},
    }
    results = {**_base_results(), "benchmark": {"results": bench}}
    text = write_report(tmp_path, results).read_text()
    assert "Controllability on Cycles' K sweeps (8 scenes" in text
    assert "<td>bokehnet</td><td>0.600</td><td>0.980</td><td>1.000</td><td>0.900</td>" in text
    assert "<td>17.250</td><td>0.450</td>" in text  # the edge band beside the whole frame
    for figure in ("lv_vs_k.png", "control_strips.png", "benchmark_grid.png"):
        assert f"missing: {tmp_path / 'benchmark' / figure}" not in text
