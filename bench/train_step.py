"""Training step cost: the real data pipeline vs preloaded tensors, and 2-process DDP vs 1.

Side by side in one run on the same rendered manifest and config:
(a) ``train.loop.fit`` (samples decoded, resized, cropped and collated in a prefetch thread
    while the previous step computes) versus the same optimiser steps on batches built
    beforehand and kept in memory: the ratio is what the pipeline costs (goal: < 1.10);
(b) samples/s of ``--launcher torchrun --num-workers 2`` (gloo DDP) versus one process.

  .venv/bin/python bench/train_step.py [--config deblurnet_tiny.toml] [--steps 100]
      [--manifest DIR]   # default: renders 12 scenes at 96 px with synth first
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def preloaded_steps(cfg, manifest: str, steps: int) -> float:
    import torch

    from train.dist import DistContext
    from train.loop import Data, _generator, compute_loss
    from train.model import build_model

    ctx = DistContext()
    torch.manual_seed(cfg.seed)
    built = build_model(cfg)
    data = Data.load(cfg, [manifest], ctx)
    batches = [
        data.build([next(data.sampler) for _ in range(cfg.optim.batch_size)], s, 0, 0)
        for s in range(steps)
    ]
    opt = torch.optim.AdamW(built.trainable, lr=cfg.optim.lr)
    t0 = time.perf_counter()
    for s, batch in enumerate(batches):
        opt.zero_grad(set_to_none=True)
        loss = compute_loss(
            built.denoiser, built.codec, batch, cfg, _generator(0, 0, s, 0), ctx.device
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(built.trainable, cfg.optim.grad_clip)
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="deblurnet_tiny.toml")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--manifest")
    a = p.parse_args()
    import torch

    from train.config import load_train_config
    from train.loop import fit

    torch.set_flush_denormal(True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    manifest = a.manifest or str(tmp / "synth")
    if not a.manifest:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "synth",
                "render",
                "--out",
                manifest,
                "--scenes",
                "12",
                "--resolution",
                "96",
                "--samples",
                "4",
                "--quiet",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    cfg = load_train_config(a.config)
    cfg.eval.every = cfg.checkpoint.every = 10**9
    cfg.eval.batches, cfg.eval.sample_steps = 1, 2
    bare_s = preloaded_steps(cfg, manifest, a.steps)
    m = fit(cfg, [manifest], tmp / "one", steps=a.steps, show_progress=False)
    pipe_s = m["train_s"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "fit",
            "--config",
            a.config,
            "--manifest",
            manifest,
            "--out",
            str(tmp / "ddp"),
            "--steps",
            str(a.steps),
            "--launcher",
            "torchrun",
            "--num-workers",
            "2",
            "--quiet",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ddp = json.loads((tmp / "ddp" / "metrics.json").read_text())
    b = cfg.optim.batch_size
    one_sps = a.steps * b / pipe_s
    ddp_sps = a.steps * b * 2 / ddp["train_s"]
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
        f"{a.config}, batch {b}, {a.steps} steps, {cfg.data.resolution_px}px crops"
    )
    print(f"step time, preloaded tensors     {1000 * bare_s / a.steps:8.1f} ms")
    print(f"step time, real data pipeline    {1000 * pipe_s / a.steps:8.1f} ms")
    print(f"pipeline / preloaded             {pipe_s / bare_s:8.3f}  (goal < 1.10)")
    print(f"samples/s, 1 process             {one_sps:8.1f}")
    print(
        f"samples/s, 2-process gloo DDP    {ddp_sps:8.1f}  (x{ddp_sps / one_sps:.2f}; "
        f"params identical: {ddp.get('ddp_param_max_diff') == 0.0})"
    )


if __name__ == "__main__":
    main()
