"""One process (``--launcher local``) or one ``torchrun`` rank (``--launcher worker``): load the
run's data from manifests, feed it from the map-style source, and run the worker loop.

This is where training meets inference: BokehNet stage 2 makes its pseudo all-in-focus images
with a trained DeblurNet (``train.refocus.deblur_function``), which the data loader is handed.
"""

from __future__ import annotations

from pathlib import Path

from train.data.feed import MapStyleSource, TrainData
from train.dist import DistContext
from train.loop import Hooks, fit


def stage2_deblur(cfg):
    """The DeblurNet that makes stage 2's pseudo-AIF images (None when the run has no real
    photos)."""
    if cfg.data.real_ratio <= 0:
        return None
    from train.refocus import deblur_function

    return deblur_function(cfg.real.deblur_run, cfg.real.deblur_steps)


def load_data(cfg, manifests: list[str], ctx: DistContext) -> TrainData:
    return TrainData.load(
        cfg,
        manifests,
        ctx.rank,
        ctx.world_size,
        stage2_deblur(cfg),
        progress=ctx.is_main,
        device=ctx.device,
    )


def train_local(
    cfg,
    manifests: list[str],
    out: str | Path,
    steps: int | None = None,
    resume: bool = False,
    init_from: str | Path | None = None,
    ctx: DistContext | None = None,
    show_progress: bool = True,
) -> dict:
    """Train ``cfg`` on ``manifests`` into run folder ``out`` in this process (or this torchrun
    rank); returns the final metrics."""
    ctx = ctx or DistContext.create()
    data = load_data(cfg, manifests, ctx)
    source = MapStyleSource(data, ctx.rank, ctx.world_size)
    return fit(
        cfg,
        out,
        data,
        source,
        ctx,
        Hooks(progress=show_progress),
        steps=steps,
        resume=resume,
        init_from=Path(init_from) if init_from else None,
    )
