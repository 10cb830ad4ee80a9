"""Real Cycles renders: a 64² smoke scene with every output, depth truth, labels, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import exifread
import numpy as np
import pytest
from PIL import Image

from manifests import read_table, validate_path
from optics import coc_cycles_px, k_synthetic, sensor_width_from_exif
from synth.config import load_config
from synth.sampling import sample_scene
from synth.settings import RenderSettings


def smoke_args(out):
    """The smoke run: 2 scenes at 64², 4 spp, image textures from ``out``'s sibling folder."""
    return (
        "render",
        "--out",
        out,
        "--scenes",
        2,
        "--resolution",
        64,
        "--samples",
        4,
        "--textures",
        out.parent / "textures",
        "--set",
        "scene.kinds.cards=0",
        "--set",
        "scene.kinds.textured=0",
        "--quiet",
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, run_synth):
    """One CLI run: 2 scenes at 64², 4 spp, with image textures."""
    import numpy as np

    root = tmp_path_factory.mktemp("smoke")
    tex = root / "textures"
    tex.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((32, 32, 3)) * 255).astype("uint8")).save(tex / f"t{i}.png")
    out = root / "out"
    p = run_synth(*smoke_args(out))
    assert p.returncode == 0, p.stdout + p.stderr
    return out, p


def test_smoke_scene_writes_every_output(smoke):
    out, proc = smoke
    assert "2 scene(s) rendered now" in proc.stdout
    d = out / "scenes" / "000000"
    meta = json.loads((d / "meta.json").read_text())
    assert (d / "DONE").exists()
    aif = np.asarray(Image.open(d / "aif.png"))
    assert aif.shape == (64, 64, 3) and aif.dtype == np.uint8 and aif.std() > 1
    depth = np.load(d / "depth.npy")
    assert depth.dtype == np.float32 and depth.shape == (64, 64)
    assert np.all(depth[np.isfinite(depth)] > 0)
    assert len(meta["rows"]) >= 3
    for k, row in enumerate(meta["rows"]):
        img = np.asarray(Image.open(out / row["bokeh_path"]))
        assert img.shape == (64, 64, 3)
        assert np.load(out / row["coc_path"]).dtype == np.float32
        assert (out / row["bokeh_jpeg_path"]).exists()
        assert row["render_id"] == k
    for key in ("spec", "spec_hash", "seed", "versions", "render_settings", "timings_s"):
        assert key in meta
    assert meta["versions"]["bpy"].startswith("4.5.15")
    assert meta["render_settings"]["samples"] == 4
    assert (out / "contact" / "shard-00000-of-00001.png").exists()
    # the spec on disk is the one the sampler gives for this id
    cfg = load_config(
        resolution_px=64, samples=4, overrides=["scene.kinds.cards=0", "scene.kinds.textured=0"]
    )
    textures = sorted(p.name for p in (out.parent / "textures").iterdir())
    assert meta["spec_hash"] == sample_scene(cfg, 0, textures).spec_hash
    assert any(o["material"]["texture"] == "image" for o in meta["spec"]["objects"])


