"""The one worker loop behind every launcher, for both networks.

``fit`` receives a config, a run folder, the run's data (``train.data.feed.TrainData``: the
held-out split and the data cursor), a batch source (``train.data.feed.BatchSource``: each step's
micro-batches, from the start step on), a ``DistContext`` and ``Hooks``; it knows nothing of
launchers. Per step: encode target and conditions, draw σ (logit-normal) and noise from a
generator seeded by ``(seed, rank, step, micro-batch)`` (so a resumed run repeats exactly what an
uninterrupted one does), take an AdamW step on the trainable parameters (DDP-averaged), then
update their moving average when ``optim.ema_decay > 0``. Rank 0 checkpoints, evaluates and logs
(``train.runlog``); ``hooks.on_checkpoint`` runs on every rank after each checkpoint. Each
process computes on ``compute_threads`` intra-op threads (``train.threads``: chosen once at the
start, the process's count restored at the end).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from train.checkpoint import latest_checkpoint
from train.dist import DistContext, all_reduce_mean
from train.evaluate.heldout import evaluate_held_out
from train.evaluate.validation import ValidationImages
from train.objectives import flow_matching_loss, noisy, sample_sigmas
from train.runlog import RunLog
from train.runs import read_run_config
from train.state import TrainState
from train.threads import choose_threads, using_threads


@dataclass
class Hooks:
    """``on_checkpoint(metrics, checkpoint_dir)`` after each checkpoint, on every rank (Ray
    Train reports it); ``progress``: show a progress bar on rank 0."""

    on_checkpoint: Callable[[dict, Path], None] | None = None
    progress: bool = True


def step_generator(seed: int, rank: int, step: int, micro: int) -> torch.Generator:
    """The noise and σ generator of one micro-batch: a function of the config seed, the worker's
    rank, the step and the micro-batch only, so a resumed run draws what the first run would."""
    mixed = ((seed * 1009 + rank) * 1_000_003 + step) * 31 + micro
    return torch.Generator().manual_seed(mixed % 2**64)  # any config seed (< 2**32) fits


def encode_batch(codec, batch: dict, gen: torch.Generator, device):
    """The target's and the conditions' latents, in this order from ``gen``: encoded from the
    images, or drawn from the latent cache's moments (``target_moments``/``cond_moments``,
    ``train.latents``) with the same draws."""
    with torch.no_grad():
        if "target_moments" in batch:
            z0 = codec.sample(batch["target_moments"].to(device), gen)
            return z0, [codec.sample(c.to(device), gen) for c in batch["cond_moments"]]
        z0 = codec.encode(batch["target"].to(device), generator=gen)
        return z0, [codec.encode(c.to(device), generator=gen) for c in batch["cond"]]


def compute_loss(denoiser, codec, batch: dict, cfg, gen: torch.Generator, device):
    z0, zc = encode_batch(codec, batch, gen, device)
    o = cfg.optim
    sigma = sample_sigmas(z0.shape[0], gen, o.sigma_logit_mean, o.sigma_logit_std).to(device)
    noise = torch.randn(z0.shape, generator=gen).to(device)
    z_t = noisy(z0, noise, sigma)
    use_bf16 = cfg.model.dtype == "bfloat16" and device.type == "cuda"
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
        v = denoiser(z_t, zc, sigma, o.sigma_floor)
    weight = sigma.float() ** 2 if o.loss_weighting == "x0" else None
    return flow_matching_loss(v, z0, noise, weight)


class Diverged(RuntimeError):
    """Training stopped on non-finite losses or weights; ``str()`` is one line that names the
    last checkpoint, which holds the last finite weights."""


def batch_blur_max_px(batch: dict) -> float:
    """The largest blur radius ``K · |d − d_f|`` (px at the network's input) of a batch's
    targets: what a BokehNet learns to render (0 for a batch without them). Recorded in the
    checkpoint (``blur_max_px``) so that ``train refocus`` can refuse a K past it."""
    if "k" not in batch:
        return 0.0
    if "disp_range" in batch:  # the latent cache: each crop's disparity [min, max]
        extremes = batch["disp_range"].double()
    elif "disparity" in batch:  # |d − d_f| is largest at the crop's nearest or farthest pixel
        d = batch["disparity"].double().flatten(1)
        extremes = torch.stack([d.amin(1), d.amax(1)], 1)
    else:
        return 0.0
    df = batch["disp_focus"].double().view(-1, 1)
    return float((batch["k"].double().view(-1, 1) * (extremes - df).abs()).amax())


def train_step(model, state: TrainState, batches: list[dict], cfg, ctx: DistContext) -> float:
    """One optimiser step over the step's micro-batches; returns the rank-averaged loss.

    A non-finite loss (every rank sees the same average) takes no optimiser step: its gradients
    are dropped, the step still counts (the data cursor and the schedule move on, as a mixed-
    precision loss scaler skips a step), and ``state.nonfinite`` counts it."""
    o = cfg.optim
    state.opt.zero_grad(set_to_none=True)
    total = 0.0
    for micro, batch in enumerate(batches):
        state.blur_max_px = max(state.blur_max_px, batch_blur_max_px(batch))
        gen = step_generator(cfg.seed, ctx.rank, state.step, micro)
        loss = compute_loss(model, state.built.codec, batch, cfg, gen, ctx.device)
        (loss / len(batches)).backward()
        total += loss.detach() / len(batches)
    loss_val = float(all_reduce_mean(total, ctx))
    if math.isfinite(loss_val):
        if o.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(state.built.trainable, o.grad_clip)
        state.opt.step()
    else:
        state.opt.zero_grad(set_to_none=True)
        state.nonfinite += 1
    state.sched.step()
    if state.ema is not None:
        state.ema.update(state.step)
    state.step += 1
    state.losses.append(loss_val)
    return loss_val


def check_finite(state: TrainState, loss: float, cfg, out: Path, weights: bool) -> None:
    """Stop (:class:`Diverged`) after more than ``optim.max_nonfinite_steps`` non-finite losses,
    or, with ``weights`` (before a checkpoint is written), when a trainable weight is not
    finite: such weights never reach a checkpoint."""
    why = None
    if state.nonfinite > cfg.optim.max_nonfinite_steps:
        why = (
            f"the loss was not finite ({loss}) at {state.nonfinite} step(s), more than "
            f"optim.max_nonfinite_steps = {cfg.optim.max_nonfinite_steps}"
        )
    elif weights and not all(bool(torch.isfinite(p).all()) for p in state.built.trainable):
        why = "a trainable weight is not finite"
    if why is None:
        return
    last = latest_checkpoint(out)
    kept = f"the last checkpoint {last} holds the last finite weights" if last else "no checkpoint"
    raise Diverged(
        f"{out}: training stopped at step {state.step}: {why}; {kept}; "
        f"lower optim.lr (now {cfg.optim.lr:g}) or check the data"
    )


def flushing_denormals(fn):
    """Run ``fn`` with denormal floats flushed to zero (random-init tiny models run 10-50x
    slower on a CPU otherwise), restoring the process-wide flag afterwards."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        torch.set_flush_denormal(True)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The value of the smallest subnormal")
                return fn(*args, **kwargs)
        finally:
            torch.set_flush_denormal(False)

    return wrapper


