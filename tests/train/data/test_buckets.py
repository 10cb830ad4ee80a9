"""Aspect buckets: the bucket list, the assignment, the batch schedule (one bucket per batch, no
row lost, the same order on every rank, resumable) and the labels of a bucketed crop (a disc
drawn in the file keeps the radius its K and disparity say after the bucket's resize and crop).
Hand-written manifests of non-square frames; no Blender."""

import json
import math

import numpy as np
import pytest
from PIL import Image

import optics
from manifests import write_part
from manifests.example import synthetic_rows
from train.config import load_train_config
from train.data.buckets import BucketSchedule, assign_buckets, bucket_sizes, parse_aspect
from train.data.build import build_sample, load_rows
from train.data.config import DataConfig
from train.data.feed import MapStyleSource, TrainData

ASPECTS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16")


def test_the_documented_bucket_lists_at_512_and_1024():
    """docs/train.md's table: FLUX's granularity is 16 px (8x VAE, 2x2 patches)."""
    assert bucket_sizes(512, ASPECTS, 16) == [
        (512, 512), (592, 448), (448, 592), (624, 416), (416, 624), (688, 384), (384, 688)
    ]  # fmt: skip
    assert bucket_sizes(1024, ASPECTS, 16) == [
        (1024, 1024), (1184, 880), (880, 1184), (1248, 832), (832, 1248), (1360, 768), (768, 1360)
    ]  # fmt: skip
    for r in (512, 1024):
        for w, h in bucket_sizes(r, ASPECTS, 16):
            assert w % 16 == 0 and h % 16 == 0
            assert abs(w * h / r**2 - 1) < 0.05


@pytest.mark.parametrize("bad", ["3", "3:0", "a:b", "9:1", "nan:1", "-3:2"])
def test_a_bad_aspect_is_one_line(bad):
    with pytest.raises(ValueError, match="aspect"):
        parse_aspect(bad)
    with pytest.raises(Exception, match="bucket_aspects"):
        load_train_config("deblurnet_tiny.toml", [f'data.bucket_aspects=["{bad}"]'])


def test_frames_go_to_the_nearest_aspect():
    sizes = bucket_sizes(512, ASPECTS, 16)
    frames = [(3000, 2000), (2000, 3000), (1920, 1080), (1000, 1000), (1200, 1000), (4000, 1000)]
    names = [f"{sizes[b][0]}x{sizes[b][1]}" for b in assign_buckets(frames, sizes)]
    assert names == ["624x416", "416x624", "688x384", "512x512", "592x448", "688x384"]


def test_the_schedule_batches_within_a_bucket_on_every_rank_and_loses_no_row():
    labels = [0] * 7 + [1] * 5 + [2] * 1
    world, batch = 2, 2
    ranks = [BucketSchedule(labels, batch, world, seed=3) for _ in range(world)]
    n = ranks[0].n_batches
    assert n == 2 + 2 + 1  # ceil(7/4) + ceil(5/4) + ceil(1/4)
    for e in range(3):  # three passes
        seen = set()
        for m in range(e * n, (e + 1) * n):
            parts = [s.micro_batch(m, r) for r, s in enumerate(ranks)]
            assert len({b for b, _ in parts}) == 1  # every rank: the same bucket
            bucket = parts[0][0]
            rows = [i for _, rs in parts for i in rs]
            assert all(labels[i] == bucket for i in rows)
            seen.update(rows)
        assert seen == set(range(len(labels)))  # a pass covers every row
    fresh = BucketSchedule(labels, batch, world, seed=3)  # a resumed run: from the step alone
    assert fresh.micro_batch(11, 1) == ranks[1].micro_batch(11, 1)
    other = BucketSchedule(labels, batch, world, seed=4)
    assert [other.micro_batch(m, 0) for m in range(n)] != [
        ranks[0].micro_batch(m, 0) for m in range(n)
    ]


FRAMES = [(300, 200), (200, 300), (320, 180), (240, 240)]


