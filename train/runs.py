"""A trained run, read once and built in a straight line.

A run folder (``--out`` of training) holds ``config.json`` and ``checkpoints/``; a checkpoint
folder stands for its run. :func:`open_run` reads the run's config and its checkpoint's
``state.json`` once (:class:`Run`); :func:`load_run` resolves the base LoRA a shape run was
trained on (``train.base_lora``), builds the model from the config (``train.model``) and loads
the checkpoint's weights with the state already read (``train.checkpoint``), the moving
average's where the run kept one. :func:`run_folder` and :func:`read_run_config` are the
folder rules the refocus and resume checks use without building anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from train.base_lora import resolve_base_lora
from train.checkpoint import checkpoint_of, load_checkpoint, read_state
from train.config import TrainConfig, train_config_from_dict
from train.model import Built, build_model


@dataclass(frozen=True)
class Run:
    """A run folder, its checkpoint, its config and the checkpoint's ``state.json``."""

    folder: Path
    checkpoint: Path
    config: TrainConfig
    state: dict


def run_folder(path: Path) -> Path:
    """The run folder of ``path``: itself, or the run a checkpoint folder belongs to."""
    path = Path(path)
    ckpt = checkpoint_of(path)
    return path if ckpt is None or ckpt.parent.name != "checkpoints" else ckpt.parent.parent


def read_run_config(run: Path) -> dict:
    """A run's ``config.json`` as a dict; a broken one is one ``ValueError`` naming it
    (``FileNotFoundError`` when there is none)."""
    path = Path(run) / "config.json"
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path}: not a readable run config ({reason})") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: not a run config (a JSON object)")
    return saved


def open_run(path: str | Path) -> Run:
    """The run of a run folder (its latest checkpoint) or of a checkpoint folder; its config
    and state read once. A shape run's ``model.base_lora`` is the file training recorded (the
    config's path may be relative to where training ran)."""
    path = Path(path)
    ckpt, folder = checkpoint_of(path), run_folder(path)
    if ckpt is None or not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{path}: not a run folder with a checkpoint and config.json")
    cfg = train_config_from_dict(read_run_config(folder), str(folder))
    state = read_state(ckpt)
    if state.get("base_lora"):
        cfg.model.base_lora = state["base_lora"]["path"]
    return Run(folder, ckpt, cfg, state)


def load_run(path: str | Path) -> tuple[TrainConfig, Built]:
    """``(cfg, built)`` of a run (:func:`open_run`) in eval mode, with the moving-average
    weights when the run kept them (``optim.ema_decay > 0``); a shape LoRA loads over its base,
    which must be the file it was trained on."""
    run = open_run(path)
    base = resolve_base_lora(run.config.model.base_lora) if run.config.model.base_lora else None
    built = build_model(run.config, base_lora=base)
    load_checkpoint(run.checkpoint, built, prefer_ema=True, state=run.state)
    built.denoiser.eval()
    built.trained_blur_max_px = trained_blur(run)
    return run.config, built


def trained_blur(run: Run) -> float | None:
    """The run's recorded largest training blur radius (``state.json`` ``blur_max_px``, px);
    None for a run saved before the record. A value that is not a finite number >= 0 is one
    ``ValueError`` naming the file."""
    value = run.state.get("blur_max_px")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(
            f"{run.checkpoint / 'state.json'}: blur_max_px must be a number >= 0, got {value!r}"
        )
    if not math.isfinite(value):
        raise ValueError(f"{run.checkpoint / 'state.json'}: blur_max_px is {value!r}")
    return float(value)
