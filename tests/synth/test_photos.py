"""The 2.5-D route (``python -m synth photos``): pairs from AIF images + depth, hostile input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import optics
from infra.allinfocus import focus_test
from manifests import read_table, validate_path
from synth.config import load_config
from synth.photo_job import run_photos
from synth.photo_pairs import (
    PairParams,
    coc_map_px,
    f_number_for_k,
    render_pair,
    sample_params,
)
from synth.pool import EMBEDDED_PHOTOS, embedded_dir

SMALL = ["photos.long_edge_px=96", "photos.pairs_per_photo=2", "photos.min_short_side_px=32"]


def photo(name: str, long_edge: int = 160) -> np.ndarray:
    from infra.images import read_photo

    return read_photo(str(embedded_dir() / name), long_edge)


def ramp_depth(h: int, w: int, near: float = 1.0, far: float = 8.0) -> np.ndarray:
    """Depth that grows from left to right (a tilted plane)."""
    return np.tile(np.linspace(near, far, w, dtype=np.float32)[None, :], (h, 1))


def save_png(path: Path, img: np.ndarray) -> Path:
    Image.fromarray(img).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    """Three good sources (a .npy sidecar, a 16-bit PNG sidecar, a 16-bit RGB photo with a .npy
    sidecar) and one of each hostile kind."""
    d = tmp_path / "photos"
    d.mkdir()
    good = {}
    for name in ("astronaut.png", "coffee.png"):
        img = photo(name)
        good[name] = img
        save_png(d / name, img)
    save_png(d / "a.depth.of.field.png", good["astronaut.png"])  # a name, not a sidecar
    np.save(d / "a.depth.of.field.depth.npy", ramp_depth(*good["astronaut.png"].shape[:2]))
    h, w = good["astronaut.png"].shape[:2]
    np.save(d / "astronaut.depth.npy", ramp_depth(h, w))
    h, w = good["coffee.png"].shape[:2]
    mm = np.round(ramp_depth(h, w, 0.5, 5.0) * 1000).astype(np.uint16)
    Image.fromarray(mm).save(d / "coffee.depth.png")  # 16-bit grey, millimetres
    rocket = photo("rocket.jpg")
    rgb16 = (rocket.astype(np.uint16) * 257).astype(">u2")  # 16-bit RGB, written raw below
    _write_png16_rgb(d / "rocket16.png", rgb16)
    np.save(d / "rocket16.depth.npy", ramp_depth(*rocket.shape[:2]))
    # hostile
    chelsea = photo("chelsea.png")
    hh, ww = chelsea.shape[:2]
    save_png(d / "nan.png", chelsea)
    bad = ramp_depth(hh, ww)
    bad[3, 3] = np.nan
    np.save(d / "nan.depth.npy", bad)
    save_png(d / "flat.png", chelsea)
    np.save(d / "flat.depth.npy", np.full((hh, ww), 2.0, np.float32))
    save_png(d / "wrongsize.png", chelsea)
    np.save(d / "wrongsize.depth.npy", ramp_depth(50, 50))
    save_png(d / "eightbit.png", chelsea)
    save_png(d / "eightbit.depth.png", np.full((hh, ww), 7, np.uint8))
    save_png(d / "pickled.png", chelsea)
    np.save(d / "pickled.depth.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    save_png(d / "nodepth.png", chelsea)
    grey = np.repeat(photo("astronaut.png").mean(-1, keepdims=True).astype(np.uint8), 3, -1)
    save_png(d / "grey.png", grey[..., 0])
    np.save(d / "grey.depth.npy", ramp_depth(*grey.shape[:2]))
    save_png(d / "tiny.png", chelsea[:20, :20])
    np.save(d / "tiny.depth.npy", ramp_depth(20, 20))
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    np.save(d / "broken.depth.npy", ramp_depth(10, 10))
    blurred = optics.render_bokeh(
        chelsea, optics.disparity_from_depth(ramp_depth(hh, ww, 0.3, 30)), 12.0, 1 / 0.3, srgb=True
    )
    save_png(d / "shallow.png", blurred)
    np.save(d / "shallow.depth.npy", ramp_depth(hh, ww))
    _write_bomb_png(d / "bomb.png")
    outside = tmp_path / "outside.png"
    save_png(outside, chelsea)
    os.symlink(outside, d / "escape.png")
    return d


def _write_png16_rgb(path: Path, rgb16_be: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
    import struct
    import zlib

    h, w = rgb16_be.shape[:2]
    raw = b"".join(b"\x00" + rgb16_be[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(png + chunk(b"IEND", b""))


def _write_bomb_png(path: Path) -> None:
    """A tiny PNG whose header claims 60,000 × 60,000 pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    path.write_bytes(png + chunk(b"IEND", b""))


