"""The main job end to end at reduced size, its resume, and its report in headless Chromium."""

import json
import re
import shutil
import subprocess
import sys

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    p = subprocess.run(
        [sys.executable, "-m", "demo", "--small", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return out, p.stdout


@pytest.mark.slow
def test_demo_runs_every_stage_and_prints_the_three_numbers(demo_run):
    out, stdout = demo_run
    stages = ("synth", "synth_heldout", "synth_shapes", "synth_stats", "synth_2p5d", "curate")
    stages = (*stages, "real", "deblur")
    for stage in (*stages, "bokeh_stage1", "bokeh_shape", "bokeh_stage2", "refocus", "benchmark"):
        assert (out / "stages" / f"{stage}.json").is_file(), stage
    assert re.search(r"DeblurNet PSNR gain over the blurry input: [+-]\d+\.\d+ dB", stdout)
    assert re.search(r"BokehNet LVCorr \(controllability\): -?\d\.\d+", stdout)
    assert re.search(r"photos kept / rejected: \d+ / \d+", stdout)
    assert re.search(r"benchmark on whole held-out frames: bokeh PSNR \d+\.\d+", stdout)
    bench = json.loads((out / "benchmark" / "benchmark.json").read_text())
    assert bench["setup"]["scenes"] == 2 and {"bokehnet", "reference"} <= set(bench["lvcorr"])
    assert "Benchmark: 2 held-out scenes" in (out / "report.html").read_text()
    # the natural-image table shows each group's steepest..flattest slope
    assert re.search(
        r"<td>photos</td><td>8</td><td>-?\d\.\d+</td><td>-\d\.\d\d\.\.-\d\.\d\d</td>",
        (out / "report.html").read_text(),
    )
    # the shape showcase: one night scene, its renders through triangle, star and heart
    assert bench["shapes"]["renders"] == 3
    assert bench["shapes"]["shapes"] == {"polygon3": 1, "star5": 1, "heart": 1}
    assert {"cycles (truth)", "bokehnet", "bokehnet (shape)"} <= set(bench["shapes"]["rows"])
    assert "Aperture shapes: 3 held-out renders" in (out / "report.html").read_text()
    assert (out / "benchmark" / "shapes_grid.png").is_file()
    # the reduced demo is not the benchmark set (2 scenes, 64 px), so it is benchmarked without
    # --set: every one of a scene's 9 renders (3 regular, 6 sweep) is a regular row
    assert bench["refocus"]["identity (input render)"]["images"] == 2 * 9 * 8
    assert bench["control"]["scenes"] >= 1  # sweeps found by their shared focus
    results = json.loads((out / "results.json").read_text())
    assert results["bokeh_stage2"]["metrics"]["real_photos_used"] > 0
    # the 2.5-D twins of the training renders, beside them in the report
    twin = results["synth_2p5d"]
    assert twin["stats"]["rejected"] == 0 and twin["pairs"] == results["synth"]["stats"]["renders"]
    assert "The 2.5-D route beside the path-traced renders" in (out / "report.html").read_text()
    assert (out / "synth_2p5d" / "compare.png").is_file()
    # evaluation and the refocus example use the held-out renders only (another dataset)
    assert results["deblur"]["metrics"]["eval_images"] >= 2 * 3  # every held-out render
    assert results["refocus"]["dataset"] == "benchmark-small-v4"
    assert [s["label"] for s in results["refocus"]["shots"]] == ["near", "middle", "far"]
    for shot in results["refocus"]["shots"]:
        assert (out / shot["file"]).is_file()


@pytest.mark.slow
def test_demo_rerun_reuses_finished_stages(demo_run):
    out, _ = demo_run
    p = subprocess.run(
        [sys.executable, "-m", "demo", "--small", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("done before, reused") == 13  # every stage, the benchmark too


@pytest.mark.slow
def test_report_images_all_load_in_headless_chromium(demo_run, tmp_path):
    out, _ = demo_run
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed: run `make test-slow` (it installs it)")
    report = out / "report.html"
    text = report.read_text()
    assert "file://" not in text and 'src="data:image/png;base64,' in text  # self-contained
    p = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            f"file://{report}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', p.stdout)
    assert m, p.stdout[:500] + p.stderr[-2000:]
    loaded, total = int(m.group(1)), int(m.group(2))
    assert total >= 10 and loaded == total


def test_the_refocus_example_takes_the_first_scenes_least_defocused_render():
    from demo.pipeline import refocus_input

    rows = [
        {"scene_id": 3, "render_id": 0, "k_genrefocus": 1.0},
        {"scene_id": 0, "render_id": 0, "k_genrefocus": 40.0},
        {"scene_id": 0, "render_id": 1, "k_genrefocus": 6.5},
        {"scene_id": 0, "render_id": 2, "k_genrefocus": 6.5},
        {"scene_id": 1, "render_id": 0, "k_genrefocus": 0.5},
    ]
    assert refocus_input(rows) == rows[2]  # scene 0, smallest K, the first render on a tie
    with pytest.raises(ValueError, match="no held-out renders"):
        refocus_input([])


@pytest.mark.slow
def test_route_2p5d_bench_on_the_finished_demo(demo_run, tmp_path):
    """``bench/route_2p5d.py`` at its smallest size: one seed, two steps per arm."""
    from pathlib import Path

    out, _ = demo_run
    repo = Path(__file__).resolve().parents[2]
    p = subprocess.run(
        [sys.executable, str(repo / "bench" / "route_2p5d.py"), "--demo", str(out), "--seeds",
         "0", "--steps", "2", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=repo,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "| truth correlation |" in p.stdout and "| bokeh PSNR |" in p.stdout
    doc = json.loads((tmp_path / "r" / "route_2p5d.json").read_text())
    assert set(doc["results"]["0"]) == {"path_traced", "2p5d", "both"}
