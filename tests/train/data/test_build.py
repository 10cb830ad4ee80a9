"""build_sample on real synth renders: K through resizes, defocus map, aligned crops, collate."""

import numpy as np
import pytest
import torch

import optics
from optics import disparity_from_depth
from train.data.build import (
    build_sample,
    collate,
    draw_geometry,
    read_npy,
    read_rgb,
    rgb_to_tensor,
)
from train.data.config import DataConfig


def _k_synthetic(row, width_px):
    return float(
        optics.k_synthetic(
            row["focal_length_mm"], row["f_number"], row["sensor_width_mm"], width_px
        )
    )


def test_rows_carry_their_root(synth_root, synth_rows):
    assert len(synth_rows) == 12
    assert all(r["_root"] == synth_root for r in synth_rows)


@pytest.mark.parametrize("task", ["deblur", "bokeh"])
def test_layout_and_ranges(synth_rows, task):
    cfg = DataConfig(task=task, resolution_px=32)
    s = build_sample(synth_rows[0], cfg, np.random.default_rng(1), train=True)
    assert s["target"].shape == (3, 32, 32) and s["target"].dtype == torch.float32
    assert s["disparity"].shape == (1, 32, 32)
    assert -1.0 <= float(s["target"].min()) and float(s["target"].max()) <= 1.0
    assert s["source"] == "synthetic" and s["id"] == "0/0"
    assert s["disp_focus"] == pytest.approx(synth_rows[0]["disp_focus"])
    assert len(s["cond"]) == (1 if task == "deblur" else 2)
    if task == "bokeh":
        d = s["cond"][1]
        assert d.shape == (3, 32, 32) and 0.0 <= float(d.min()) and float(d.max()) <= 1.0


def test_k_follows_every_resize(synth_rows):
    """K at the final width equals optics.k_synthetic of the row's camera at that width."""
    row = synth_rows[4]
    ev = build_sample(row, DataConfig(task="bokeh", resolution_px=32), None, train=False)
    # evaluation rescales by the middle of resize_range (0.8): 64 px -> 51 px, then crops
    assert ev["k"] == pytest.approx(_k_synthetic(row, 51), rel=1e-9)
    assert ev["k"] == pytest.approx(row["k_genrefocus"] * 51 / 64, rel=1e-9)
    cfg = DataConfig(task="bokeh", resolution_px=32, resize_range=(0.6, 1.0))
    widths = set()
    for seed in range(8):
        rng = np.random.default_rng(seed)
        g = draw_geometry(np.random.default_rng(seed), 64, 64, cfg, train=True)
        s = build_sample(row, cfg, rng, train=True)
        widths.add(g.width_px)
        assert s["k"] == pytest.approx(_k_synthetic(row, g.width_px), rel=1e-9)
    assert len(widths) > 2  # the random rescale really varies


@pytest.mark.parametrize("train", [False, True])
def test_defocus_map_is_optics_on_own_disparity(synth_rows, train):
    cfg = DataConfig(task="bokeh", resolution_px=48)
    for row in synth_rows[:6]:
        s = build_sample(row, cfg, np.random.default_rng(3), train=train)
        want = optics.defocus_map(s["disparity"][0].numpy(), row["disp_focus"], s["k"])
        np.testing.assert_array_equal(s["cond"][1].permute(1, 2, 0).numpy(), want)
        assert float(s["cond"][1].max()) > 0  # the scenes really have defocus


def test_disparity_is_inverse_depth_with_background_zero(synth_rows):
    row = synth_rows[0]
    s = build_sample(row, DataConfig(task="bokeh", resolution_px=64), None, train=False)
    depth = read_npy(row["depth_path"], row["_root"])
    np.testing.assert_array_equal(s["disparity"][0].numpy(), disparity_from_depth(depth))
    np.testing.assert_allclose(disparity_from_depth(np.array([2.0, np.inf, 0.0])), [0.5, 0, 0])


def test_crops_are_aligned_across_images_and_tasks(synth_rows):
    """The same rng crops the same window from the AIF, the DoF render and the disparity."""
    row = synth_rows[7]
    cfg_d = DataConfig(task="deblur", resolution_px=24, resize_range=(1.0, 1.0))
    cfg_b = DataConfig(task="bokeh", resolution_px=24, resize_range=(1.0, 1.0))
    d = build_sample(row, cfg_d, np.random.default_rng(11), train=True)
    b = build_sample(row, cfg_b, np.random.default_rng(11), train=True)
    assert torch.equal(d["target"], b["cond"][0])  # AIF crop
    assert torch.equal(d["cond"][0], b["target"])  # DoF crop
    assert torch.equal(d["disparity"], b["disparity"])
    g = draw_geometry(np.random.default_rng(11), 64, 64, cfg_b, train=True)
    sl = (slice(None), slice(g.y0, g.y0 + 24), slice(g.x0, g.x0 + 24))
    aif = rgb_to_tensor(read_rgb(row["aif_path"], row["_root"]))
    dof = rgb_to_tensor(read_rgb(row["bokeh_path"], row["_root"]))
    disp = torch.from_numpy(disparity_from_depth(read_npy(row["depth_path"], row["_root"])))
    assert (g.x0, g.y0) != (20, 20)  # not the centre crop
    assert torch.equal(b["cond"][0], aif[sl])
    assert torch.equal(b["target"], dof[sl])
    assert torch.equal(b["disparity"][0], disp[sl[1:]])