# ---- the whole-frame focus test -------------------------------------------------------------


def test_focus_test_tells_all_in_focus_from_shallow_depth_of_field():
    for name in EMBEDDED_PHOTOS:
        img = photo(name, 512)
        assert focus_test(img).all_in_focus(), name
        h, w = img.shape[:2]
        disp = np.tile(np.linspace(0.1, 1.0, w)[None, :], (h, 1))
        shallow = optics.render_bokeh(img, disp, 16.0 * w / 512, 1.0, srgb=True)
        assert not focus_test(shallow).all_in_focus(), name
    flat = np.full((200, 300, 3), 128, np.uint8)
    assert focus_test(flat).content_fraction == 0 and not focus_test(flat).all_in_focus()


# ---- the renderer's pure parts ---------------------------------------------------------------


def test_boost_highlights_brightens_only_above_the_threshold():
    x = np.array([[[0.5, 0.5, 0.5], [1.0, 1.0, 1.0], [0.95, 0.2, 0.2]]])
    y = optics.boost_highlights(x, 0.9, 4.0)
    np.testing.assert_allclose(y[0, 0], 0.5)  # below: unchanged
    np.testing.assert_allclose(y[0, 1], 4.0)  # white: x gain
    np.testing.assert_allclose(y[0, 2], x[0, 2] * 2.5)  # halfway up: x (1 + 3 * 0.5)
    np.testing.assert_array_equal(optics.boost_highlights(x, 0.9, 1.0), x)
    with pytest.raises(ValueError, match="threshold"):
        optics.boost_highlights(x, 1.0, 2.0)


def test_sampled_pairs_keep_k_range_focus_on_content_and_are_reproducible():
    cfg = load_config(
        overrides=["photos.pairs_per_photo=40", "aperture.shaped_scene_probability=0"]
    )
    disp = optics.disparity_from_depth(ramp_depth(40, 60))
    disp[:, :10] = 0  # no depth there: never a focus
    a = sample_params(np.random.default_rng(1), disp, 256, cfg)
    assert a == sample_params(np.random.default_rng(1), disp, 256, cfg)
    ks = np.array([p.k for p in a]) * 512 / 256
    assert ks.min() >= 2.0 and ks.max() <= 30.0 and ks.max() / ks.min() > 3
    assert all(p.disp_focus in set(disp[disp > 0].tolist()) for p in a)
    assert {p.blades for p in a} & {0} and {p.blades for p in a} - {0}  # round and bladed


def test_labels_match_the_cycles_convention():
    """A twin pair's CoC map is the Cycles CoC map, and its lens gives back its K exactly."""
    f_mm, sensor_mm, width, n, focus_m = 50.0, 36.0, 96, 2.0, 2.0
    k = float(optics.k_synthetic(f_mm, n, sensor_mm, width))
    assert f_number_for_k(k, width, f_mm, sensor_mm) == pytest.approx(n)
    depth = ramp_depth(8, width, 1.0, 6.0)
    cycles = optics.coc_cycles_px(f_mm, n, focus_m, depth, sensor_mm, width)
    ours = coc_map_px(optics.disparity_from_depth(depth), PairParams(1 / focus_m, k))
    np.testing.assert_allclose(ours, cycles, atol=1e-4)


