"""BokehNet stage 2 with real photos, and ``python -m train refocus`` with trained runs."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from manifests import read_table, write_part
from train.launch.local import train_local


@pytest.fixture(scope="module")
def runs(synth_manifest, tmp_path_factory):
    from train.config import load_train_config

    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name in ("deblurnet_tiny", "bokehnet_tiny"):
        cfg = load_train_config(f"{name}.toml")
        cfg.eval.batches, cfg.eval.batch_size, cfg.eval.sample_steps = 1, 2, 2
        cfg.eval.k_sweep = [0.0, 40.0]
        train_local(cfg, [synth_manifest], root / name, steps=2, show_progress=False)
        out[name] = root / name
    return out


def real_photos_from_renders(synth_manifest: str, root: Path) -> str:
    """A real_photos manifest over synth's EXIF JPEGs, with their true depth as an extra column
    (the real route uses ground-truth depth where a manifest has it)."""
    rows = []
    for r in read_table(synth_manifest, "synthetic_pairs").to_pylist()[:6]:
        src = Path(synth_manifest) / r["bokeh_jpeg_path"]
        rows.append(
            {
                "uri": f"file://{src}",
                "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
                "width_px": r["width_px"],
                "height_px": r["height_px"],
                "make": "refocus-synth",
                "f_number": r["f_number"],
                "focal_length_mm": r["focal_length_mm"],
                "sensor_width_mm": r["sensor_width_mm"],
                "sensor_width_source": "crop_35mm",
                "split": "train",
                "depth_path": f"file://{Path(synth_manifest) / r['depth_path']}",
            }
        )
    write_part(rows, str(root), "real_photos", 0, created_by="test")
    return str(root)


def test_bokehnet_stage_two_mixes_real_photos(synth_manifest, runs, tmp_path):
    from train.config import load_train_config

    real = real_photos_from_renders(synth_manifest, tmp_path / "real")
    cfg = load_train_config("bokehnet_tiny.toml")
    cfg.eval.batches, cfg.eval.batch_size, cfg.eval.sample_steps = 1, 2, 2
    cfg.eval.k_sweep = [0.0, 40.0]
    cfg.data.real_ratio = 0.5
    cfg.data.cache_dir = str(tmp_path / "cache")
    cfg.real.deblur_run = str(runs["deblurnet_tiny"])
    cfg.real.deblur_steps = 2
    m = train_local(cfg, [synth_manifest, real], tmp_path / "stage2", steps=3, show_progress=False)
    assert m["real_photos_used"] + sum(m["real_photos_skipped"].values()) == 6
    assert m["real_photos_used"] >= 4
    assert any((tmp_path / "cache").rglob("aif-*.png"))  # pseudo-AIF computed once, cached


def test_stage_two_needs_a_deblurnet(tmp_path):
    from train.config import TrainConfigError, load_train_config

    cfg_text = (Path(__file__).parents[2] / "train/configs/bokehnet_tiny.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(cfg_text.replace("[data]", "[data]\nreal_ratio = 0.5"))
    with pytest.raises(TrainConfigError, match="real.deblur_run"):
        load_train_config(bad)


def test_refocus_cli(synth_manifest, runs, tmp_path):
    """K 30 blurs past what the 2-step BokehNet was trained to (its checkpoint's blur_max_px):
    refused in one line naming the K that fits, then rendered with --beyond-training."""
    row = read_table(synth_manifest, "synthetic_pairs").to_pylist()[0]
    out = tmp_path / "refocused.png"
    args = [
        "--deblur", runs["deblurnet_tiny"], "--bokeh", runs["bokehnet_tiny"],
        "--image", Path(synth_manifest) / row["bokeh_jpeg_path"], "--focus", "0.5,0.5",
        "--k", "30", "--depth", Path(synth_manifest) / row["depth_path"], "--out", out,
        "--steps", "2",
    ]  # fmt: skip

    def run(*extra):
        return subprocess.run(
            [sys.executable, "-m", "train", "refocus", *map(str, args), *extra],
            capture_output=True,
            text=True,
            timeout=600,
        )

    p = run()
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and not out.exists(), p.stderr
    assert "K 30 blurs up to" in p.stderr and "pass --beyond-training" in p.stderr
    trained = json.loads(
        next((runs["bokehnet_tiny"] / "checkpoints").glob("*/state.json")).read_text()
    )
    assert 0 < trained["blur_max_px"] < 100
    p = run("--beyond-training")
    assert p.returncode == 0, p.stderr[-2000:]
    img = np.asarray(Image.open(out))
    assert img.shape == (64, 64, 3) and img.std() > 0
    assert (tmp_path / "refocused_aif.png").exists() and "K = 30" in p.stdout


def test_refocus_refuses_a_folder_without_a_run(tmp_path):
    Image.new("RGB", (16, 16)).save(tmp_path / "x.jpg")
    np.save(tmp_path / "d.npy", np.ones((16, 16), np.float32))
    args = [
        "--deblur",
        tmp_path,
        "--bokeh",
        tmp_path,
        "--image",
        tmp_path / "x.jpg",
        "--focus",
        "0.5,0.5",
        "--k",
        "1",
        "--depth",
        tmp_path / "d.npy",
        "--out",
        tmp_path / "o.png",
    ]
    p = subprocess.run(
        [sys.executable, "-m", "train", "refocus", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2 and "error:" in p.stderr and "Traceback" not in p.stderr
    assert "not a run folder" in p.stderr


def test_init_from_on_the_cli_starts_from_the_given_runs_weights(synth_manifest, tmp_path):
    """``python -m train fit --init-from RUN`` (BokehNet stage 2 from stage 1): the new run
    starts from RUN's weights (with a vanishing learning rate it stays there), fresh optimiser."""
    from train.cli import main

    fast = ["--quiet", "--set", "eval.batches=1", "--set", "eval.sample_steps=1"]
    fast += ["--set", "eval.lvcorr_images=1", "--set", "eval.k_sweep=[0.0, 40.0]"]
    base = ["fit", "--config", "bokehnet_tiny.toml", "--manifest", synth_manifest, *fast]
    moved = ["--set", "optim.lr=1e-2", "--set", "optim.warmup_steps=1"]  # far from the init
    assert main([*base, "--out", str(tmp_path / "s1"), "--steps", "3", *moved]) == 0
    still = ["--steps", "1", "--set", "optim.lr=1e-12", "--set", "optim.warmup_steps=1"]
    s1 = tmp_path / "s1"
    assert main([*base, "--out", str(tmp_path / "s2"), *still, "--init-from", str(s1)]) == 0
    assert main([*base, "--out", str(tmp_path / "fresh"), *still]) == 0

    def weights(run, step):
        return load_file(str(run / "checkpoints" / f"step-{step:06d}" / "trainable.safetensors"))

    w1, w2, w0 = weights(s1, 3), weights(tmp_path / "s2", 1), weights(tmp_path / "fresh", 1)
    assert set(w1) == set(w2)
    assert all(torch.allclose(w1[k], w2[k], atol=1e-6) for k in w1)
    assert any(not torch.allclose(w1[k], w0[k], atol=1e-4) for k in w1)  # not the fresh init


@pytest.mark.parametrize(
    "depth, why",
    [
        (np.ones((8, 8, 2), np.float32), "2-D array of real metres"),
        (np.ones((0, 8), np.float32), "2x2"),
        (np.full((8, 8), np.nan, np.float32), "no NaN"),
        (np.zeros((8, 8), np.float32), "> 0 metres"),
        (-np.ones((8, 8), np.float32), "> 0 metres"),
        (np.ones((8, 8), np.complex64), "2-D array of real metres"),
        (np.full((8, 8), np.inf, np.float32), "no finite depth"),
        (np.ones((8, 16), np.float32), "aspect"),
        (np.array(["a", "b"]), "2-D array of real metres"),
    ],
)
def test_refocus_depth_is_checked_with_one_line_naming_the_file(tmp_path, depth, why):
    from train.refocus import read_depth

    path = tmp_path / "d.npy"
    np.save(path, depth)
    with pytest.raises(ValueError, match=why) as e:
        read_depth(str(path), (8, 8))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_refocus_depth_that_is_not_npy_or_a_fifo_is_one_line(tmp_path):
    from train.refocus import read_depth

    (tmp_path / "d.npy").write_bytes(b"not an array")
    with pytest.raises(ValueError, match="not a .npy depth map"):
        read_depth(str(tmp_path / "d.npy"))
    os.mkfifo(tmp_path / "p.npy")
    with pytest.raises(ValueError, match="not a regular file"):
        read_depth(str(tmp_path / "p.npy"))
    good = np.ones((8, 12), np.float32)
    good[0, 0] = np.inf  # the background
    np.save(tmp_path / "ok.npy", good)
    assert read_depth(str(tmp_path / "ok.npy"), (16, 24)).shape == (8, 12)


def _refocus_args(runs, tmp_path, **change):
    Image.new("RGB", (32, 32), (90, 120, 150)).save(tmp_path / "x.png")
    np.save(tmp_path / "d.npy", np.linspace(1, 5, 32 * 32, dtype=np.float32).reshape(32, 32))
    args = {
        "--deblur": runs["deblurnet_tiny"],
        "--bokeh": runs["bokehnet_tiny"],
        "--image": tmp_path / "x.png",
        "--focus": "0.5,0.5",
        "--k": "10",
        "--depth": tmp_path / "d.npy",
        "--out": tmp_path / "o.png",
        "--steps": "1",
    }
    args.update(change)  # these tests are about inputs, not K: past the trained blur is allowed
    return ["refocus", *[str(v) for kv in args.items() for v in kv], "--beyond-training"]


@pytest.mark.parametrize(
    "change, why",
    [
        ("swap", "--deblur"),
        ({"--out": "{tmp}/o"}, "name an image file"),
        ({"--out": "{tmp}/nowhere/o.png"}, "no such folder"),
        ({"--out": "{tmp}/folder.png"}, "(not a file)"),  # a folder of that name
        ({"--out": "{tmp}/y.png"}, "y_aif.png (not a file)"),  # its all-in-focus sibling
        ({"--out": "/proc/x.png"}, "cannot write in /proc"),  # root's os.access says yes
        ({"--out": "{tmp}/x.png"}, "would overwrite the input"),  # --out is --image
    ],
)
def test_refocus_checks_runs_and_out_before_the_models_run(runs, tmp_path, capsys, change, why):
    from train.cli import main

    (tmp_path / "folder.png").mkdir()
    (tmp_path / "y_aif.png").mkdir()
    if change == "swap":
        change = {"--deblur": runs["bokehnet_tiny"], "--bokeh": runs["deblurnet_tiny"]}
    change = {k: str(v).format(tmp=tmp_path) for k, v in change.items()}
    assert main(_refocus_args(runs, tmp_path, **change)) == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err and err.count("\n") == 1


def test_refocus_of_a_16_bit_photo_is_not_white(runs, tmp_path, capsys):
    from train.cli import main

    ramp = np.tile(np.linspace(2000, 60000, 32).astype(np.uint16), (32, 1))
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    assert main(_refocus_args(runs, tmp_path, **{"--image": tmp_path / "grey16.png"})) == 0
    aif = np.asarray(Image.open(tmp_path / "o_aif.png"))
    assert aif.mean() < 240 and aif.std() > 0  # clipped to 8 bits, the input was all white


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_a_run_folder_with_a_broken_config_json_is_one_line_naming_it(runs, tmp_path, capsys, text):
    import shutil

    from train.cli import main

    broken = tmp_path / "broken_run"
    shutil.copytree(runs["deblurnet_tiny"], broken)
    (broken / "config.json").write_text(text)
    assert main(_refocus_args(runs, tmp_path, **{"--deblur": broken})) == 2
    err = capsys.readouterr().err
    assert str(broken / "config.json") in err and err.count("\n") == 1 and "Traceback" not in err
