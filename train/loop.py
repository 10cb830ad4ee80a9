"""The one worker loop behind every launcher, for both networks.

Per step: draw ``batch_size × grad_accum`` samples from the mixture sampler, build them with the
shared sample builder, encode target and conditions, draw σ (logit-normal) and noise from a
generator seeded by ``(seed, rank, step, micro-batch)`` (so a resumed run repeats exactly what
an uninterrupted one does), and take an AdamW step on the trainable parameters (DDP-averaged),
then update their moving average when ``optim.ema_decay > 0`` (every rank, from the same
averaged gradients; evaluation and inference use it). Rank 0 checkpoints, evaluates, logs
(JSON lines, TensorBoard) and finally writes ``metrics.json``, ``metrics.csv``, ``loss.png`` and
``samples.png``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from train.checkpoint import (
    apply_ema,
    latest_checkpoint,
    load_checkpoint,
    load_ema,
    save_checkpoint,
)
from train.config import TrainConfig
from train.data.build import build_sample, collate, load_rows
from train.data.mixture import MixtureSampler
from train.data.torch_source import split_rows
from train.dist import DistContext, all_reduce_mean
from train.model import build_model
from train.objectives import flow_matching_loss, noisy, sample_sigmas


@dataclass
class Data:
    """Rows, the held-out split and the sampler of one run."""

    cfg: TrainConfig
    train_rows: list[dict]
    eval_rows: list[dict]
    real_items: list[dict]
    sampler: MixtureSampler

    skipped_real: dict | None = None

    @classmethod
    def load(cls, cfg: TrainConfig, manifests: list[str], ctx: DistContext) -> Data:
        rows = load_rows(_holding(manifests, "synthetic_pairs"), "synthetic_pairs")
        if not rows:
            raise ValueError(f"no synthetic_pairs rows in {', '.join(map(str, manifests))}")
        train_rows, eval_rows = split_rows(rows, cfg.data)
        real_items: list[dict] = []
        skipped = None
        if cfg.data.real_ratio > 0:
            real_items, skipped = prepare_real_items(cfg, manifests, ctx)
        sampler = MixtureSampler(
            len(train_rows),
            len(real_items),
            cfg.data.real_ratio,
            cfg.seed,
            ctx.rank,
            ctx.world_size,
        )
        return cls(cfg, train_rows, eval_rows, real_items, sampler, skipped)

    def build(self, picks, step: int, micro: int, rank: int) -> dict:
        samples = []
        for j, (source, idx) in enumerate(picks):
            rng = np.random.default_rng([self.cfg.seed, rank, step, micro, j])
            if source == "synthetic":
                samples.append(build_sample(self.train_rows[idx], self.cfg.data, rng, True))
            else:
                from train.data.real_route import build_real_sample

                samples.append(build_real_sample(self.real_items[idx], self.cfg.data, rng, True))
        return collate(samples)

    def eval_batches(self) -> list[dict]:
        """Centre crops (``eval.resolution_px``, at the mean training scale, smaller when the
        frames are) of the first ``eval.batches × eval.batch_size`` held-out rows (all of them
        when ``batches = 0``)."""
        e = self.cfg.eval
        rows = self.eval_rows[: e.batches * e.batch_size] if e.batches else self.eval_rows
        rows = rows or self.train_rows[: e.batch_size]
        dcfg = self.cfg.data
        if e.resolution_px and e.resolution_px != dcfg.resolution_px:
            res = max(dcfg.resolution_px, min(e.resolution_px, self._fitting_crop(rows)))
            dcfg = dcfg.model_copy(update={"resolution_px": res})
        rng = np.random.default_rng(0)
        out = []
        for i in range(0, len(rows), e.batch_size):
            out.append(
                collate([build_sample(r, dcfg, rng, False) for r in rows[i : i + e.batch_size]])
            )
        return out

    def _fitting_crop(self, rows: list[dict]) -> int:
        """The largest crop side (a multiple of the model's granularity) inside every row's frame
        at the mean training scale: frames are never upscaled for a larger evaluation crop."""
        lo, hi = self.cfg.data.resize_range
        short = min(min(int(r["width_px"]), int(r["height_px"])) for r in rows)
        gran = self.cfg.granularity_px
        return int(round(short * 0.5 * (lo + hi))) // gran * gran


class WeightEMA:
    """Exponential moving average of the trainable parameters, by name. The decay of update
    ``n`` (the optimiser step, so a resumed run repeats it) is ``min(decay, (1 + n) / (10 + n))``:
    early averages forget the random or identity initialisation quickly."""

    def __init__(self, denoiser: torch.nn.Module, decay: float):
        named = [(n, p) for n, p in denoiser.named_parameters() if p.requires_grad]
        self.decay = decay
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - d)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.shadow, strict=True))

    def load_state_dict(self, sd: dict[str, torch.Tensor], where: Path) -> None:
        if set(sd) != set(self.names):
            raise ValueError(f"{where}: EMA weights do not match the trainable parameters")
        with torch.no_grad():
            for n, t in zip(self.names, self.shadow, strict=True):
                t.copy_(sd[n])

    @contextlib.contextmanager
    def applied(self, denoiser: torch.nn.Module):
        """The averaged weights in the model for the ``with`` body, the raw ones after."""
        raw = {n: p.detach().clone() for n, p in zip(self.names, self.params, strict=True)}
        apply_ema(denoiser, self.state_dict(), Path("<ema>"))
        try:
            yield
        finally:
            apply_ema(denoiser, raw, Path("<raw>"))


class StepBatches(torch.utils.data.Dataset):
    """The micro-batches of step ``start + i``: micro-batch ``m`` of step ``s`` takes the mixture
    draws at positions ``(s · accum + m) · batch + j`` (a pure function of the step, so any
    DataLoader worker can build any step and a resumed run continues exactly)."""

    def __init__(
        self, data: Data, start: int, steps: int, accum: int, batch: int, rank: int, world: int
    ):
        self.data, self.start, self.steps = data, start, steps
        self.accum, self.batch, self.rank, self.world = accum, batch, rank, world

    def __len__(self) -> int:
        return self.steps - self.start

    def __getitem__(self, i: int) -> list[dict]:
        step = self.start + i
        out = []
        for m in range(self.accum):
            first = (step * self.accum + m) * self.batch
            picks = [
                self.data.sampler.draw((first + j) * self.world + self.rank)
                for j in range(self.batch)
            ]
            out.append(self.data.build(picks, step, m, self.rank))
        return out


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # the worker decodes; the main process keeps the cores for compute


def lr_factor(o, steps: int):
    """Linear warm-up, then constant or cosine decay to 0 at ``steps`` (``optim.schedule``)."""
    import math

    warm = max(1, o.warmup_steps)

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        if o.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, steps - warm))))
        return 1.0

    return factor


def _ray_batches(shard, batch_size: int, seed: int):
    """Endless batches from a Ray Train dataset shard (a new pass when one ends)."""
    from train.data.ray_source import iter_batches

    epoch = 0
    while True:
        yield from iter_batches(
            shard,
            batch_size,
            drop_last=True,
            local_shuffle_buffer_size=64,
            local_shuffle_seed=seed + epoch,
        )
        epoch += 1


def _holding(manifests: list[str], schema: str) -> list[str]:
    """The manifests that contain ``schema`` parts."""
    from manifests import list_parts
    from manifests.io import ManifestError

    found = []
    for m in manifests:
        try:
            if list_parts(m).get(schema):
                found.append(m)
        except ManifestError:
            continue
    return found


def prepare_real_items(cfg: TrainConfig, manifests: list[str], ctx: DistContext):
    """BokehNet stage 2: pseudo-AIF, depth, focus and K for every usable real photo (cached)."""
    from train.data.depth import make_depth_estimator
    from train.data.real_route import prepare_real
    from train.refocus import deblur_function

    rows = load_rows(_holding(manifests, "real_photos"), "real_photos")
    if cfg.real.max_photos:
        rows = rows[: cfg.real.max_photos]
    if not rows:
        raise ValueError("data.real_ratio > 0 but no real_photos manifest was given (--manifest)")
    deblur = deblur_function(cfg.real.deblur_run, cfg.real.deblur_steps)
    depth = make_depth_estimator(cfg.data.depth_model)
    cache = cfg.data.cache_dir
    return prepare_real(rows, cfg.data, deblur, depth, cache, progress=ctx.is_main)


def _generator(seed: int, rank: int, step: int, micro: int) -> torch.Generator:
    return torch.Generator().manual_seed(((seed * 1009 + rank) * 1_000_003 + step) * 31 + micro)


def compute_loss(denoiser, codec, batch: dict, cfg: TrainConfig, gen: torch.Generator, device):
    target = batch["target"].to(device)
    conds = [c.to(device) for c in batch["cond"]]
    with torch.no_grad():
        z0 = codec.encode(target, generator=gen)
        zc = [codec.encode(c, generator=gen) for c in conds]
    o = cfg.optim
    sigma = sample_sigmas(z0.shape[0], gen, o.sigma_logit_mean, o.sigma_logit_std).to(device)
    noise = torch.randn(z0.shape, generator=gen).to(device)
    z_t = noisy(z0, noise, sigma)
    use_bf16 = cfg.model.dtype == "bfloat16" and device.type == "cuda"
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
        v = denoiser(z_t, zc, sigma, o.sigma_floor)
    weight = sigma.float() ** 2 if o.loss_weighting == "x0" else None
    return flow_matching_loss(v, z0, noise, weight)


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
    cfg: TrainConfig,
    manifests: list[str],
    out: str | Path,
    steps: int | None = None,
    resume: bool = False,
    ctx: DistContext | None = None,
    report=None,
    show_progress: bool = True,
    resume_from: Path | None = None,
    ray_shard=None,
    init_from: Path | None = None,
    ray_skip_steps: int = 0,
) -> dict:
    """Train ``cfg`` on the manifests into run folder ``out``; returns the final metrics.

    ``report(metrics, checkpoint_dir)`` is called after each checkpoint (Ray Train uses it).
    ``init_from`` (a run or checkpoint folder) starts from its weights only, with a fresh
    optimiser and data cursor (BokehNet stage 2 from stage 1); ``resume`` wins when both apply.
    ``ray_skip_steps``: the steps of ``ray_shard``'s stream already trained on (an in-run Ray
    restart reads the stream from the launch's first draw); their batches are skipped.
    """
    ctx = ctx or DistContext.create()
    out = Path(out)
    steps = steps or cfg.optim.steps
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=str))
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    built = build_model(cfg, ctx.device)
    data = Data.load(cfg, manifests, ctx)
    opt = torch.optim.AdamW(built.trainable, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg.optim, steps))
    start, losses = 0, []
    ckpt = resume_from or (latest_checkpoint(out) if resume else None)
    if ckpt is None and init_from is not None:  # weights only: e.g. BokehNet stage 2 from stage 1
        src = Path(init_from)
        src = src if (src / "state.json").is_file() else latest_checkpoint(src)
        load_checkpoint(src, built, prefer_ema=True)
    ema = WeightEMA(built.denoiser, cfg.optim.ema_decay) if cfg.optim.ema_decay > 0 else None
    if ckpt is not None:
        state = load_checkpoint(ckpt, built, opt, sched)
        start, losses = state["step"], state["losses"]
        data.sampler.load_state_dict(state["cursor"])
        if ema is not None:
            saved = load_ema(ckpt)
            if saved is None and start > 0:
                raise ValueError(f"{ckpt}: optim.ema_decay > 0 but the checkpoint has no EMA")
            if saved is not None:
                ema.load_state_dict(saved, ckpt)
    model = built.denoiser
    if ctx.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
        )
    writer = _tensorboard(out) if ctx.is_main else None
    log = open(out / "log.jsonl", "a") if ctx.is_main else None  # noqa: SIM115
    o, accum = cfg.optim, cfg.optim.grad_accum
    ray_stream = _ray_batches(ray_shard, o.batch_size, cfg.seed) if ray_shard else None
    skipped = 0
    if ray_stream is not None and cfg.data.real_ratio == 0:  # Ray Data feeds the batches
        for _ in range(ray_skip_steps * accum):
            next(ray_stream)
            skipped += 1
        batches_by_step = ([next(ray_stream) for _ in range(accum)] for _ in range(start, steps))
    else:
        batches_by_step = iter(
            torch.utils.data.DataLoader(
                StepBatches(data, start, steps, accum, o.batch_size, ctx.rank, ctx.world_size),
                batch_size=None,
                num_workers=cfg.data_workers,
                worker_init_fn=_one_thread,
                prefetch_factor=2 if cfg.data_workers else None,
            )
        )

    from tqdm import tqdm

    bar = tqdm(
        total=steps,
        initial=start,
        desc=f"{cfg.name}",
        unit="step",
        disable=not (show_progress and ctx.is_main),
    )
    metrics: dict = {}
    t0 = time.perf_counter()
    for step in range(start, steps):
        batches = next(batches_by_step)  # built ahead by a DataLoader worker process
        cursor = dict(data.sampler.state_dict(), position=(step + 1) * accum * o.batch_size)
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for micro, batch in enumerate(batches):
            loss = compute_loss(
                model,
                built.codec,
                batch,
                cfg,
                _generator(cfg.seed, ctx.rank, step, micro),
                ctx.device,
            )
            (loss / accum).backward()
            total += loss.detach() / accum
        if o.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(built.trainable, o.grad_clip)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update(step)
        loss_val = float(all_reduce_mean(total, ctx))
        losses.append(loss_val)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_val:.4f}")
        done = step + 1
        if ctx.is_main:
            log.write(
                json.dumps(
                    {
                        "step": done,
                        "loss": loss_val,
                        "lr": sched.get_last_lr()[0],
                        "time_s": time.perf_counter() - t0,
                    }
                )
                + "\n"
            )
            if writer:
                writer.add_scalar("train/loss", loss_val, done)
        if done % cfg.eval.every == 0 and done < steps and ctx.is_main:
            m, _ = evaluate_now(built, data, cfg, ctx, ema)
            for key, value in m.items():
                if writer:
                    writer.add_scalar(f"eval/{key}", value, done)
        if done % cfg.checkpoint.every == 0 or done == steps:
            if ctx.is_main:
                save_checkpoint(
                    out,
                    done,
                    built,
                    opt,
                    sched,
                    cursor,
                    losses,
                    cfg.checkpoint.keep,
                    ema.state_dict() if ema is not None else None,
                )
                log.flush()
            ctx.barrier()
            if report is not None:
                report({"step": done, "loss": loss_val}, out / "checkpoints" / f"step-{done:06d}")
    bar.close()
    loop_s = time.perf_counter() - t0
    ddp_diff = parameter_spread(built.trainable, ctx)
    if ctx.is_main:
        metrics, grid = evaluate_now(built, data, cfg, ctx, ema)
        if ema is not None:  # the raw weights too, to see what averaging buys
            raw, _ = evaluate_now(built, data, cfg, ctx)
            keep = ("psnr", "ssim", "lvcorr")
            metrics.update({f"raw_{k}": v for k, v in raw.items() if k in keep})
        metrics.update(
            step=steps,
            final_loss=losses[-1] if losses else None,
            train_s=loop_s,
            steps_run=steps - start,
            world_size=ctx.world_size,
        )
        if ray_stream is not None:
            metrics["ray_batches_skipped"] = skipped
        if data.skipped_real is not None:
            metrics["real_photos_used"] = len(data.real_items)
            metrics["real_photos_skipped"] = dict(data.skipped_real)
        if ctx.distributed:
            metrics["ddp_param_max_diff"] = ddp_diff
        _write_outputs(out, metrics, losses, grid)
        if writer:
            for key, value in metrics.items():
                if isinstance(value, float):
                    writer.add_scalar(f"eval/{key}", value, steps)
            writer.close()
        log.close()
    ctx.barrier()
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


def evaluate_now(built, data: Data, cfg: TrainConfig, ctx: DistContext, ema=None):
    """Held-out metrics and sample images, with the moving-average weights when ``ema`` is given."""
    from train.validation import evaluate

    batches = data.eval_batches()
    with ema.applied(built.denoiser) if ema is not None else contextlib.nullcontext():
        return evaluate(built.denoiser, built.codec, batches, cfg.network, cfg, ctx.device)


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tb"))


def _write_outputs(out: Path, metrics: dict, losses: list[float], grid: dict) -> None:
    from train.evaluate import write_loss_curve, write_metrics, write_sample_grid

    write_metrics(metrics, out)
    if losses:
        write_loss_curve(list(range(1, len(losses) + 1)), losses, out / "loss.png")
    if grid:
        kinds = [k for k in grid if k not in ("k_sweep", "k_values")]
        n = min(4, len(grid[kinds[0]]))
        rows = [[grid[k][i] for k in kinds] for i in range(n)]  # one row per held-out sample
        write_sample_grid(rows, kinds, out / "samples.png")
        if "k_sweep" in grid:
            write_sample_grid(
                [list(grid["k_sweep"])], [f"K={k:g}" for k in grid["k_values"]], out / "k_sweep.png"
            )