@flushing_denormals
def fit(
    cfg,
    out,
    data,
    source,
    ctx: DistContext | None = None,
    hooks: Hooks | None = None,
    steps: int | None = None,
    resume: bool | Path = False,
    init_from: Path | None = None,
) -> dict:
    """Train ``cfg`` into run folder ``out``; returns the final metrics (rank 0; ``{}`` else).

    ``resume``: True continues from the latest checkpoint of ``out`` (if any), a path from that
    checkpoint. ``init_from`` (a run or checkpoint folder) starts from its weights only, with a
    fresh optimiser and data cursor; ``resume`` wins when both apply. ``steps``: the run's total
    (None: ``optim.steps``).
    """
    ctx, hooks, out = ctx or DistContext.create(), hooks or Hooks(), Path(out)
    steps = cfg.optim.steps if steps is None else steps
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    threads = choose_threads(
        cfg.compute_threads, ctx.local_world_size, cfg.data_workers, ctx.reserved_cpus
    )
    with using_threads(threads.threads):
        return _fit(cfg, out, data, source, ctx, hooks, steps, resume, init_from, threads)


# What a resumed run may change: how long it runs, how it evaluates and saves, how it computes.
# Anything else (the learning rate, the model, the data) would make a run that is neither the
# first run's nor the new settings' while config.json claims the new ones.
RESUME_MAY_CHANGE = ("optim.steps", "eval.", "checkpoint.", "data_workers", "compute_threads")


