"""Learning, measured: the tiny networks really learn on a CPU (not only run)."""

import pytest
import torch

from train.dist import DistContext
from train.loop import Data, evaluate_now, fit
from train.model import build_model


def test_deblurnet_psnr_rises_3db_over_the_untrained_model_within_300_steps(
    synth_manifest, tiny_cfg, tmp_path
):
    cfg = tiny_cfg("deblurnet_tiny.toml", batches=2, batch_size=4, sample_steps=8)
    cfg.model.unet_head = "velocity"  # an untrained velocity head outputs noise, not the input
    cfg.optim.loss_weighting = "velocity"
    cfg.optim.sigma_logit_mean, cfg.optim.schedule = 0.0, "constant"  # the FLUX defaults
    cfg.checkpoint.every = 10**9
    ctx = DistContext()
    torch.manual_seed(cfg.seed)
    untrained, _ = evaluate_now(build_model(cfg), Data.load(cfg, [synth_manifest], ctx), cfg, ctx)
    trained = fit(cfg, [synth_manifest], tmp_path / "run", steps=150, show_progress=False)
    assert trained["psnr"] >= untrained["psnr"] + 3.0, (untrained, trained)


@pytest.mark.slow
def test_tiny_bokehnet_reaches_lvcorr_0_9(tmp_path_factory, tmp_path, render_synth):
    """Controllability: over a K sweep the output's Laplacian variance falls as K grows."""
    from train.config import load_train_config

    out = render_synth(tmp_path_factory.mktemp("synth40") / "synth", 40, 96, 4)
    cfg = load_train_config("bokehnet_tiny.toml")
    cfg.data.eval_split = "test"  # more held-out scenes than "val" alone
    cfg.eval.batches, cfg.eval.lvcorr_images = 3, 8
    cfg.eval.every = cfg.checkpoint.every = 10**9
    m = fit(cfg, [str(out)], tmp_path / "bokeh", steps=1500, show_progress=False)
    assert m["lvcorr"] >= 0.9, m
