"""The benchmark's aperture-shape section on hand-made held-out frames (no Blender).

Each shaped render's "Cycles" image is the reference renderer with the render's kernel over an
AIF of two bright spots on a dark far background, so the truth and the reference-with-kernel
rows must score a near-perfect shape, the disc clearly less; tiny runs trained for one step.
"""

import json

import numpy as np
import pytest
from PIL import Image

import optics
from manifests import write_part
from manifests.example import synthetic_rows
from optics.aperture import parse_shape, rasterize

SIZE_PX = 64
K, DISP_FOCUS = 20.0, 1.0  # spots at 2 m: a 10 px CoC radius behind the focus plane


def _scene_files(root, row) -> None:
    aif = np.full((SIZE_PX, SIZE_PX, 3), 0.05)
    depth = np.full((SIZE_PX, SIZE_PX), 5.0, np.float32)
    for y, x in ((18, 18), (42, 44)):
        aif[y : y + 2, x : x + 2] = 1.0
        depth[y : y + 2, x : x + 2] = 2.0
    disp = optics.disparity_from_depth(depth)
    kernel = None
    if row["aperture_shape_id"]:
        kernel = rasterize(parse_shape(row["aperture_shape_id"]))
        (root / row["aperture_kernel_path"]).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((kernel * 255).round().astype(np.uint8), "L").save(
            root / row["aperture_kernel_path"]
        )
    dof = optics.render_bokeh(aif, disp, K, DISP_FOCUS, kernel=kernel)
    for name, img in (("aif_path", aif), ("bokeh_path", dof)):
        (root / row[name]).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(root / row[name])
    Image.open(root / row["bokeh_path"]).save(root / row["bokeh_jpeg_path"])
    np.save(root / row["depth_path"], depth)
    np.save(root / row["coc_path"], np.zeros((SIZE_PX, SIZE_PX), np.float32))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("shape_bench") / "m"
    rows = synthetic_rows(4, 2)
    for row in rows:
        row.update(
            width_px=SIZE_PX,
            height_px=SIZE_PX,
            k_ref_width_px=SIZE_PX,
            k_genrefocus=K,
            disp_focus=DISP_FOCUS,
            focus_distance_m=1.0 / DISP_FOCUS,
        )
        _scene_files(root, row)
    write_part(rows, root, "synthetic_pairs", 0)
    return str(root)


@pytest.fixture(scope="module")
def runs(manifest, one_step_runs):
    return {name: run for name, (run, _) in one_step_runs(manifest).items()}


def test_the_benchmark_scores_shapes_and_draws_the_shaped_scene(manifest, runs, tmp_path, capsys):
    from train.cli import main

    out = tmp_path / "bench"
    argv = ["benchmark", "--deblur", str(runs["deblurnet_tiny"]), "--bokeh"]
    argv += [str(runs["bokehnet_tiny"]), "--manifest", manifest, "--out", str(out), "--steps", "1"]
    assert main([*argv, "--shape-bokeh", str(runs["bokehnet_tiny_shape"])]) == 0
    shapes = json.loads((out / "benchmark.json").read_text())["shapes"]
    rows = shapes["rows"]
    assert shapes["renders"] == 4 and sum(shapes["shapes"].values()) == 4
    assert rows["cycles (truth)"]["highlights"] == 8  # two spots in each shaped render
    assert rows["cycles (truth)"]["iou_kernel"] > 0.9
    assert rows["reference (kernel)"]["iou_cycles"] > 0.9
    assert rows["reference (disc)"]["iou_kernel"] < rows["reference (kernel)"]["iou_kernel"] - 0.2
    # the shape model's prior blurs with the kernel: the shape shows even after one step
    assert rows["bokehnet (shape)"]["iou_kernel"] > rows["bokehnet"]["iou_kernel"]
    assert (out / "shapes_grid.png").is_file()
    md = (out / "benchmark.md").read_text()
    assert "Aperture shapes: 4 shaped held-out renders" in md and "shape IoU >= 0.7" in md


def test_a_shape_run_without_the_condition_is_refused(manifest, runs, tmp_path, capsys):
    from train.cli import main

    argv = ["benchmark", "--deblur", str(runs["deblurnet_tiny"]), "--bokeh"]
    argv += [str(runs["bokehnet_tiny"]), "--manifest", manifest, "--out", str(tmp_path)]
    assert main([*argv, "--shape-bokeh", str(runs["bokehnet_tiny"])]) == 2
    err = capsys.readouterr().err.strip()
    assert "trained without model.shape_condition" in err and "\n" not in err