def test_render_pair_blurs_a_point_into_the_aperture_and_boosts_it():
    img = np.zeros((41, 41, 3), np.uint8)
    img[20, 20] = 255
    disp = np.full((41, 41), 0.5)
    params = PairParams(disp_focus=1.0, k=16.0)  # radius 8 px everywhere
    cfg = load_config(overrides=["photos.highlight_gain=1"]).photos
    plain = render_pair(img, disp, params, None, cfg).astype(float)
    boosted = render_pair(
        img, disp, params, None, load_config(overrides=["photos.highlight_gain=8"]).photos
    ).astype(float)
    ys, xs = np.nonzero(plain[..., 0] > 0.5 * plain[..., 0].max())  # sRGB lifts the faint rim
    assert 15 <= ys.max() - ys.min() + 1 <= 18 and 15 <= xs.max() - xs.min() + 1 <= 18
    assert boosted[20, 20, 0] > plain[20, 20, 0] * 1.5


# ---- the job -------------------------------------------------------------------------------


def test_folder_job_renders_the_good_and_rejects_each_bad_source_with_its_reason(folder, tmp_path):
    out = tmp_path / "out"
    cfg = load_config(overrides=SMALL)
    stats = run_photos(str(folder), out, cfg, workers=0, progress=False)
    rejects = {Path(r["uri"]).name: r for r in read_table(out, "rejects").to_pylist()}
    reasons = {name: r["reason"] for name, r in rejects.items()}
    assert reasons == {
        "nan.png": "bad_depth",
        "flat.png": "bad_depth",
        "wrongsize.png": "bad_depth",
        "eightbit.png": "bad_depth",
        "pickled.png": "bad_depth",
        "nodepth.png": "no_depth",
        "grey.png": "greyscale",
        "tiny.png": "too_small",
        "broken.jpg": "decode_failed",
        "shallow.png": "not_all_in_focus",
        "bomb.png": "decompression_bomb",
        "escape.png": "link_outside_root",
    }
    for r in rejects.values():  # one line, naming the file (the photo or its depth file)
        assert "\n" not in r["detail"] and Path(r["uri"]).stem in r["detail"], r
    assert "NaN" in rejects["nan.png"]["detail"] and "constant" in rejects["flat.png"]["detail"]
    assert stats["inputs"] == 16 == stats["kept"] + stats["rejected"] and stats["kept"] == 4
    assert validate_path(out, files=True).ok
    rows = read_table(out, "synthetic_pairs").to_pylist()
    assert len(rows) == 8 and {r["scene_kind"] for r in rows} == {"photo_2p5d"}
    for r in rows:
        assert max(r["width_px"], r["height_px"]) == 96 and r["k_ref_width_px"] == r["width_px"]
        assert len(r["source_photos"]) == 1 and len(r["source_photos"][0]) == 64
        assert r["k_genrefocus"] == pytest.approx(
            float(optics.k_synthetic(r["focal_length_mm"], r["f_number"], 36.0, r["width_px"]))
        )
        coc = np.load(out / r["coc_path"])
        depth = np.load(out / r["depth_path"])
        assert coc.shape == depth.shape == (r["height_px"], r["width_px"])
    coffee = next(
        r
        for r in rows
        if "coffee" in json.loads((out / "sources.json").read_text())["sources"][r["scene_id"]]
    )
    depth = np.load(out / coffee["depth_path"])
    assert 0.49 < depth.min() and depth.max() < 5.01  # the 16-bit PNG's millimetres, in metres


