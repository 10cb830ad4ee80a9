"""``train benchmark --set`` on a rendered set with Cycles K sweeps: the control section and its
figures for the runs, any pipeline scored from a predictions folder (the classical reference
written out as one scores as the reference row does), the inputs list for such a pipeline, and
one-line refusals of a render that is not the set and of a folder that cannot be scored."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train.evaluate.sets import REPO

SMALL = REPO / "synth" / "configs" / "benchmark_small.toml"
WIDTH, SAMPLES, SCENES = 64, 4, 2  # 64 px: the background's interior away from depth edges
SWEEP_K = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]  # the small tier's grid at 64 / 128 px


@pytest.fixture(scope="module")
def mini_set(tmp_path_factory, render_synth):
    """Two scenes of the small tier's config at 64 px and 4 spp, the sweeps at 8 (its K grid
    scaled to the width), and a set definition of them (``mini.toml``, the form of
    train/evaluate/sets/small.toml)."""
    root = tmp_path_factory.mktemp("mini_set")
    grid = "aperture.sweep_k=[" + ", ".join(f"{k:g}" for k in SWEEP_K) + "]"
    sweep_spp = f"render.sweep_samples={2 * SAMPLES}"  # v4: the sweeps at their own samples
    out = render_synth(
        root / "render",
        SCENES,
        WIDTH,
        SAMPLES,
        "--config",
        str(SMALL),
        "--set",
        grid,
        "--set",
        sweep_spp,
    )
    metas = sorted((out / "scenes").glob("*/meta.json"))
    hashes = {int(m.parent.name): json.loads(m.read_text())["spec"] for m in metas}
    from synth.spec import SceneSpec

    lines = [
        'name = "mini"',
        "version = 1",
        f'synth_config = "{SMALL.relative_to(REPO)}"',
        'pool_hash = "5ac76b3ce3871ddb"',
        f"resolution_px = {WIDTH}",
        f"samples = {SAMPLES}",
        f"sweep_samples = {2 * SAMPLES}",
        'render_engine = "CYCLES+exact-highlights"',
        "regular_renders = 3",
        "sweep_renders = 6",
        "sweep_k = [" + ", ".join(f"{k:g}" for k in SWEEP_K) + "]",
        "",
        "[spec_hashes]",
    ]
    for scene_id, spec in sorted(hashes.items()):
        lines.append(f'{scene_id} = "{SceneSpec.from_dict(spec).spec_hash}"')
    definition = root / "mini.toml"
    definition.write_text("\n".join(lines) + "\n")
    return out, definition


def _uint8(img) -> np.ndarray:
    arr = ((img[0].permute(1, 2, 0).double().numpy() + 1.0) * 127.5).round()
    return arr.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def reference_folder(mini_set, tmp_path_factory):
    """The classical reference renderer's outputs written as a predictions folder, from the
    conditions ``--write-inputs`` lists (the aperture from its kernel file, as a user would)."""
    from infra.images import read_kernel_png
    from train.evaluate.methods import reference
    from train.evaluate.predictions import write_predictions
    from train.evaluate.scenes import load_scenes
    from train.evaluate.sets import load_set

    out, definition = mini_set
    scenes = {
        sc.key.rsplit("/", 1)[1]: sc
        for sc in load_scenes([str(out)], 1, 0, load_set(str(definition)))
    }
    inputs = tmp_path_factory.mktemp("inputs") / "inputs.json"
    assert _main("--set", definition, "--manifest", out, "--write-inputs", inputs) == 0
    images = {}
    for name, item in json.loads(inputs.read_text())["predictions"].items():
        sc = scenes[str(item["scene_id"])]
        kernel = read_kernel_png(item["kernel_file"])
        img = reference(sc.aif, sc.disparity, item["k"], item["disp_focus_per_m"], kernel)
        images[name] = _uint8(img)
    folder = tmp_path_factory.mktemp("reference_predictions")
    write_predictions(folder, images)
    return folder


def _main(*args) -> int:
    from train.cli import main

    return main(["benchmark", *map(str, args)])


def test_the_reference_written_as_predictions_scores_as_the_reference(
    mini_set, reference_folder, tmp_path
):
    out, definition = mini_set
    res = tmp_path / "scored"
    assert (
        _main(
            "--set", definition, "--manifest", out, "--predictions", reference_folder, "--out", res
        )
        == 0
    )
    r = json.loads((res / "benchmark.json").read_text())
    assert set(r["bokeh"]) == {"predictions", "reference", "aif"}
    pred, ref = r["bokeh"]["predictions"], r["bokeh"]["reference"]
    assert pred["images"] == ref["images"] == SCENES * 3
    for key in ("psnr", "psnr_band"):  # only 8-bit rounding between them
        assert pred[key] == pytest.approx(ref[key], abs=0.1), key
    ctrl = r["control"]["methods"]
    assert r["control"]["scenes"] == SCENES
    assert set(ctrl) == {"cycles (truth)", "reference", "aif", "predictions"}
    for key in ("spearman_background", "truth_correlation", "dynamic_range_ratio"):
        assert ctrl["predictions"][key] == pytest.approx(ctrl["reference"][key], abs=0.03), key
    assert ctrl["aif"]["dynamic_range_ratio"] < 0.5 * ctrl["reference"]["dynamic_range_ratio"]
    names = [t["target"] for t in r["targets"]]
    assert "bokeh PSNR >= reference + 0.5 dB" in names and not any("DeblurNet" in n for n in names)
    assert "predictions Spearman (background) >= reference - 0.02" in names
    for f in ("benchmark.md", "lv_vs_k.png", "control_strips.png"):
        assert (res / f).stat().st_size > 0
    assert "| bokeh | predictions |" in (res / "benchmark.md").read_text()


def test_write_inputs_lists_every_expected_file_with_its_conditions(
    mini_set, reference_folder, tmp_path
):
    out, definition = mini_set
    path = tmp_path / "inputs.json"
    assert _main("--set", definition, "--manifest", out, "--write-inputs", path) == 0
    listed = json.loads(path.read_text())["predictions"]
    on_disk = sorted(str(p.relative_to(reference_folder)) for p in reference_folder.rglob("*.png"))
    assert sorted(listed) == on_disk
    for scene in range(SCENES):  # the AIF, the 5 sweep Ks and regular renders at that focus
        n = len([x for x in listed if x.startswith(f"sweep/{scene:06d}_")])
        assert n >= 6 and f"sweep/{scene:06d}_{n - 1:02d}.png" in listed
    first = listed["bokeh/000000_00.png"]
    assert (first["width_px"], first["height_px"], first["render_id"]) == (WIDTH, WIDTH, 0)
    assert Path(first["aif_file"]).is_file() and Path(first["depth_file"]).is_file()
    kernels = {item["kernel_file"] for item in listed.values()}  # one per regular render
    assert len(kernels) == SCENES * 3 and all(
        Path(k).parent == tmp_path / "kernels" for k in kernels
    )
    assert listed["sweep/000000_03.png"]["kernel_file"] == first["kernel_file"]
    sweep = [listed[f"sweep/000000_{i:02d}.png"]["k"] for i in range(6)]
    assert sweep[0] == 0.0 and sweep == sorted(sweep)
    assert listed["sweep/000000_01.png"]["disp_focus_per_m"] == first["disp_focus_per_m"]


def _broken(folder: Path, tmp_path: Path, how: str) -> Path:
    import shutil

    bad = tmp_path / how
    shutil.copytree(folder, bad)
    target = bad / "bokeh" / "000001_02.png"
    if how == "missing":
        target.unlink()
    elif how == "extra":
        (bad / "bokeh" / "000001_09.png").write_bytes(target.read_bytes())
    elif how == "size":
        Image.new("RGB", (WIDTH, WIDTH - 1)).save(target)
    elif how == "16bit":
        Image.fromarray(np.zeros((WIDTH, WIDTH), np.uint16)).save(target)
    elif how == "text":
        target.write_text("not an image")
    return bad


@pytest.mark.parametrize(
    ("how", "needle"),
    [
        ("missing", "bokeh/000001_02.png"),
        ("extra", "bokeh/000001_09.png"),
        ("size", "bokeh/000001_02.png"),
        ("16bit", "bokeh/000001_02.png"),
        ("text", "bokeh/000001_02.png"),
    ],
)
def test_a_folder_that_cannot_be_scored_is_one_line(
    mini_set, reference_folder, tmp_path, capsys, how, needle
):
    out, definition = mini_set
    bad = _broken(reference_folder, tmp_path, how)
    res = tmp_path / "res"
    assert _main("--set", definition, "--manifest", out, "--predictions", bad, "--out", res) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}/{needle}: ") and err.count("\n") == 1, err
    assert not (res / "benchmark.json").exists()


def test_a_render_that_is_not_the_set_and_bad_flags_are_one_line(mini_set, tmp_path, capsys):
    out, definition = mini_set
    other = tmp_path / "other.toml"
    other.write_text(definition.read_text().replace('0 = "', '0 = "0', 1))
    base = ["--manifest", out, "--out", tmp_path / "r"]
    assert _main("--set", other, *base, "--predictions", tmp_path) == 2
    err = capsys.readouterr().err
    assert "not the benchmark set 'mini' v1 (scene 0: spec hash" in err and err.count("\n") == 1
    assert _main("--set", "small", *base, "--predictions", tmp_path) == 2
    assert (
        "not the benchmark set 'small' v4 (scenes [2, 3, 4, 5, 6] missing; render it with synth/"
        in capsys.readouterr().err
    )
    assert _main(*base, "--predictions", tmp_path) == 2
    assert "need --set" in capsys.readouterr().err
    assert _main(*base) == 2
    assert "--deblur and --bokeh are required" in capsys.readouterr().err
    assert _main("--set", definition, *base, "--predictions", tmp_path, "--max-scenes", 1) == 2
    assert "drop --max-scenes" in capsys.readouterr().err
    assert (
        _main(
            "--set",
            definition,
            "--manifest",
            out,
            "--predictions",
            tmp_path / "nowhere",
            "--out",
            tmp_path / "r",
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'nowhere'}: the predictions folder does not exist")


def test_the_runs_on_a_set_score_the_control_family_and_draw_its_figures(
    mini_set, synth_manifest, tmp_path
):
    from train.config import load_train_config
    from train.launch.local import train_local

    out, definition = mini_set
    fast = [
        "eval.batches=1",
        "eval.sample_steps=1",
        "eval.lvcorr_images=1",
        "checkpoint.every=1000",
    ]
    for name, toml in (("deblur", "deblurnet_tiny.toml"), ("bokeh", "bokehnet_tiny.toml")):
        cfg = load_train_config(toml, fast)
        train_local(cfg, [synth_manifest], tmp_path / name, steps=1, show_progress=False)
    res = tmp_path / "bench"
    args = ["--deblur", tmp_path / "deblur", "--bokeh", tmp_path / "bokeh", "--steps", 1]
    assert _main("--set", definition, "--manifest", out, *args, "--out", res) == 0
    r = json.loads((res / "benchmark.json").read_text())
    assert r["bokeh"]["bokehnet"]["images"] == SCENES * 3  # the sweep renders are not bokeh rows
    assert set(r["control"]["methods"]) == {"cycles (truth)", "reference", "aif", "bokehnet"}
    truth = r["control"]["methods"]["cycles (truth)"]
    assert truth["truth_correlation"] == pytest.approx(1.0) and truth["dynamic_range_ratio"] == 1.0
    names = [t["target"] for t in r["targets"]]
    assert "BokehNet truth correlation >= reference - 0.02" in names
    assert "calibration: Cycles Spearman (background) >= 0.99" in names
    for f in ("lv_vs_k.png", "control_strips.png", "benchmark_grid.png"):
        assert (res / f).stat().st_size > 0
