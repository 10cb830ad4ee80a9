"""Training step cost: the real data pipeline vs preloaded tensors, and 2-process DDP vs 1.

Side by side in one run on the same rendered manifest and config:
(a) ``train.loop.fit`` (samples decoded, resized, cropped and collated by a DataLoader worker
    process while the previous step computes; per-step logging) versus the same optimiser steps
    on batches built beforehand and kept in memory: the ratio is what the pipeline costs (goal:
    < 1.10). Two ratios: the steady state (steps after the first ``WARM``, from the times that
    ``fit`` logs per step, against the same steps of the preloaded loop) and the whole loop
    (which also counts the worker's start and first batch, and the final checkpoint);
(b) samples/s of ``--launcher torchrun --num-workers 2`` (gloo DDP) versus one process.

  .venv/bin/python bench/train_step.py [--config deblurnet_tiny.toml] [--steps 200]
      [--manifest DIR]   # default: renders 12 scenes at 96 px with synth first
      [--data-workers 1,0]
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

WARM = 10  # steps left out of the steady-state figures


def steady(ends: list[float]) -> float:
    """Seconds per step from step ``WARM`` to the last but one (cumulative end times)."""
    return (ends[-2] - ends[WARM - 1]) / (len(ends) - 1 - WARM)


def preloaded_steps(cfg, manifest: str, steps: int) -> list[float]:
    """End time of each step (s after the first began) on batches built beforehand."""
    import torch

    from train.data.feed import TrainData
    from train.dist import DistContext
    from train.loop import _generator, compute_loss
    from train.model import build_model

    ctx = DistContext()
    torch.manual_seed(cfg.seed)
    built = build_model(cfg)
    data = TrainData.load(cfg, [manifest])
    batches = [
        data.build([next(data.sampler) for _ in range(cfg.optim.batch_size)], s, 0, 0)
        for s in range(steps)
    ]
    opt = torch.optim.AdamW(built.trainable, lr=cfg.optim.lr)
    t0 = time.perf_counter()
    ends = []
    for s, batch in enumerate(batches):
        opt.zero_grad(set_to_none=True)
        loss = compute_loss(
            built.denoiser, built.codec, batch, cfg, _generator(0, 0, s, 0), ctx.device
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(built.trainable, cfg.optim.grad_clip)
        opt.step()
        ends.append(time.perf_counter() - t0)
    return ends


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="deblurnet_tiny.toml")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--manifest")
    p.add_argument(
        "--data-workers",
        type=lambda t: [int(v) for v in t.split(",")],
        default=[1, 0],
        help="DataLoader worker counts to time the pipeline with (comma-separated)",
    )
    a = p.parse_args()
    import torch

    from train.config import load_train_config
    from train.launch.local import train_local

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
    bare_ends = preloaded_steps(cfg, manifest, a.steps)
    bare_s = bare_ends[-1]
    piped = {}
    for workers in a.data_workers:
        cfg.data_workers = workers
        run = tmp / f"one-w{workers}"
        m = train_local(cfg, [manifest], run, steps=a.steps, show_progress=False)
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        piped[workers] = (m["train_s"], [e["time_s"] for e in log])
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
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
        f"{a.config}, batch {b}, {a.steps} steps, {cfg.data.resolution_px}px crops, "
        f"{torch.get_num_threads()} compute threads"
    )
    bare_st = steady(bare_ends)
    print(
        f"preloaded tensors: steady {1000 * bare_st:.1f} ms/step (steps {WARM + 1}..); "
        f"whole loop {bare_s:.2f} s"
    )
    for workers, (pipe_s, ends) in piped.items():
        st = steady(ends)
        print(
            f"pipeline, data_workers={workers}: steady {1000 * st:.1f} ms/step, ratio "
            f"{st / bare_st:.3f} (goal < 1.10); first step {1000 * ends[0]:.0f} ms; whole loop "
            f"{pipe_s:.2f} s, ratio {pipe_s / bare_s:.3f}"
        )
    pipe_s = piped[a.data_workers[0]][0]
    one_sps = a.steps * b / pipe_s
    ddp_sps = a.steps * b * 2 / ddp["train_s"]
    print(f"samples/s, 1 process             {one_sps:8.1f}")
    print(
        f"samples/s, 2-process gloo DDP    {ddp_sps:8.1f}  (x{ddp_sps / one_sps:.2f}; "
        f"params identical: {ddp.get('ddp_param_max_diff') == 0.0})"
    )


if __name__ == "__main__":
    main()
