"""Training step cost: the real data pipeline vs preloaded tensors, and 2-process DDP vs 1.

Side by side in one run on the same rendered manifest and config:
(a) ``train.loop.fit`` (samples decoded, resized, cropped and collated by a DataLoader worker
    process while the previous step computes; per-step logging) versus the same optimiser steps
    on batches built beforehand and kept in memory: the ratio is what the pipeline costs (goal:
    < 1.10). Two ratios: the steady state (steps after the first ``WARM``, from the times that
    ``fit`` logs per step, against the same steps of the preloaded loop) and the whole loop
    (which also counts the worker's start and first batch, and the final checkpoint);
(b) samples/s of ``--launcher torchrun --num-workers 2`` (gloo DDP) versus one process with the
    same ``data_workers``, timed before and after the DDP run (goal: >= 1.8x on 2 cores).

Every side computes on ``--threads`` intra-op threads per process (``compute_threads``; default
1, so that (b) compares one thread against two processes of one thread each); the count each
side used is printed. ``--load N`` runs N busy-loop processes during the whole measurement, to
reproduce a loaded machine (docs/train.md, "Compute threads").

  .venv/bin/python bench/train_step.py [--config deblurnet_tiny.toml] [--steps 200]
      [--manifest DIR]   # default: renders 12 scenes at 96 px with synth first
      [--data-workers 1,0] [--threads 1] [--load 0]
  .venv/bin/python bench/train_step.py --feed 512,1024 [--feed-samples 10000]   # (c) only:
      the feed's samples per CPU-second at FLUX sizes, on the fly and from the latent cache,
      against the bare decode, and its memory (bench/train_feed.py)
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
    from train.loop import compute_loss, step_generator
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
            built.denoiser, built.codec, batch, cfg, step_generator(0, 0, s, 0), ctx.device
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(built.trainable, cfg.optim.grad_clip)
        opt.step()
        ends.append(time.perf_counter() - t0)
    return ends


def busy_loops(n: int) -> list[subprocess.Popen]:
    """``n`` processes that each keep one core busy until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def threads_text(n: int) -> str:
    return f"{n} compute thread{'s' if n > 1 else ''}"


