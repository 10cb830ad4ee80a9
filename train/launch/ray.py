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
the run's storage path (shared storage or ``s3://`` on a cluster); a failed worker group is
restarted up to ``max_failures`` times and resumes from the last reported checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _loop(config: dict) -> None:
    import ray.train

    from train.config import load_train_config
    from train.dist import DistContext
    from train.loop import fit

    cfg = load_train_config(config["config"], config["overrides"])
    ctx = DistContext.create(use_gpu=config["gpus_per_worker"] > 0)
    ctx.launcher = "ray"
    resume_from, skip_steps = None, 0
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:  # an in-run restart: the split stream starts again at the launch's draw
        resume_from = Path(ckpt.to_directory())
        state = json.loads((resume_from / "state.json").read_text())
        skip_steps = int(state["step"]) - int(config["data_start_step"])
    fail_at = int(os.environ.get("REFOCUS_TEST_FAIL_AT_STEP", "0"))
    marker = Path(config["out"]) / ".injected_failure"

    def report(metrics: dict, ckpt_dir: Path):
        # test hook: fail once at the first report after the checkpoint of step ``fail_at``
        if fail_at and metrics["step"] > fail_at and not marker.exists():
            if ctx.is_main:
                marker.write_text("failed once\n")
            raise RuntimeError(f"injected worker failure at step {metrics['step']}")
        checkpoint = ray.train.Checkpoint.from_directory(str(ckpt_dir)) if ctx.is_main else None
        ray.train.report(metrics, checkpoint=checkpoint)

    fit(
        cfg,
        config["manifests"],
        config["out"],
        steps=config["steps"],
        ctx=ctx,
        report=report,
        show_progress=False,
        resume_from=resume_from,
        resume=resume_from is None and config["resume"],
        ray_shard=ray.train.get_dataset_shard("train"),
        ray_skip_steps=max(skip_steps, 0),
    )


def _checkpoint_step(out: str) -> int:
    """The step of the run folder's latest checkpoint (0 without one)."""
    import json

    from train.checkpoint import latest_checkpoint

    ckpt = latest_checkpoint(Path(out))
    return int(json.loads((ckpt / "state.json").read_text())["step"]) if ckpt else 0


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
) -> dict:
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            # Ray Data builds samples with the CPUs the train workers leave free: a local Ray
            # gets at least one logical CPU beyond the workers (else the stream never starts)
            ray.init(
                num_cpus=max(os.cpu_count() or 1, num_workers + 1),
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                _temp_dir=os.environ.get("RAY_TMPDIR"),
            )
    out = str(Path(out).resolve())
    from manifests.config_file import find_config
    from train.config import CONFIG_DIR, load_train_config
    from train.data.build import load_rows
    from train.data.ray_source import ray_train_stream
    from train.data.torch_source import split_rows
    from train.loop import _holding

    cfg = load_train_config(config_path, overrides)
    rows = load_rows(_holding(manifests, "synthetic_pairs"), "synthetic_pairs")
    train_rows, _ = split_rows(rows, cfg.data)
    total_steps = steps or cfg.optim.steps
    start_step = _checkpoint_step(out) if resume else 0
    per_step = cfg.optim.batch_size * cfg.optim.grad_accum * num_workers
    dataset = ray_train_stream(  # the run's remaining draws, plus one step of slack
        train_rows,
        cfg.data,
        (max(total_steps - start_step, 0) + 1) * per_step,
        start=start_step * per_step,
        seed=cfg.seed,
    )
    trainer = TorchTrainer(
        _loop,
        train_loop_config={
            "config": str(find_config(config_path, CONFIG_DIR).resolve()),
            "overrides": list(overrides or []),
            "manifests": [str(Path(m).resolve()) if "://" not in m else m for m in manifests],
            "out": out,
            "steps": steps,
            "resume": resume,
            "data_start_step": start_step,
            "gpus_per_worker": gpus_per_worker,
        },
        scaling_config=ScalingConfig(
            num_workers=num_workers,
            use_gpu=gpus_per_worker > 0,
            resources_per_worker={"GPU": gpus_per_worker} if gpus_per_worker > 0 else {"CPU": 1},
        ),
        datasets={"train": dataset},
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