def test_manifest_validates_and_matches_the_scenes(smoke):
    out, _ = smoke
    report = validate_path(out)
    assert report.ok, [str(p) for p in report.problems]
    table = read_table(out, "synthetic_pairs")
    assert table.num_rows == 2 * 3
    p = subprocess.run(
        [sys.executable, "-m", "manifests", "validate", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0 and "ok:" in p.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["inputs"] == stats["kept"] + stats["rejected"] == 2


def test_labels_equal_optics_on_the_stored_depth(smoke):
    out, _ = smoke
    for row in read_table(out, "synthetic_pairs").to_pylist():
        depth = np.load(out / row["depth_path"])
        want = coc_cycles_px(
            row["focal_length_mm"],
            row["f_number"],
            row["focus_distance_m"],
            depth,
            row["sensor_width_mm"],
            row["width_px"],
        ).astype(np.float32)
        np.testing.assert_array_equal(np.load(out / row["coc_path"]), want)
        assert row["k_genrefocus"] == pytest.approx(
            k_synthetic(
                row["focal_length_mm"], row["f_number"], row["sensor_width_mm"], row["width_px"]
            ),
            rel=1e-12,
        )
        assert row["disp_focus"] == pytest.approx(1 / row["focus_distance_m"])
        assert row["k_ref_width_px"] == row["width_px"]


def test_jpeg_exif_recovers_the_rendered_camera(smoke):
    out, _ = smoke
    for row in read_table(out, "synthetic_pairs").to_pylist():
        with open(out / row["bokeh_jpeg_path"], "rb") as f:
            tags = exifread.process_file(f, details=False)

        def num(name, tags=tags):
            v = tags[name].values[0]
            return float(v.num) / float(v.den) if hasattr(v, "num") else float(v)

        assert str(tags["Image Make"]) == "refocus-synth"
        assert num("EXIF FNumber") == pytest.approx(row["f_number"], rel=1e-6)
        assert num("EXIF FocalLength") == pytest.approx(row["focal_length_mm"], rel=1e-6)
        sensor = sensor_width_from_exif(
            focal_length_mm=num("EXIF FocalLength"),
            focal_length_35mm=num("EXIF FocalLengthIn35mmFilm"),
            focal_plane_x_resolution=num("EXIF FocalPlaneXResolution"),
            focal_plane_resolution_unit=num("EXIF FocalPlaneResolutionUnit"),
            focal_plane_ref_width_px=num("EXIF ExifImageWidth"),
        )
        assert sensor.width_mm == pytest.approx(row["sensor_width_mm"], rel=1e-6)
        # the focal-plane route alone gives it exactly too
        fp = num("EXIF ExifImageWidth") / num("EXIF FocalPlaneXResolution") * 10
        assert fp == pytest.approx(row["sensor_width_mm"], rel=1e-6)


def test_rerun_skips_finished_scenes(smoke, run_synth):
    out, _ = smoke
    before = {p.name: p.stat().st_mtime_ns for p in (out / "scenes").iterdir()}
    p = run_synth(*smoke_args(out))
    assert p.returncode == 0 and "0 scene(s) rendered now, 2 already done" in p.stdout
    assert {q.name: q.stat().st_mtime_ns for q in (out / "scenes").iterdir()} == before


def test_depth_is_planar_metres_within_half_a_percent_also_off_axis(tmp_path, spec_tools):
    from synth.blender.render import render_scene

    # 18 mm on full frame: the corners are ~50° off axis, where radial depth would read 55 % more.
    spec = spec_tools.make_spec(
        width=48, height=32, focal_mm=18.0, objects=[spec_tools.plane_at(3.0)]
    )
    res = render_scene(spec, tmp_path, RenderSettings(samples=1, denoise=False))
    z = res.depth_m
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z, 3.0, rtol=5e-3)
    for corner in (z[0, 0], z[0, -1], z[-1, 0], z[-1, -1]):
        assert abs(corner / 3.0 - 1) < 5e-3


def test_background_is_marked_as_infinite_depth(tmp_path, spec_tools):
    from synth.blender.render import render_scene

    spec = spec_tools.make_spec(
        width=32, height=32, focal_mm=50.0, objects=[spec_tools.plane_at(2.0, size_m=0.3)]
    )
    z = render_scene(spec, tmp_path, RenderSettings(samples=1, denoise=False)).depth_m
    assert (
        np.isinf(z[0, 0]) and np.isfinite(z[16, 16]) and z[16, 16] == pytest.approx(2.0, rel=5e-3)
    )


def test_a_failing_scene_is_recorded_and_the_shard_goes_on(tmp_path):
    from synth.worker import finish_shard, render_scenes

    cfg = load_config(
        resolution_px=32, samples=2, overrides=["scene.kinds.cards=0", "scene.kinds.textured=0"]
    )
    good = sample_scene(cfg, 0)
    bad = sample_scene(cfg, 1)
    bad.objects[0].kind = "pyramid"  # Blender has no such mesh: the build raises
    log = tmp_path / "shard.log"
    counts = render_scenes([bad, good], tmp_path, RenderSettings(samples=2), None, 90, log)
    assert counts["rendered"] == [0] and list(counts["failed"]) == [1]
    assert "KeyError" in counts["failed"][1] and "scene 1: FAILED" in log.read_text()
    stats = finish_shard(tmp_path, 0, 1, [0, 1], counts["failed"], counts)
    assert stats["inputs"] == 2 and stats["kept"] == 1 and stats["rejected"] == 1
    rejects = read_table(tmp_path, "rejects").to_pylist()
    assert rejects[0]["uri"] == "scenes/000001" and rejects[0]["reason"] == "render_failed"
    assert validate_path(tmp_path).ok


def test_sigkill_mid_scene_then_rerun_gives_a_complete_dataset(tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "synth",
        "render",
        "--out",
        str(out),
        "--scenes",
        "3",
        "--resolution",
        "64",
        "--samples",
        "64",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scenes = out / "scenes"
    deadline = time.time() + 300
    killed_mid_scene = False
    while time.time() < deadline and proc.poll() is None:
        done = [p for p in scenes.glob("0*")] if scenes.exists() else []
        temps = list(scenes.glob(".tmp-*")) if scenes.exists() else []
        if done and temps:  # one scene finished, the next is half written
            os.kill(proc.pid, signal.SIGKILL)
            killed_mid_scene = True
            break
        time.sleep(0.01)
    proc.wait()
    assert killed_mid_scene, "the render finished before it could be killed"
    assert list(scenes.glob(".tmp-*"))  # the dead worker's partial scene
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "already done" in p.stdout
    assert sorted(x.name for x in scenes.iterdir()) == ["000000", "000001", "000002"]
    table = read_table(out, "synthetic_pairs").to_pylist()
    keys = [(r["scene_id"], r["render_id"]) for r in table]
    assert len(keys) == len(set(keys)) == 9
    for sid in range(3):
        meta = json.loads((scenes / f"{sid:06d}" / "meta.json").read_text())
        for row in meta["rows"]:
            for col in ("aif_path", "depth_path", "bokeh_path", "coc_path", "bokeh_jpeg_path"):
                assert (out / row[col]).stat().st_size > 0
    assert validate_path(out).ok


def test_a_local_process_pool_renders_the_same_specs(tmp_path, run_synth, pool):
    out = tmp_path / "pool"
    p = run_synth(
        "render",
        "--out",
        out,
        "--scenes",
        3,
        "--resolution",
        32,
        "--samples",
        2,
        "--workers",
        2,
        "--threads",
        1,
        "--quiet",
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 scene(s) rendered now" in p.stdout
    cfg = load_config(resolution_px=32, samples=2)
    for row in read_table(out, "synthetic_pairs").to_pylist():
        assert row["spec_hash"] == sample_scene(cfg, row["scene_id"], pool=pool).spec_hash
        assert row["render_samples"] == 2
    assert validate_path(out).ok