def test_job_resumes_and_refuses_another_listing(folder, tmp_path):
    out = tmp_path / "out"
    cfg = load_config(overrides=SMALL)
    first = run_photos(str(folder), out, cfg, workers=0, progress=False)
    before = read_table(out, "synthetic_pairs").to_pylist()
    victim = out / "scenes" / f"{before[0]['scene_id']:06d}"
    (victim / "DONE").unlink()  # as if killed before its commit
    again = run_photos(str(folder), out, cfg, workers=0, progress=False)
    assert again["rendered_now"] == 1 and again["kept"] == first["kept"]
    after = read_table(out, "synthetic_pairs").to_pylist()
    assert sorted(map(json.dumps, after)) == sorted(map(json.dumps, before))  # same pairs
    save_png(folder / "zz_new.png", photo("chelsea.png"))
    from synth.photo_job import PhotoJobError

    with pytest.raises(PhotoJobError, match="another list of sources"):
        run_photos(str(folder), out, cfg, workers=0, progress=False)


def test_twin_of_a_path_traced_set_keeps_its_labels(render_synth, tmp_path):
    """A synthetic_pairs source: the same frames, focus, K and aperture; only the renderer."""
    src = render_synth(tmp_path / "pt", 2, 48, 2)
    out = tmp_path / "twin"
    stats = run_photos(str(src), out, load_config(overrides=SMALL[2:]), workers=0, progress=False)
    assert stats["kept"] == 2 and stats["rejected"] == 0
    pt = {
        (r["scene_id"], r["render_id"]): r for r in read_table(src, "synthetic_pairs").to_pylist()
    }
    twin = read_table(out, "synthetic_pairs").to_pylist()
    assert len(twin) == len(pt)
    for r in twin:
        p = pt[(r["scene_id"], r["render_id"])]
        assert r["dataset_id"] == p["dataset_id"] + "-2p5d" and r["split"] == p["split"]
        for key in ("k_genrefocus", "disp_focus", "f_number", "aperture_blades", "width_px"):
            assert r[key] == pytest.approx(p[key]), key
        np.testing.assert_array_equal(
            np.load(out / r["depth_path"]), np.load(src / p["depth_path"])
        )
        cycles, ours = np.load(src / p["coc_path"]), np.load(out / r["coc_path"])
        inside = np.abs(cycles) < 199
        np.testing.assert_allclose(ours[inside], cycles[inside], atol=1e-3)
    assert validate_path(out, files=True).ok


def test_trainer_trains_on_the_pairs_and_mixes_the_kinds_by_weight(render_synth, tmp_path):
    from train.config import load_train_config
    from train.data.feed import TrainData
    from train.launch.local import train_local

    src = render_synth(tmp_path / "pt", 2, 48, 2)
    twin = tmp_path / "twin"
    run_photos(str(src), twin, load_config(overrides=SMALL[2:]), workers=0, progress=False)
    over = {"data.resolution_px": 32, "data.eval_split": "train", "eval.every": 10**9}
    cfg = load_train_config("bokehnet_tiny.toml", over)
    metrics = train_local(cfg, [str(twin)], tmp_path / "run", steps=3, show_progress=False)
    assert metrics["step"] == 3 and np.isfinite(metrics["psnr"])
    both = load_train_config("bokehnet_tiny.toml", {**over, "data.photo_2p5d_share": 0.9})
    data = TrainData.load(both, [str(src), str(twin)])
    kinds = [data.train_rows[i]["scene_kind"] for _, i in (next(data.sampler) for _ in range(400))]
    share = kinds.count("photo_2p5d") / len(kinds)
    assert 0.85 < share < 0.95


def test_cli_refuses_bad_input_in_one_line(run_synth, tmp_path):
    p = run_synth("photos", "--photos", tmp_path / "nope", "--out", tmp_path / "o")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "no such" in p.stderr
    p = run_synth("photos", "--photos", tmp_path, "--out", tmp_path / "o", "--workers", "-1")
    assert p.returncode == 2 and "--workers" in p.stderr
    p = run_synth(
        "photos", "--photos", tmp_path, "--out", tmp_path / "o", "--set", "photos.k=[0, 5]"
    )
    assert p.returncode == 2 and "photos.k" in p.stderr


