"""Learning, measured: the tiny networks really learn on a CPU (not only run)."""

from pathlib import Path

import pytest
import torch

from train.data.feed import TrainData
from train.dist import DistContext
from train.heldout import evaluate_held_out
from train.launch.local import train_local
from train.model import build_model


def test_deblurnet_psnr_rises_3db_over_the_untrained_model_within_300_steps(
    synth_manifest, tiny_cfg, tmp_path
):
    cfg = tiny_cfg("deblurnet_tiny.toml", batches=2, batch_size=4, sample_steps=8, resolution_px=0)
    cfg.model.unet_head = "velocity"  # an untrained velocity head outputs noise, not the input
    cfg.optim.loss_weighting = "velocity"
    cfg.optim.sigma_logit_mean, cfg.optim.schedule = 0.0, "constant"  # the FLUX defaults
    cfg.optim.lr, cfg.data.sharp_fraction = 1e-3, 0.0  # learning speed, not the shipped recipe
    cfg.checkpoint.every = 10**9
    ctx = DistContext()
    torch.manual_seed(cfg.seed)
    data = TrainData.load(cfg, [synth_manifest])
    untrained, _ = evaluate_held_out(build_model(cfg), data, cfg, ctx.device)
    trained = train_local(cfg, [synth_manifest], tmp_path / "run", steps=150, show_progress=False)
    assert trained["psnr"] >= untrained["psnr"] + 3.0, (untrained, trained)


@pytest.mark.slow
def test_tiny_bokehnet_is_controllable_on_whole_heldout_frames(
    tmp_path_factory, tmp_path, render_synth
):
    """bokehnet_tiny as the demo trains it (1,500 steps on 24 scenes at 128 px), scored by the
    refocus benchmark on whole 128 px frames of 8 held-out scenes of another dataset seed against
    their Cycles renders. Measured on the demo's data (two renders, two seeds): bokeh PSNR
    22.2-22.3 dB (reference 21.4, the AIF 19.2), LVCorr 0.57 against the reference's 0.58 on the
    same sweep.
    Asserted with margins: above the AIF and within 2 dB of the reference, LVCorr >= 0.9 x the
    reference's, focus follows >= 0.75 (the reference itself misses some planes)."""
    from train.benchmark import Model, Scores, bokeh_section, controllability, load_scenes
    from train.config import load_train_config

    root = tmp_path_factory.mktemp("bokeh_heldout")
    train = render_synth(root / "train", 24, 128, 16)
    heldout_toml = Path(__file__).parents[2] / "synth" / "configs" / "heldout.toml"
    heldout = render_synth(root / "heldout", 8, 128, 16, "--config", str(heldout_toml))
    cfg = load_train_config("bokehnet_tiny.toml")
    cfg.eval.every = cfg.checkpoint.every = 10**9
    cfg.eval.batches, cfg.eval.lvcorr_images = 1, 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_local(cfg, [str(train)], tmp_path / "bokeh", steps=1500, show_progress=False)
        bokeh = Model(tmp_path / "bokeh", "bokehnet")
        scenes = load_scenes([str(heldout)], bokeh.cfg.granularity_px)
        scores = Scores()
        bokeh_section(bokeh, scenes, scores)
        ctrl = controllability(bokeh, scenes, list(cfg.eval.k_sweep), 20.0)
    finally:
        torch.set_num_threads(threads)
    b = scores.summary()
    assert b["bokehnet"]["psnr"] > b["aif"]["psnr"] + 0.5, b
    assert b["bokehnet"]["psnr"] >= b["reference"]["psnr"] - 2.0, b
    lv, ff = ctrl["lvcorr"], ctrl["focus_follows"]
    assert lv["bokehnet"] >= 0.9 * lv["reference"] and lv["reference"] > 0.4, lv
    assert ff["bokehnet"] >= 0.75, ff


@pytest.mark.slow
def test_tiny_deblurnet_beats_the_blurry_input_on_heldout_scenes(
    tmp_path_factory, tmp_path, render_synth
):
    """Learning, measured: deblurnet_tiny trained as the demo trains it (1,500 steps, 24 scenes
    at 128 px) beats the identity baseline (the blurry input) in mean PSNR on 96 px centre crops
    of 72 renders of 24 scenes of another dataset seed, never seen in training. Measured on this
    data (2-core CPU, load ~1.5), seeds 0/1/2: +0.37/+0.49/+0.74 dB (+0.31/+0.43/+0.73 with an
    EMA of 0.999), median image +1.04/+1.20/+1.17 dB, 64-67% of images improved; without the
    flip/rgb augmentation it was -0.12/-0.27/-0.27 dB (all measured with the earlier lr 1e-3 and no
    sharp inputs; the shipped lr 1e-4 / sharp_fraction 0.75 gains +2 dB on whole held-out frames,
    docs/train.md). Asserted: +0.2 dB, median +0.5 dB, half."""
    from train.config import load_train_config

    root = tmp_path_factory.mktemp("deblur_heldout")
    train = render_synth(root / "train", 24, 128, 4)
    heldout_toml = Path(__file__).parents[2] / "synth" / "configs" / "heldout.toml"
    heldout = render_synth(root / "heldout", 24, 128, 4, "--config", str(heldout_toml))
    cfg = load_train_config("deblurnet_tiny.toml")
    cfg.data.eval_split = "val"
    cfg.eval.resolution_px, cfg.eval.batches, cfg.eval.batch_size = 96, 0, 8
    cfg.eval.every = cfg.checkpoint.every = 10**9
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a loaded 2-core machine two compute threads stall each other
    try:
        m = train_local(
            cfg, [str(train), str(heldout)], tmp_path / "deblur", steps=1500, show_progress=False
        )
    finally:
        torch.set_num_threads(threads)
    assert m["eval_images"] == 72, m  # every held-out render, none of them trained on
    assert m["psnr"] > m["psnr_identity"] + 0.2, m
    assert m["psnr_gain_median"] >= 0.5 and m["improved_fraction"] >= 0.5, m