def check_resume_settings(cfg, out: Path) -> None:
    """Refuse to resume ``out`` with settings other than its ``config.json``'s (one line listing
    the changes); a broken ``config.json`` is one line naming it."""
    import json

    from infra.config_file import settings_changes

    try:
        saved = read_run_config(out)
    except FileNotFoundError:
        return
    new = json.loads(json.dumps(cfg.to_dict(), default=str))
    changed = [c for c in settings_changes(saved, new) if not c.startswith(RESUME_MAY_CHANGE)]
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise ValueError(
            f"{out}: a resumed run keeps its settings ({'; '.join(changed[:3])}{more}); "
            "resume with them, or start a new --out (--init-from takes its weights)"
        )


def _fit(cfg, out, data, source, ctx, hooks, steps, resume, init_from, threads) -> dict:
    ckpt = resume if isinstance(resume, Path) else latest_checkpoint(out) if resume else None
    if ckpt is not None:
        check_resume_settings(cfg, out)
    state = TrainState.create(cfg, ctx.device, steps)
    cursor = state.start(ckpt, init_from)
    if cursor is not None:
        data.restore(cursor)
    model = state.built.denoiser
    if ctx.distributed:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    first = state.step
    log = RunLog(out, cfg, first, steps, ctx.is_main, hooks.progress, threads)
    batches = source.steps(first, steps)
    images = ValidationImages.for_run(cfg, data, out, ctx.is_main)  # eval.images_every
    while state.step < steps:
        loss = train_step(model, state, next(batches), cfg, ctx)
        done = state.step
        log.step(done, loss, state.sched.get_last_lr()[0])
        saving = done % cfg.checkpoint.every == 0 or done == steps
        check_finite(state, loss, cfg, out, saving)  # every rank: the same loss and weights
        if done % cfg.eval.every == 0 and done < steps and ctx.is_main:
            log.scalars("eval", _evaluate(state, data, cfg, ctx)[0], done)
        if images is not None and images.due(done, steps):  # rank 0; its own random streams
            log.image("validation", images.write(state.built, state.ema, ctx.device, done), done)
        if saving:
            if ctx.is_main:
                state.save(out, data.cursor(done), cfg.checkpoint.keep)
                log.flush()
            ctx.barrier()
            if hooks.on_checkpoint is not None:
                ckpt_dir = out / "checkpoints" / f"step-{done:06d}"
                hooks.on_checkpoint({"step": done, "loss": loss}, ckpt_dir)
    metrics = _final_metrics(state, data, source, cfg, ctx, log.elapsed_s(), steps - first)
    if ctx.is_main:
        metrics.update(compute_threads=threads.threads, compute_threads_rule=threads.why)
    if ctx.is_main:
        log.finish(metrics, state.losses, metrics.pop("_grid"), steps)
    ctx.barrier()
    return metrics


def _evaluate(state, data, cfg, ctx):
    return evaluate_held_out(state.built, data, cfg, ctx.device, state.ema)


def _final_metrics(state, data, source, cfg, ctx, loop_s: float, steps_run: int) -> dict:
    spread = parameter_spread(state.built.trainable, ctx)  # every rank takes part
    if not ctx.is_main:
        return {}
    metrics, grid = _evaluate(state, data, cfg, ctx)
    if state.ema is not None:  # the raw weights too, to see what averaging buys
        raw, _ = evaluate_held_out(state.built, data, cfg, ctx.device)
        metrics.update({f"raw_{k}": raw[k] for k in ("psnr", "ssim", "lvcorr") if k in raw})
    metrics.update(
        step=state.step,
        final_loss=state.losses[-1] if state.losses else None,
        train_s=loop_s,
        steps_run=steps_run,
        world_size=ctx.world_size,
        **source.summary(),
    )
    if data.skipped_real is not None:
        metrics["real_photos_used"] = len(data.real_items)
        metrics["real_photos_skipped"] = dict(data.skipped_real)
    if ctx.distributed:
        metrics["ddp_param_max_diff"] = spread
    metrics["_grid"] = grid
    return metrics


def parameter_spread(params, ctx: DistContext) -> float:
    """Largest difference of any trainable parameter between ranks (0.0 when DDP is right)."""
    if not ctx.distributed:
        return 0.0
    import torch.distributed as dist

    flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in params])
    lo, hi = flat.clone(), flat.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    return float((hi - lo).max())
