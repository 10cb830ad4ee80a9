"""Ray Train: ``TorchTrainer`` runs the worker loop on ``num_workers`` workers.

Synthetic samples come from Ray Data (``train.data.ray_source.ray_train_stream``: the same
``build_sample``, one stream of fresh crops for the whole run, split across workers and batched
by ``iter_torch_batches``); a ``--resume`` launch starts the stream at the latest checkpoint's
draw. A split stream cannot be restarted mid-way (Ray Data restarts a dataset's iteration from
its beginning), so after an in-run worker failure the restarted workers, resumed from the last
reported checkpoint, read the launch's stream from its first draw and skip the batches of the
steps between the launch and that checkpoint (they are built again, not trained on twice). Real
photos of BokehNet stage 2 still come from each worker's map-style mixture.
Checkpoints are written by rank 0 into the run folder and reported with ``ray.train.report`` to
the run's storage path (shared storage or ``s3://`` on a cluster); a failed worker group (a
crashed worker, a lost node) is restarted up to ``max_failures`` times and resumes from the last
checkpoint Ray Train registered. ``placement_strategy="SPREAD"`` puts the workers on different
nodes, so that one lost node takes fewer of them (docs/train.md, "Losing a node").
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from infra.ray_start import start_ray


def _loop(config: dict) -> None:
    import ray
    import ray.train

    from infra.quiet import quiet_library_logs

    quiet_library_logs()  # a Ray worker is a process of its own

    from train.config import load_train_config
    from train.data.feed import MapStyleSource
    from train.data.ray_source import RayStreamSource
    from train.dist import DistContext
    from train.launch.local import load_data
    from train.loop import Hooks, fit

    cfg = load_train_config(config["config"], config["overrides"])
    ctx = DistContext.create(use_gpu=config["gpus_per_worker"] > 0)
    ctx.launcher = "ray"
    # the worker's compute threads stay within its CPU reservation: Ray Data uses the rest
    ctx.reserved_cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    ckpt = ray.train.get_checkpoint()  # after an in-run restart: the last one Ray registered
    resume, skip_steps = restart_point(
        Path(ckpt.to_directory()) if ckpt is not None else None,
        config["resume"],
        config["out"],
        int(config["data_start_step"]),
    )
    data = load_data(cfg, config["manifests"], ctx)
    if ray_data_feeds(cfg):  # Ray Data feeds the synthetic batches
        shard = ray.train.get_dataset_shard("train")
        o = cfg.optim
        source = RayStreamSource(shard, o.batch_size, o.grad_accum, cfg.seed, skip_steps)
    else:  # real photos, buckets, cached latents: each worker's map-style source
        source = MapStyleSource(data, ctx.rank, ctx.world_size)
    before_report = config.get("before_report")

    def report(metrics: dict, ckpt_dir: Path):
        if before_report is not None:
            before_report(metrics, ctx.is_main)
        checkpoint = ray.train.Checkpoint.from_directory(str(ckpt_dir)) if ctx.is_main else None
        ray.train.report(metrics, checkpoint=checkpoint)

    init = config.get("init_from")
    hooks = Hooks(on_checkpoint=report, progress=False)
    fit(
        cfg,
        config["out"],
        data,
        source,
        ctx,
        hooks,
        steps=config["steps"],
        resume=resume,
        init_from=Path(init) if init else None,
    )


def restart_point(
    registered: Path | None, resume: bool, out: str, data_start_step: int
) -> tuple[Path | bool, int]:
    """``(resume, skip_steps)`` for a worker group: the checkpoint it starts from (False: none)
    and the steps of the launch's stream it skips to reach it.

    ``registered``, the last checkpoint Ray Train registered, wins. Without one a ``--resume``
    launch takes the run folder's latest: the launch's own checkpoint on the first attempt, but
    after a restart whose checkpoints Ray had not registered yet (its controller collects reports
    every 2 s) one written since. The split stream always starts at the launch's first draw
    (``data_start_step``), so the steps between it and the checkpoint are skipped.
    """
    from train.checkpoint import latest_checkpoint, read_state

    start = registered or (latest_checkpoint(Path(out)) if resume else None)
    if start is None:
        return False, 0
    return start, read_state(start)["step"] - data_start_step


def checkpoint_step(out: str) -> int:
    """The step of the run folder's latest checkpoint (0 without one), its files checked."""
    from train.checkpoint import check_checkpoint, latest_checkpoint

    ckpt = latest_checkpoint(Path(out))
    return check_checkpoint(ckpt)["step"] if ckpt else 0


