"""Held-out evaluation with the model: generate with the Euler sampler, then score.

DeblurNet: PSNR/SSIM of the output against the all-in-focus target, and of the blurry input (the
identity baseline). BokehNet: PSNR/SSIM against the true DoF render, and controllability LVCorr
over a sweep of K (same noise for every K, so only the defocus map changes).
"""

from __future__ import annotations

import numpy as np
import torch

from train.conditions import bokeh_conditions
from train.ema import averaged
from train.evaluate.metrics import lvcorr, psnr_per_image, ssim_per_image
from train.objectives import generate


def _to_device(batch: dict, device) -> dict:
    out = dict(batch)
    out["target"] = batch["target"].to(device)
    out["cond"] = [c.to(device) for c in batch["cond"]]
    out["disparity"] = batch["disparity"].to(device)
    out["disp_focus"] = batch["disp_focus"].to(device)
    return out


@torch.no_grad()
def evaluate(denoiser, codec, batches: list[dict], network: str, cfg, device) -> tuple[dict, dict]:
    """Metrics over the eval batches (means over images) and a few images for the sample grid."""
    was_training = denoiser.training
    denoiser.eval()
    scores: dict[str, list[float]] = {}
    grid = {}
    for bi, raw in enumerate(batches):
        b = _to_device(raw, device)
        out = generate(denoiser, codec, b["cond"], cfg.eval.sample_steps, seed=1000 + bi)
        pairs = [("", out)] + ([("_identity", b["cond"][0])] if network == "deblurnet" else [])
        for suffix, img in pairs:  # the identity baseline: the blurry input itself
            scores.setdefault(f"psnr{suffix}", []).extend(psnr_per_image(img, b["target"]).tolist())
            scores.setdefault(f"ssim{suffix}", []).extend(ssim_per_image(img, b["target"]).tolist())
        if bi == 0:
            grid = {
                "condition": b["cond"][0].cpu(),
                "output": out.cpu(),
                "target": b["target"].cpu(),
            }
            if network == "bokehnet":
                grid["defocus map"] = (b["cond"][1] * 2 - 1).cpu()
    metrics = {k: float(np.mean(v)) for k, v in scores.items()}
    metrics["eval_images"] = len(scores["psnr"])
    if network == "deblurnet":  # per image: the mean in dB is dominated by nearly sharp inputs
        gain = np.asarray(scores["psnr"]) - np.asarray(scores["psnr_identity"])
        metrics["psnr_gain_median"] = float(np.median(gain))
        metrics["improved_fraction"] = float(np.mean(gain > 0))
    if network == "bokehnet":  # over held-out images from every batch, up to lvcorr_images
        values = []
        for bi, raw in enumerate(batches):
            b = _to_device(raw, device)
            for i in range(b["target"].shape[0]):
                if len(values) >= cfg.eval.lvcorr_images:
                    break
                outs = []
                for k in cfg.eval.k_sweep:
                    conds = bokeh_conditions(
                        b["cond"][0][i : i + 1],
                        b["disparity"][i : i + 1],
                        b["disp_focus"][i : i + 1],
                        k,
                        *(c[i : i + 1] for c in b["cond"][2:]),
                    )
                    out = generate(
                        denoiser, codec, conds, cfg.eval.sample_steps, seed=77 + len(values)
                    )
                    outs.append(out[0].cpu())
                values.append(lvcorr(list(cfg.eval.k_sweep), outs))
                if bi == 0 and i == 0:
                    grid["k_sweep"] = torch.stack(outs)
                    grid["k_values"] = list(cfg.eval.k_sweep)
        metrics["lvcorr"] = float(np.mean(values))
        metrics["lvcorr_images"] = len(values)
    if was_training:
        denoiser.train()
    return metrics, grid


def evaluate_held_out(built, data, cfg, device, ema=None) -> tuple[dict, dict]:
    """Held-out metrics and sample images of a built model (``train.model.Built``) on
    ``data.eval_batches()`` (``train.data.feed.TrainData``), with the moving-average weights of
    ``ema`` (a ``train.ema.WeightEMA``) when given."""
    with averaged(ema, built.denoiser):
        return evaluate(built.denoiser, built.codec, data.eval_batches(), cfg.network, cfg, device)
