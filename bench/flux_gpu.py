"""FLUX LoRA training on a GPU in bf16: steps/s and peak memory, per shipped FLUX config.

Nothing is downloaded: ``train.backbones.random_flux`` writes a random-init ``small`` FLUX.1
folder (FLUX.1-dev's widths, heads, text dimensions and VAE; 2 double + 4 single blocks) that
loads through the same code as FLUX.1-dev (transformer, VAE codec, cached prompt embeddings);
``--full`` adds FLUX.1-dev's full 19 + 38 block transformer, made random-init on the GPU. Each
case runs ``train.loop.compute_loss`` + AdamW on the LoRA exactly as ``fit`` does (bf16
autocast, fp32 LoRA, the config's rank and gradient checkpointing) at batch 1 on preloaded
random images, and reports steps/s and peak GPU memory; then one short ``fit`` runs end to end on
``--manifest`` (data pipeline, evaluation, checkpoint) with the small model. The frozen base's
weights (``model.base_weights``) are cases too: DeblurNet on a float32, bfloat16 (the release
configs' default) and int8 weight-only base (``train.backbones.lowmem``); each case reports the
base's bytes, and on a GPU the peak memory while building apart from the peak while stepping.

  python bench/flux_gpu.py [--resolution 512] [--steps 10] [--full] [--manifest DIR]
      [--out DIR]   # writes DIR/flux_gpu.json; --device cpu --preset tiny: a CPU dry run
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def step_case(name, cfg, device, resolution, steps, warmup, transformer=None) -> dict:
    """Time ``steps`` optimiser steps (after ``warmup``) of ``cfg`` at batch 1."""
    import torch

    from train.backbones.lowmem import base_bytes
    from train.loop import compute_loss, step_generator
    from train.model import build_model

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t_build = time.perf_counter()
    built = build_model(cfg, device, transformer=transformer)
    build_s = time.perf_counter() - t_build
    build_peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else 0
    if device.type == "cuda":  # an int8 base made on the GPU was bfloat16 while building
        torch.cuda.reset_peak_memory_stats()
    opt = torch.optim.AdamW(built.trainable, lr=cfg.optim.lr)
    g = torch.Generator(device="cpu").manual_seed(0)

    def image():
        return (torch.rand(1, 3, resolution, resolution, generator=g) * 2 - 1).to(device)

    batch = {"target": image(), "cond": [image() for _ in range(built.n_conds)]}
    times = []
    for s in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = compute_loss(
            built.denoiser, built.codec, batch, cfg, step_generator(0, 0, s, 0), device
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(built.trainable, cfg.optim.grad_clip)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    timed = sorted(times[warmup:])
    step_s = timed[len(timed) // 2]
    base = built.denoiser.inner.transformer
    out = {
        "case": name,
        "network": cfg.network,
        "resolution_px": resolution,
        "blocks": [base.config.num_layers, base.config.num_single_layers],
        "lora_rank": cfg.model.lora_rank,
        "base_weights": cfg.model.base_weights,
        "base_MiB": round(base_bytes(base) / 2**20, 2),
        "gradient_checkpointing": cfg.model.gradient_checkpointing,
        "params_total_M": round(sum(p.numel() for p in base.parameters()) / 1e6, 1),
        "params_lora_M": round(sum(p.numel() for p in built.trainable) / 1e6, 2),
        "step_s_median": round(step_s, 4),
        "steps_per_s": round(1.0 / step_s, 3),
        "final_loss": round(loss.item(), 4),
        "build_s": round(build_s, 1),
    }
    if device.type == "cuda":
        out["peak_memory_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out["build_peak_memory_GiB"] = round(build_peak / 2**30, 2)
    del built, opt, batch, loss, base
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def fit_case(cfg, manifest: str, out: Path) -> dict:
    from train.launch.local import train_local

    cfg.data.resolution_px = 64
    cfg.optim.grad_accum, cfg.optim.warmup_steps = 2, 1
    cfg.eval.batches, cfg.eval.batch_size, cfg.eval.sample_steps = 1, 2, 4
    m = train_local(cfg, [manifest], out, steps=4, show_progress=False)
    ckpt = out / "checkpoints" / "step-000004"
    return {
        "case": "fit end to end (64 px, 4 steps x accumulation 2)",
        "psnr": round(m["psnr"], 3),
        "psnr_identity": round(m["psnr_identity"], 3),
        "train_s": round(m["train_s"], 2),
        "checkpoint_files": sorted(p.name for p in ckpt.iterdir()),
    }


def main() -> None:
    from infra.quiet import quiet_library_logs

    quiet_library_logs()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--full", action="store_true", help="also FLUX.1-dev's full-size transformer")
    p.add_argument("--preset", default="small", help="random folder preset (tiny: a CPU dry run)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--manifest", help="a synthetic_pairs manifest for the end-to-end fit")
    p.add_argument("--out", default="runs/bench_flux_gpu")
    a = p.parse_args()
    import torch

    from train.backbones.random_flux import random_flux_transformer, write_random_flux_folder
    from train.config import load_train_config

    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench/flux_gpu.py: no CUDA device (use --device cpu --preset tiny for a dry run)")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}
    results["torch"] = torch.__version__
    results["cases"] = []

    def record(r: dict) -> None:
        results["cases"].append(r)
        print(json.dumps(r), flush=True)
        (out / "flux_gpu.json").write_text(json.dumps(results, indent=1))

    work = Path(tempfile.mkdtemp(prefix="flux_gpu_"))
    t0 = time.perf_counter()
    folder = write_random_flux_folder(work / "FLUX-random", a.preset)
    print(f"random {a.preset} FLUX folder written in {time.perf_counter() - t0:.1f} s", flush=True)

    def cfg_for(network: str, checkpointing: bool = True, base_weights: str = "auto"):
        cfg = load_train_config(f"{network}_flux.toml")
        cfg.model.path, cfg.data.cache_dir = str(folder), str(work / "cache")
        cfg.model.gradient_checkpointing = checkpointing
        cfg.model.base_weights = base_weights
        return cfg

    res, n, w = a.resolution, a.steps, a.warmup
    record(step_case(f"{a.preset} deblurnet", cfg_for("deblurnet"), device, res, n, w))
    record(
        step_case(f"{a.preset} deblurnet, no ckpt", cfg_for("deblurnet", False), device, res, n, w)
    )
    record(step_case(f"{a.preset} bokehnet", cfg_for("bokehnet"), device, res, n, w))
    for base in ("float32", "int8"):  # the bfloat16 base is the "deblurnet" case (auto)
        cfg = cfg_for("deblurnet", base_weights=base)
        record(step_case(f"{a.preset} deblurnet, {base} base", cfg, device, res, n, w))
    if a.manifest:
        record(fit_case(cfg_for("deblurnet"), a.manifest, out / "fit"))
    if a.full:
        for network in ("deblurnet", "bokehnet"):
            t = random_flux_transformer(device=device)
            record(step_case(f"FLUX.1-dev size {network}", cfg_for(network), device, res, n, w, t))
            del t
            gc.collect()
        t = random_flux_transformer(device=device)  # bfloat16, quantised on the GPU
        cfg = cfg_for("deblurnet", base_weights="int8")
        record(step_case("FLUX.1-dev size deblurnet, int8 base", cfg, device, res, n, w, t))
        del t
        gc.collect()
    print(
        "summary: "
        + "; ".join(
            f"{c['case']}: {c.get('steps_per_s', '-')} steps/s, "
            f"{c.get('peak_memory_GiB', '-')} GiB peak, base {c.get('base_MiB', '-')} MiB"
            for c in results["cases"]
        )
    )


if __name__ == "__main__":
    main()
