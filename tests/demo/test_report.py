"""demo.report without a demo run: every section from small fake results, images inlined."""

import json

from PIL import Image

from demo.report import write_report


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 100, 200)).save(path)


def test_report_has_every_section_and_inlines_its_images(tmp_path):
    for f in ("synth/contact/a.png", "curate/summary.png", "deblur/loss.png", "refocus/near.png"):
        _png(tmp_path / f)
    metrics = {"eval_images": 6, "psnr": 22.5, "psnr_identity": 20.1, "ssim": 0.7, "step": 20}
    results = {
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