def load_text() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def render(manifest: str) -> None:
    cmd = [sys.executable, "-m", "synth", "render", "--out", manifest, "--scenes", "12"]
    cmd += ["--resolution", "96", "--samples", "4", "--quiet"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def ddp_run(a, manifest: str, out: Path, data_workers: int) -> dict:
    """``fit --launcher torchrun --num-workers 2`` at ``a.threads`` threads per rank."""
    cmd = [sys.executable, "-m", "train", "fit", "--config", a.config, "--manifest", manifest]
    cmd += ["--out", str(out), "--steps", str(a.steps), "--launcher", "torchrun"]
    cmd += ["--num-workers", "2", "--quiet", "--set", f"compute_threads={a.threads}"]
    cmd += ["--set", f"data_workers={data_workers}"]
    cmd += ["--set", "eval.every=1000000000", "--set", "checkpoint.every=1000000000"]
    cmd += ["--set", "eval.batches=1", "--set", "eval.sample_steps=2"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"torchrun run failed:\n{p.stderr[-3000:]}")
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: .venv/bin/python bench/train_step.py --manifest /tmp/m --steps 60 "
        "--load 2",
    )
    p.add_argument("--config", default="deblurnet_tiny.toml")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--manifest", help="a rendered synthetic_pairs folder (default: render one)")
    p.add_argument(
        "--data-workers",
        type=lambda t: [int(v) for v in t.split(",")],
        default=[1, 0],
        help="DataLoader worker counts to time the pipeline with (comma-separated)",
    )
    p.add_argument("--threads", type=int, default=1, help="compute threads per process (>= 1)")
    p.add_argument("--load", type=int, default=0, help="busy-loop processes during the run")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import train_feed

    p.add_argument_group("(c) the data feed at FLUX sizes (bench/train_feed.py)")
    train_feed.add_arguments(p, sizes_flag="--feed")
    a = p.parse_args()
    if any(x == "--feed" or x.startswith("--feed=") for x in sys.argv[1:]):  # (c) only
        train_feed.run(a, p.error)
        return
    if a.threads < 1 or a.load < 0 or a.steps <= WARM + 1:
        p.error(f"needs --threads >= 1, --load >= 0 and --steps > {WARM + 1}")
    import torch

    from train.config import load_train_config
    from train.launch.local import train_local

    torch.set_flush_denormal(True)
    torch.set_num_threads(a.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    manifest = a.manifest or str(tmp / "synth")
    if not a.manifest:
        render(manifest)
    cfg = load_train_config(a.config)
    ddp_workers = cfg.data_workers  # the config's: DDP runs with it, so does the 1-process side
    cfg.eval.every = cfg.checkpoint.every = 10**9
    cfg.eval.batches, cfg.eval.sample_steps = 1, 2
    cfg.compute_threads = a.threads
    print(f"start: {os.cpu_count()} cores, {load_text()}; {a.load} busy loop(s) added", flush=True)
    loops = busy_loops(a.load)
    try:
        bare_ends = preloaded_steps(cfg, manifest, a.steps)
        piped = {}
        for workers in dict.fromkeys([*a.data_workers, ddp_workers]):
            cfg.data_workers = workers
            run = tmp / f"one-w{workers}"
            m = train_local(cfg, [manifest], run, steps=a.steps, show_progress=False)
            log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
            piped[workers] = (m["train_s"], [e["time_s"] for e in log], m["compute_threads"])
        ddp = ddp_run(a, manifest, tmp / "ddp", ddp_workers)
        cfg.data_workers = ddp_workers  # once more after DDP: the outside load drifts
        after = train_local(cfg, [manifest], tmp / "one-after", steps=a.steps, show_progress=False)
        end_load = load_text()
    finally:
        for proc in loops:
            proc.kill()
    b = cfg.optim.batch_size
    print(
        f"end: {end_load}; {a.config}, batch {b}, {a.steps} steps, {cfg.data.resolution_px}px crops"
    )
    bare_st = steady(bare_ends)
    print(
        f"preloaded tensors ({threads_text(a.threads)}): steady {1000 * bare_st:.1f} ms/step "
        f"(steps {WARM + 1}..); whole loop {bare_ends[-1]:.2f} s"
    )
    for workers, (pipe_s, ends, threads) in piped.items():
        st = steady(ends)
        print(
            f"pipeline, data_workers={workers} ({threads_text(threads)}): steady {1000 * st:.1f} "
            f"ms/step, ratio {st / bare_st:.3f} (goal < 1.10); first step "
            f"{1000 * ends[0]:.0f} ms; whole loop {pipe_s:.2f} s, ratio "
            f"{pipe_s / bare_ends[-1]:.3f}"
        )
    pipe_s, _, one_threads = piped[ddp_workers]
    one_sps = 2 * a.steps * b / (pipe_s + after["train_s"])  # before and after DDP
    ddp_sps = a.steps * b * 2 / ddp["train_s"]
    same = ddp.get("ddp_param_max_diff") == 0.0
    print(
        f"samples/s, 1 process ({threads_text(one_threads)}, data_workers={ddp_workers})  "
        f"{one_sps:8.1f}  (before / after DDP: {a.steps * b / pipe_s:.1f} / "
        f"{a.steps * b / after['train_s']:.1f})"
    )
    print(
        f"samples/s, 2-process gloo DDP ({threads_text(ddp['compute_threads'])} each)   "
        f"{ddp_sps:8.1f}  (params identical: {same})"
    )
    print(f"DDP / 1 process: x{ddp_sps / one_sps:.2f} (goal >= 1.8), {a.load} busy loop(s)")


if __name__ == "__main__":
    main()