def write_frames(root, k_file=24.0, dot_depth_m=1.0, focus_m=2.0):
    """One scene per frame size (two renders each): a dark plane in focus at ``focus_m`` and a
    small bright patch at ``dot_depth_m``, its DoF render a uniform disc of the radius the label
    says, ``K · |1/d − 1/focus|`` px at the file's width."""
    rows = synthetic_rows(len(FRAMES), 2)
    for row in rows:
        w, h = FRAMES[row["scene_id"]]
        row.update(width_px=w, height_px=h, k_genrefocus=k_file, k_ref_width_px=w)
        row.update(disp_focus=1.0 / focus_m, split="train", aperture_kernel_path=None)
        row.update(aperture_shape_id=None, aperture_blades=0)
        depth = np.full((h, w), focus_m, np.float32)
        cy, cx = h // 2, w // 2
        depth[cy - 3 : cy + 4, cx - 3 : cx + 4] = dot_depth_m
        aif = np.full((h, w, 3), 10, np.uint8)
        aif[cy, cx] = 250
        r_px = k_file * abs(1 / dot_depth_m - 1 / focus_m)
        yy, xx = np.mgrid[:h, :w]
        bokeh = np.full((h, w, 3), 10, np.uint8)
        bokeh[(yy - cy) ** 2 + (xx - cx) ** 2 <= r_px**2] = 250
        for key, img in (("aif_path", aif), ("bokeh_path", bokeh), ("bokeh_jpeg_path", bokeh)):
            (root / row[key]).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / row[key])
        np.save(root / row["depth_path"], depth)
        np.save(root / row["coc_path"], np.zeros((h, w), np.float32))
    write_part(rows, root, "synthetic_pairs", 0)
    return rows


@pytest.mark.parametrize("train", [True, False])
def test_a_bucketed_crop_keeps_the_disc_its_label_says(tmp_path, train):
    write_frames(tmp_path)
    rows = load_rows([str(tmp_path)], "synthetic_pairs")
    cfg = DataConfig(
        task="bokeh", resolution_px=128, bucket_aspects=ASPECTS, resize_range=(0.7, 0.9)
    )
    sizes = bucket_sizes(128, ASPECTS, 4)
    labels = assign_buckets([(r["width_px"], r["height_px"]) for r in rows], sizes)
    checked = 0
    for (row, b), seed in [
        (rb, seed) for rb in zip(rows, labels, strict=True) for seed in range(3)
    ]:
        crop = sizes[b]
        s = build_sample(row, cfg, np.random.default_rng(seed), train, crop)
        assert s["target"].shape == (3, crop[1], crop[0])  # [C, H, W] of the bucket
        disp = s["disparity"][0]
        level = optics.defocus_level(disp.numpy(), s["disp_focus"], s["k"])
        assert np.allclose(s["cond"][1][0].numpy(), level)  # the map says the crop's blur
        scale = s["k"] / row["k_genrefocus"]  # K is linear in the working width
        assert min(0.7, max(crop[0] / row["width_px"], crop[1] / row["height_px"])) <= scale
        near = np.argwhere(disp.numpy() > 0.75)  # the patch (1/m; the plane is 0.5)
        if len(near) == 0:
            continue  # a random crop left the patch out
        cy, cx = near.mean(0)
        r_label = s["k"] * abs(float(disp.max()) - s["disp_focus"])
        if min(cy, cx, crop[1] - 1 - cy, crop[0] - 1 - cx) < r_label + 1:
            continue  # the disc is cut by the crop's edge
        bright = s["target"][0] > 0.0  # the disc (250 in [-1, 1] is 0.96, the plane -0.92)
        r_measured = math.sqrt(float(bright.sum()) / math.pi)
        assert abs(r_measured - r_label) < 0.6, (row["width_px"], crop, r_measured, r_label)
        checked += 1
    assert checked >= 8


