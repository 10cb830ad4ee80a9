"""The trainable state of a run: model, optimiser, schedule, weight average, step and losses.

``TrainState.create`` builds it from a config (identical initial weights on every rank);
``start`` puts it where the run begins: a checkpoint to resume (everything restored, the data
cursor handed back), or the weights of another run (``init_from``: BokehNet stage 2 from stage 1,
fresh optimiser and cursor), or nothing. ``save`` writes an atomic checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from train.checkpoint import (
    EMA_FILE,
    CheckpointError,
    checkpoint_of,
    load_checkpoint,
    load_ema,
    save_checkpoint,
)
from train.ema import WeightEMA
from train.model import build_model


def lr_factor(o, steps: int):
    """Linear warm-up, then constant or cosine decay to 0 at ``steps`` (``optim.schedule``)."""
    warm = max(1, o.warmup_steps)

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        if o.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, steps - warm))))
        return 1.0

    return factor


@dataclass
class TrainState:
    built: object  # train.model.Built
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    ema: WeightEMA | None
    step: int = 0
    losses: list[float] = field(default_factory=list)
    nonfinite: int = 0  # steps of this process whose loss was not finite (skipped)
    blur_max_px: float = 0.0  # the largest blur radius of any target so far (px at the input)

    @classmethod
    def create(cls, cfg, device, steps: int) -> TrainState:
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        built = build_model(cfg, device)
        o = cfg.optim
        opt = torch.optim.AdamW(built.trainable, lr=o.lr, weight_decay=o.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(o, steps))
        ema = WeightEMA(built.denoiser, o.ema_decay) if o.ema_decay > 0 else None
        return cls(built, opt, sched, ema)

    def start(self, checkpoint: Path | None, init_from: Path | None) -> dict | None:
        """Resume from ``checkpoint`` (returns its data cursor) or, without one, take the
        weights of ``init_from`` (a run or checkpoint folder); returns None when not resuming."""
        if checkpoint is None:
            if init_from is not None:
                src = checkpoint_of(init_from)
                if src is None:
                    raise FileNotFoundError(f"{init_from}: no checkpoint to start from")
                loaded = load_checkpoint(src, self.built, prefer_ema=True)
                # what the started-from weights were trained to render counts as trained
                self.blur_max_px = float(loaded.get("blur_max_px") or 0.0)
                if self.ema is not None:  # the average starts from the loaded weights
                    self.ema = WeightEMA(self.built.denoiser, self.ema.decay)
            return None
        state = load_checkpoint(checkpoint, self.built, self.opt, self.sched)
        self.step, self.losses = state["step"], state["losses"]
        self.blur_max_px = float(state.get("blur_max_px") or 0.0)
        if self.ema is not None:
            saved = load_ema(checkpoint)
            if saved is None and self.step > 0:
                where = Path(checkpoint) / EMA_FILE
                raise CheckpointError(f"{where}: missing (optim.ema_decay > 0)")
            if saved is not None:
                self.ema.load_state_dict(saved, checkpoint)
        return state["cursor"]

    def save(self, out: Path, cursor: dict, keep: int) -> Path:
        ema = self.ema.state_dict() if self.ema is not None else None
        return save_checkpoint(
            out,
            self.step,
            self.built,
            self.opt,
            self.sched,
            cursor,
            self.losses,
            keep,
            ema,
            extra={"blur_max_px": self.blur_max_px},
        )
