"""demo.training: each stage's config is its checked-in file plus overrides (no assignments)."""

import pytest

from demo.config import DemoConfig
from demo.training import SYNTH_RUNS, TRAIN_LANES, stage_config, stage_steps
from train.config import load_train_config

STAGES = ("deblur", "bokeh_stage1", "bokeh_shape", "bokeh_stage2")


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_gets_the_demos_evaluation_seed_and_checkpoints(tmp_path, name):
    cfg = DemoConfig.small(train_seed=7)
    tcfg = stage_config(cfg, tmp_path, name, threads=3)
    assert tcfg.seed == 7 and tcfg.compute_threads == 3
    assert tcfg.data.eval_split == "val"
    assert (tcfg.eval.batches, tcfg.eval.every, tcfg.eval.lvcorr_images) == (0, 10**9, 8)
    assert tcfg.eval.resolution_px == 96  # large held-out crops
    assert tcfg.checkpoint.every == max(10, stage_steps(cfg, name) // 4)
    file_cfg = load_train_config(SYNTH_RUNS.get(name, ("bokehnet_tiny_stage2.toml",))[0])
    assert tcfg.name == file_cfg.name and tcfg.model == file_cfg.model
    assert tcfg.optim == file_cfg.optim  # the step count is train_local's, not the config's


def test_threads_zero_keeps_the_files_compute_threads(tmp_path):
    assert stage_config(DemoConfig(), tmp_path, "deblur").compute_threads == 0


def test_the_renders_runs_use_no_real_photos(tmp_path):
    for name in SYNTH_RUNS:
        tcfg = stage_config(DemoConfig(depth_model="/models/depth"), tmp_path, name)
        assert tcfg.data.real_ratio == 0.0 and tcfg.data.depth_model is None
    assert {n for lane in TRAIN_LANES for n in lane} == set(SYNTH_RUNS)


def test_stage2_adds_the_curated_photos_with_this_runs_paths(tmp_path):
    cfg = DemoConfig(depth_model="/models/depth", stage2_steps=200)
    tcfg = stage_config(cfg, tmp_path, "bokeh_stage2")
    assert tcfg.name == "bokehnet_tiny_stage2" and tcfg.network == "bokehnet"
    assert tcfg.data.real_ratio == 0.3
    assert tcfg.real.deblur_run == str(tmp_path / "deblur")
    assert tcfg.data.cache_dir == str(tmp_path / "cache")
    assert tcfg.data.depth_model == "/models/depth"
    assert tcfg.checkpoint.every == 50
    assert stage_config(DemoConfig(), tmp_path, "bokeh_stage2").data.depth_model is None


def test_the_stage2_file_is_bokehnet_tiny_with_real_photos():
    stage1 = load_train_config("bokehnet_tiny.toml").model_dump()
    stage2 = load_train_config("bokehnet_tiny_stage2.toml").model_dump()
    assert stage2["name"] == "bokehnet_tiny_stage2" and stage2["data"]["real_ratio"] == 0.3
    assert stage2["real"]["deblur_run"]  # stage 2 needs a DeblurNet (the demo passes its own)
    stage2["name"], stage2["data"]["real_ratio"], stage2["real"] = (
        stage1["name"],
        stage1["data"]["real_ratio"],
        stage1["real"],
    )
    assert stage2 == stage1
