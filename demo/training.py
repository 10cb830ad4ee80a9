"""The demo's trainings: each stage's checked-in config (``train/configs/``) and, as overrides,
the settings that depend on the run (its seed, step count, paths and compute threads) or that
every stage of the demo gets (evaluation on every held-out render, LVCorr on 8 images, 96 px
held-out crops, about four checkpoints); DeblurNet, BokehNet stage 1 and the shape-conditioned
BokehNet train on the renders alone, side by side (``demo.lanes``), and stage 2 adds the curated
photos."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from demo.config import DemoConfig
    from train.config import TrainConfig

# Stage name -> (its config in train/configs/, the DemoConfig field with its step count).
SYNTH_RUNS = {  # trained on the renders alone, from scratch
    "deblur": ("deblurnet_tiny.toml", "deblur_steps"),
    "bokeh_stage1": ("bokehnet_tiny.toml", "bokeh_steps"),
    "bokeh_shape": ("bokehnet_tiny_shape.toml", "shape_steps"),
}
STAGE2_RUN = ("bokehnet_tiny_stage2.toml", "stage2_steps")  # any other name: stage 2

EVAL_SIDE_PX = 96  # held-out crops at least this large (a config's larger ones stay)

# Trained side by side (demo.lanes): DeblurNet in one process, BokehNet stage 1 then the
# shape-conditioned BokehNet in another (about as long: 3,000 DeblurNet steps against 1,500 + 400).
TRAIN_LANES = [["deblur"], ["bokeh_stage1", "bokeh_shape"]]


def stage_steps(cfg: DemoConfig, name: str) -> int:
    """The training steps of stage ``name``."""
    return getattr(cfg, SYNTH_RUNS.get(name, STAGE2_RUN)[1])


def stage_overrides(cfg: DemoConfig, out: Path, name: str, threads: int = 0) -> dict:
    """Stage ``name``'s ``section.key`` -> value overrides of its config file (typed values, so
    paths are never read as TOML); ``threads``: its compute threads (0: the file's)."""
    overrides = {
        "seed": cfg.train_seed,
        "data.eval_split": "val",  # the held-out renders (and the training set's few val scenes)
        "eval.batches": 0,  # all of them
        "eval.every": 10**9,  # once, at the end
        "eval.lvcorr_images": 8,
        "checkpoint.every": max(10, stage_steps(cfg, name) // 4),
    }
    if threads:
        overrides["compute_threads"] = threads
    if name not in SYNTH_RUNS:  # stage 2: the curated photos' cache, depth and pseudo-AIF
        overrides["data.cache_dir"] = str(out / "cache")
        overrides["data.depth_model"] = cfg.depth_model
        overrides["real.deblur_run"] = str(out / "deblur")
    return overrides


def stage_config(cfg: DemoConfig, out: Path, name: str, threads: int = 0) -> TrainConfig:
    """Stage ``name``'s training config: its file with :func:`stage_overrides`, and held-out
    crops of at least ``EVAL_SIDE_PX``."""
    from train.config import load_train_config

    toml = SYNTH_RUNS.get(name, STAGE2_RUN)[0]
    overrides = stage_overrides(cfg, out, name, threads)
    tcfg = load_train_config(toml, overrides)
    if tcfg.eval.resolution_px < EVAL_SIDE_PX:
        tcfg = load_train_config(toml, {**overrides, "eval.resolution_px": EVAL_SIDE_PX})
    return tcfg


def train_net(cfg: DemoConfig, out: Path, name: str, threads: int = 0) -> dict:
    """Train stage ``name`` (its config in ``SYNTH_RUNS``, or stage 2) into ``OUT/<name>``;
    ``threads``: its compute threads (0: the auto rule, ``train.threads``)."""
    from train.launch.local import train_local

    manifests = [str(out / "synth"), str(out / "synth_heldout")]  # trains on the first only
    init = None  # the renders' runs start from scratch
    if name not in SYNTH_RUNS:  # stage 2: the curated photos too, from BokehNet stage 1
        manifests, init = [*manifests, str(out / "real")], out / "bokeh_stage1"
    tcfg = stage_config(cfg, out, name, threads)
    run = out / name
    steps = stage_steps(cfg, name)
    metrics = train_local(tcfg, manifests, run, steps=steps, resume=True, init_from=init)
    keys = ("psnr", "psnr_identity", "ssim", "lvcorr", "real_photos_used")
    summary = ", ".join(
        f"{k} {metrics[k]:.3g}" for k in keys if isinstance(metrics.get(k), (int, float))
    )
    return {"metrics": metrics, "run": str(run), "summary": summary}


def train_synth_runs(cfg: DemoConfig, out: Path, lanes: list[list[str]] = TRAIN_LANES) -> dict:
    """The runs trained on the renders alone (``SYNTH_RUNS``), in ``lanes``."""
    from demo.lanes import run_lanes

    steps = {name: stage_steps(cfg, name) for name in SYNTH_RUNS}
    return run_lanes(cfg, out, lanes, steps, train_net)