def test_fit_batches_one_bucket_per_micro_batch(tmp_path):
    write_frames(tmp_path)
    sets = ["data.resolution_px=32", "eval.resolution_px=32", "optim.batch_size=2"]
    cfg = load_train_config(
        "deblurnet_tiny.toml", [*sets, f"data.bucket_aspects={list(ASPECTS)}", "data_workers=0"]
    )
    cfg.data.train_split = "train"
    data = TrainData.load(cfg, [str(tmp_path)])
    shapes = [tuple(b[0]["target"].shape) for b in MapStyleSource(data).steps(0, 12)]
    expected = {(28, 40), (40, 28), (24, 44), (32, 32)}  # [H, W] of 3:2, 2:3, 16:9 and 1:1
    sizes = bucket_sizes(32, ASPECTS, 4)
    frames = [(r["width_px"], r["height_px"]) for r in data.train_rows]  # a scene is held out
    trained = {sizes[b][::-1] for b in assign_buckets(frames, sizes)}
    assert {s[2:] for s in shapes} == trained and len(trained) >= 3 and trained <= expected
    again = [tuple(b[0]["target"].shape) for b in MapStyleSource(data).steps(5, 12)]
    assert again == shapes[5:]  # resuming at step 5: the same buckets


def test_each_micro_batch_is_one_kind_in_one_bucket_at_the_configured_share():
    """Renders and 2.5-D pairs (``data.photo_2p5d_share``) and real photos (``real_ratio``) each
    walk their own schedule; the mixture's draw for the micro-batch picks the kind."""
    from types import SimpleNamespace

    from train.data.bucketed import BucketedKinds
    from train.data.mixture import MixtureSampler

    cfg = load_train_config("deblurnet_tiny.toml", [f"data.bucket_aspects={list(ASPECTS)}"])
    frames = [(300, 200), (200, 300), (240, 240)]
    rows = [dict(width_px=w, height_px=h) for w, h in frames * 4]  # 8 renders, then 4 pairs
    real = [dict(width_px=w, height_px=h) for w, h in frames]
    sampler = MixtureSampler(12, 3, 0.2, seed=1, n_second=4, second_share=0.3)
    data = SimpleNamespace(cfg=cfg, train_rows=rows, real_items=real, sampler=sampler, world_size=1)
    kinds = BucketedKinds.of(data)
    counts = {"first": 0, "second": 0, "real": 0}
    for m in range(3000):
        picks, crop = kinds.picks(m, 0)
        kind = kinds.kind_of(m)
        counts[kind] += 1
        pool = real if kind == "real" else rows
        assert {p[0] for p in picks} == {"real" if kind == "real" else "synthetic"}
        idx = [p[1] for p in picks]
        if kind == "second":
            assert min(idx) >= 8
        elif kind == "first":
            assert max(idx) < 8
        sizes = bucket_sizes(cfg.data.resolution_px, ASPECTS, cfg.granularity_px)
        assert {
            sizes[b]
            for b in assign_buckets(
                [(pool[i]["width_px"], pool[i]["height_px"]) for i in idx], sizes
            )
        } == {crop}
    assert abs(counts["real"] / 3000 - 0.2) < 0.03
    assert abs(counts["second"] / (counts["first"] + counts["second"]) - 0.3) < 0.03


@pytest.mark.parametrize("config", ["deblurnet_tiny", "bokehnet_tiny", "bokehnet_tiny_shape"])
def test_the_tiny_configs_train_in_buckets(tmp_path, config):
    """Non-square crops through the UNet, the classical prior and the kernel condition."""
    from train.cli import main

    write_frames(tmp_path / "m")
    sets = [f"data.bucket_aspects={list(ASPECTS)}", "data_workers=0", "optim.batch_size=2"]
    flags = [x for s in sets for x in ("--set", s)]
    argv = ["fit", "--config", f"{config}.toml", "--manifest", str(tmp_path / "m")]
    assert main([*argv, "--out", str(tmp_path / "run"), "--steps", "3", "--quiet", *flags]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["step"] == 3 and math.isfinite(metrics["final_loss"])