def test_ray_data_job_gives_the_same_pairs(folder, tmp_path):
    cfg = load_config(overrides=SMALL)
    local = run_photos(str(folder), tmp_path / "a", cfg, workers=0, progress=False)
    ray_run = run_photos(str(folder), tmp_path / "b", cfg, workers=1, progress=False)
    assert {k: ray_run[k] for k in ("inputs", "kept", "rejected", "reasons")} == {
        k: local[k] for k in ("inputs", "kept", "rejected", "reasons")
    }
    a = read_table(tmp_path / "a", "synthetic_pairs").to_pylist()
    b = read_table(tmp_path / "b", "synthetic_pairs").to_pylist()
    assert [r["spec_hash"] for r in a] == [r["spec_hash"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert np.array_equal(
            np.asarray(Image.open(tmp_path / "a" / ra["bokeh_path"])),
            np.asarray(Image.open(tmp_path / "b" / rb["bokeh_path"])),
        )


def test_real_photos_manifest_with_depth_column_curate_verdict_and_a_depth_model(
    tmp_path, tiny_depth_model
):
    """Curate's rows: the depth column is read (inside the root only), all_in_focus = false is a
    reject without a decode, and a photo without depth takes the local depth model's."""
    from manifests import write_part
    from manifests.example import real_photo_rows

    root = tmp_path / "curated"
    (root / "photos").mkdir(parents=True)
    template = real_photo_rows()[0]
    rows = []
    for name, aif, depth in (
        ("astro.png", None, "astro.depth.npy"),
        ("coffee.png", False, None),
        ("chelsea.png", None, None),
        ("escape.png", None, "../../outside.npy"),
    ):
        img = photo({"astro.png": "astronaut.png", "escape.png": "rocket.jpg"}.get(name, name))
        save_png(root / "photos" / name, img)
        if depth:
            np.save(root / "photos" / depth.split("/")[-1], ramp_depth(*img.shape[:2]))
        rows.append(
            {
                **template,
                "uri": f"photos/{name}",
                "sha256": f"{len(rows):064x}",
                "width_px": img.shape[1],
                "height_px": img.shape[0],
                "all_in_focus": aif,
                "depth_path": None if depth is None else f"photos/{depth}",
            }
        )
    np.save(tmp_path / "outside.npy", ramp_depth(10, 10))
    write_part(rows, root, "real_photos", 0, created_by="test")
    cfg = load_config(overrides=SMALL)
    no_model = run_photos(str(root), tmp_path / "a", cfg, workers=0, progress=False)
    reasons = {
        Path(r["uri"]).name: r["reason"] for r in read_table(tmp_path / "a", "rejects").to_pylist()
    }
    assert reasons == {
        "coffee.png": "not_all_in_focus",
        "chelsea.png": "no_depth",
        "escape.png": "bad_depth",
    }
    assert no_model["kept"] == 1 and no_model["inputs"] == 4
    kept = read_table(tmp_path / "a", "synthetic_pairs").to_pylist()
    assert {r["focal_length_mm"] for r in kept} == {100.0}  # the row's EXIF lens
    assert {r["split"] for r in kept} == {"train"}  # the row's split
    with_model = run_photos(
        str(root), tmp_path / "b", cfg, depth_model=tiny_depth_model, workers=0, progress=False
    )
    assert with_model["kept"] == 2 and with_model["reasons"] == {
        "bad_depth": 1,
        "not_all_in_focus": 1,
    }
    metas = [json.loads(p.read_text()) for p in (tmp_path / "b" / "scenes").glob("*/meta.json")]
    assert {Path(m["source"]).name: m["depth"] for m in metas}["chelsea.png"] == "depth model"


def test_commands_end_to_end_photos_validate_fit(tmp_path, run_synth):
    """The acceptance path as a user types it: synth photos -> manifests validate -> train fit."""
    import subprocess
    import sys

    src = tmp_path / "photos"
    src.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        img = photo(name)
        save_png(src / name, img)
        np.save(src / name.replace(".png", ".depth.npy"), ramp_depth(*img.shape[:2]))
    out = tmp_path / "pairs"
    p = run_synth("photos", "--photos", src, "--out", out, "--workers", "0", "--set", SMALL[0])
    assert p.returncode == 0, p.stderr[-2000:]
    assert "2 rendered (6 pairs), 0 rejected" in p.stdout

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", *map(str, args)], capture_output=True, text=True, timeout=600
        )

    v = cli("manifests", "validate", out, "--files")
    assert v.returncode == 0 and "ok:" in v.stdout, v.stdout + v.stderr
    run = tmp_path / "run"
    f = cli(
        "train", "fit", "--config", "bokehnet_tiny.toml", "--manifest", out, "--out", run,
        "--steps", 2, "--set", "data.resolution_px=32", "--set", 'data.eval_split="train"',
        "--quiet",
    )  # fmt: skip
    assert f.returncode == 0, f.stderr[-2000:]
    assert any(run.rglob("*.safetensors")) or any(run.glob("checkpoints/*"))


def test_a_render_root_and_a_photos_root_never_share_a_folder(render_synth, run_synth, tmp_path):
    from synth.photo_job import PhotoJobError

    src = render_synth(tmp_path / "pt", 1, 32, 1)
    with pytest.raises(PhotoJobError, match="a folder of their own"):
        run_photos(str(src), src, load_config(), workers=0, progress=False)
    twin = tmp_path / "twin"
    run_photos(str(src), twin, load_config(overrides=SMALL[2:]), workers=0, progress=False)
    p = run_synth("render", "--out", twin, "--scenes", 1, "--resolution", 32, "--samples", 1)
    assert p.returncode == 2 and "a 2.5-D route's folder" in p.stderr


def test_a_killed_job_resumes_into_the_pairs_of_an_unbroken_one(tmp_path):
    """SIGKILL mid-run (after the first committed source), rerun: every pair is there once and
    equals an unbroken run's, bit for bit."""
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        img = photo(EMBEDDED_PHOTOS[i % 4], 512)
        save_png(src / f"p{i}.png", img)
        np.save(src / f"p{i}.depth.npy", ramp_depth(*img.shape[:2], 0.8, 9.0))
    args = ["photos", "--photos", src, "--workers", "0", "--quiet"]
    cmd = [sys.executable, "-m", "synth", *map(str, args)]
    killed = tmp_path / "killed"
    p = subprocess.Popen([*cmd, "--out", str(killed)], cwd=Path(__file__).resolve().parents[2])
    deadline = time.time() + 300
    while not list(killed.glob("scenes/*/DONE")) and time.time() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done_before = len(list(killed.glob("scenes/*/DONE")))
    assert 1 <= done_before < 6, done_before  # killed part way
    again = subprocess.run([*cmd, "--out", str(killed)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    clean = tmp_path / "clean"
    subprocess.run([*cmd, "--out", str(clean)], check=True, capture_output=True)
    a = read_table(killed, "synthetic_pairs").to_pylist()
    b = read_table(clean, "synthetic_pairs").to_pylist()
    assert len(a) == 18 and [r["spec_hash"] for r in a] == [r["spec_hash"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        for key in ("bokeh_path", "aif_path"):
            assert np.array_equal(
                np.asarray(Image.open(killed / ra[key])), np.asarray(Image.open(clean / rb[key]))
            )
    assert not list((killed / "scenes").glob(".tmp-*"))  # the killed writer's temp folder: gone
    assert json.loads((killed / "stats.json").read_text())["rejected"] == 0


def test_a_source_travels_as_json_unchanged():
    from synth.photo_sources import Source, source_from_json, source_json

    rows = ({"scene_id": 3, "k_genrefocus": 0.1 + 0.2, "source_photos": ["ab"], "_root": "/r"},)
    for s in (
        Source("file:///a.png", "file:///a.depth.npy", "val", 35.0, 23.5, True, rows=rows),
        Source("file:///b.png", problem=("link_outside_root", "file:///b.png: a link")),
    ):
        back = source_from_json(source_json(s))
        assert back == s and back.rows == s.rows