def test_eval_geometry_is_centre_crop_at_the_mean_training_scale():
    cfg = DataConfig(resolution_px=32)  # resize_range (0.6, 1.0): evaluation scales by 0.8
    g = draw_geometry(None, 96, 48, cfg, train=False)
    assert (g.width_px, g.height_px, g.x0, g.y0) == (76, 38, 22, 3)
    g = draw_geometry(None, 30, 90, cfg, train=False)
    assert (g.width_px, g.height_px, g.x0, g.y0) == (32, 96, 0, 32)
    g = draw_geometry(np.random.default_rng(0), 96, 48, DataConfig(resolution_px=32), True)
    assert g.height_px >= 32 and 0 <= g.x0 <= g.width_px - 32


def test_collate(synth_rows):
    cfg = DataConfig(task="bokeh", resolution_px=16)
    samples = [
        build_sample(r, cfg, np.random.default_rng(i), True) for i, r in enumerate(synth_rows[:3])
    ]
    b = collate(samples)
    assert b["target"].shape == (3, 3, 16, 16)
    assert [c.shape for c in b["cond"]] == [(3, 3, 16, 16)] * 2
    assert b["k"].shape == (3,) and b["disp_focus"].shape == (3,)
    assert b["disparity"].shape == (3, 1, 16, 16)
    assert b["id"] == ["0/0", "0/1", "0/2"] and b["source"] == ["synthetic"] * 3
    assert torch.equal(b["cond"][1][2], samples[2]["cond"][1])
    assert b["k"][1].item() == pytest.approx(samples[1]["k"], rel=1e-6)


def test_bad_sizes_name_the_file(synth_rows, tmp_path):
    row = dict(synth_rows[0])
    np.save(tmp_path / "d.npy", np.ones((10, 10), np.float32))
    row["depth_path"] = str(tmp_path / "d.npy")
    with pytest.raises(ValueError, match="d.npy: size"):
        build_sample(row, DataConfig(), None, train=False)
    row["depth_path"] = str(tmp_path / "missing.npy")
    with pytest.raises(OSError, match="missing.npy"):
        build_sample(row, DataConfig(), None, train=False)


@pytest.mark.parametrize("task", ["deblur", "bokeh"])
def test_augment_flips_and_permutes_colours_consistently(synth_rows, task):
    """Each augmented sample is the plain one (same crop) under one flip and one colour
    permutation, shared by every image and map; K is unchanged; evaluation is never augmented."""
    plain_cfg = DataConfig(task=task, resolution_px=32)
    aug_cfg = DataConfig(task=task, resolution_px=32, augment=("flip", "rgb"))
    seen_flips, seen_perms = set(), set()
    for seed in range(12):
        row = synth_rows[seed % len(synth_rows)]
        a = build_sample(row, plain_cfg, np.random.default_rng(seed), True)
        b = build_sample(row, aug_cfg, np.random.default_rng(seed), True)
        assert b["k"] == a["k"] and b["disp_focus"] == a["disp_focus"]
        found = [
            (dims, perm)
            for dims in ([], [-1], [-2], [-1, -2])
            for perm in ([0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0])
            if torch.equal(b["target"], a["target"].flip(dims)[perm])
            and torch.equal(b["disparity"], a["disparity"].flip(dims))
            and torch.equal(b["cond"][0], a["cond"][0].flip(dims)[perm])
        ]
        assert found, f"seed {seed}: not a flip + colour permutation of the plain sample"
        dims, perm = found[0]
        if task == "bokeh":  # the defocus map follows the flipped disparity, not the colours
            assert torch.equal(b["cond"][1], a["cond"][1].flip(dims))
        seen_flips.add(tuple(dims))
        seen_perms.add(tuple(perm))
    assert len(seen_flips) >= 3 and len(seen_perms) >= 3
    row = synth_rows[0]
    ev = build_sample(row, aug_cfg, np.random.default_rng(0), False)
    assert torch.equal(
        ev["target"], build_sample(row, plain_cfg, np.random.default_rng(0), False)["target"]
    )
    with pytest.raises(ValueError, match="augment"):
        DataConfig(augment=("rotate",))