def check_init_from(init_from: str | None) -> None:
    """The files of ``--init-from``'s checkpoint, checked once here rather than in every worker."""
    from train.checkpoint import check_checkpoint, checkpoint_of

    if not init_from:
        return
    src = checkpoint_of(init_from)
    if src is None:
        raise FileNotFoundError(f"{init_from}: no checkpoint to start from")
    check_checkpoint(src, weights_only=True)


def base_lora_override(cfg) -> list[str]:
    """``model.base_lora`` checked once here and made absolute for the workers (which run in
    Ray's own folder, where a relative path names nothing)."""
    from train.base_lora import base_lora_file

    if cfg.model.base_lora is None:
        return []
    base_lora_file(cfg.model.base_lora)
    return [f"model.base_lora={json.dumps(str(Path(cfg.model.base_lora).expanduser().resolve()))}"]


def ray_data_feeds(cfg) -> bool:
    """Whether Ray Data streams the training samples to the workers: square crops of rendered
    pairs only. Real photos (BokehNet stage 2), aspect buckets (a micro-batch is one bucket, in
    an order every rank shares) and the latent cache come from each worker's map-style source
    (``train.data.feed.MapStyleSource``), which reads the files (or the cache) itself."""
    d = cfg.data
    return d.real_ratio == 0 and not d.bucket_aspects and d.latent_cache is None


def _train_stream(cfg, manifests: list[str], steps: int | None, start_step: int, workers: int):
    """The Ray Data stream of the run's remaining training samples (from ``start_step``, plus
    one step of slack), for ``workers`` workers."""
    from train.data.build import load_rows
    from train.data.feed import manifests_holding
    from train.data.ray_source import ray_train_stream
    from train.data.split import split_rows

    rows = load_rows(manifests_holding(manifests, "synthetic_pairs"), "synthetic_pairs")
    train_rows, _ = split_rows(rows, cfg.data)
    total_steps = cfg.optim.steps if steps is None else steps
    per_step = cfg.optim.batch_size * cfg.optim.grad_accum * workers
    return ray_train_stream(
        train_rows,
        cfg.data,
        (max(total_steps - start_step, 0) + 1) * per_step,
        start=start_step * per_step,
        seed=cfg.seed,
    )


def run_ray(
    config_path: str,
    manifests: list[str],
    out: str,
    steps: int | None,
    resume: bool,
    num_workers: int,
    gpus_per_worker: float,
    address: str | None = None,
    max_failures: int = 2,
    overrides: list[str] | None = None,
    init_from: str | None = None,
    before_report: Callable[[dict, bool], None] | None = None,
    placement_strategy: str = "PACK",
) -> dict:
    """Train on ``num_workers`` Ray Train workers; returns the last reported metrics.

    ``before_report(metrics, is_rank0)`` runs on every worker before each checkpoint report (a
    test injects a worker failure with it); it must be picklable.
    """
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    # Ray Data builds samples with the CPUs the train workers leave free: a local Ray gets at
    # least one logical CPU beyond the workers (else the stream never starts).
    start_ray(address, num_cpus=max(os.cpu_count() or 1, num_workers + 1))
    out = str(Path(out).resolve())
    from infra.config_file import find_config
    from infra.uri import is_uri
    from train.config import CONFIG_DIR, load_train_config

    cfg = load_train_config(config_path, overrides)
    start_step = checkpoint_step(out) if resume else 0
    check_init_from(init_from)
    overrides = [*(overrides or []), *base_lora_override(cfg)]
    feeds = ray_data_feeds(cfg)
    dataset = _train_stream(cfg, manifests, steps, start_step, num_workers) if feeds else None
    trainer = TorchTrainer(
        _loop,
        train_loop_config={
            "config": str(find_config(config_path, CONFIG_DIR).resolve()),
            "overrides": list(overrides or []),
            "manifests": [m if is_uri(m) else str(Path(m).resolve()) for m in manifests],
            "out": out,
            "steps": steps,
            "resume": resume,
            "data_start_step": start_step,
            "gpus_per_worker": gpus_per_worker,
            "init_from": str(Path(init_from).resolve()) if init_from else None,
            "before_report": before_report,
        },
        scaling_config=ScalingConfig(
            num_workers=num_workers,
            use_gpu=gpus_per_worker > 0,
            resources_per_worker={"GPU": gpus_per_worker} if gpus_per_worker > 0 else {"CPU": 1},
            placement_strategy=placement_strategy,
        ),
        datasets={"train": dataset} if feeds else {},
        run_config=RunConfig(
            name=Path(out).name,
            storage_path=str(Path(out) / "ray"),
            failure_config=FailureConfig(max_failures=max_failures),
        ),
    )
    result = trainer.fit()
    if result.error:
        raise result.error
    return dict(result.metrics or {})
