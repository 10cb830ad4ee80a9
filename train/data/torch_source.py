"""Map-style dataset over manifest rows (single process and ``torchrun``) and the scene split.

Item ``i`` is :func:`train.data.build.build_sample` (or ``build_real_sample`` for prepared real
photos) with ``numpy.random.default_rng([seed, epoch, i])``: the same (seed, epoch, index) gives
the same sample in any process, worker or launcher, so runs are reproducible and resumable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import torch

from train.data.build import build_sample
from train.data.config import DataConfig

EVAL_FALLBACK_FRACTION = 0.1


def sample_rng(seed: int, index: int, epoch: int = 0) -> np.random.Generator:
    """The generator for one sample: ``default_rng([seed, epoch, index])``."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


class ManifestDataset(torch.utils.data.Dataset):
    """``rows[i]`` -> a built sample; ``set_epoch(e)`` changes the random crops per epoch.

    ``builder`` defaults to :func:`build_sample` (``synthetic_pairs`` rows); pass
    ``train.data.real_route.build_real_sample`` for prepared real photos.
    """

    def __init__(
        self,
        rows: list[dict],
        cfg: DataConfig,
        train: bool,
        seed: int,
        builder: Callable[..., dict] = build_sample,
    ):
        self.rows = list(rows)
        self.cfg = cfg
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self.builder = builder

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self.rows):
            raise IndexError(f"index {i} out of range for {len(self.rows)} rows")
        rng = sample_rng(self.seed, i, self.epoch)
        return self.builder(self.rows[i], self.cfg, rng, self.train)


def scene_key(row: dict) -> str:
    """What a scene is for splitting: ``dataset_id/scene_id`` (real photos: their sha256)."""
    if "scene_id" in row:
        return f"{row.get('dataset_id', '')}/{row['scene_id']}"
    return str(row.get("sha256") or row["uri"])


def split_rows(rows: list[dict], cfg: DataConfig) -> tuple[list[dict], list[dict]]:
    """``(train_rows, eval_rows)`` by the ``split`` column, always whole scenes.

    Train = rows whose split is ``cfg.train_split``. Eval = rows whose split is
    ``cfg.eval_split``; if none, those of ``"test"``; if none, a deterministic 10% (at least
    one) of the training scenes, chosen by the smallest ``sha256(scene_key)`` (independent of row
    order and seed), which then leave the training set. Needs >= 2 scenes in that last case.
    """
    train_rows = [r for r in rows if r.get("split") == cfg.train_split]
    for name in (cfg.eval_split, "test"):
        eval_rows = [r for r in rows if r.get("split") == name and name != cfg.train_split]
        if eval_rows:
            return train_rows, eval_rows
    scenes = sorted({scene_key(r) for r in train_rows})
    if len(scenes) < 2:
        raise ValueError(
            f"no {cfg.eval_split!r}/'test' rows and only {len(scenes)} training scene(s): "
            "need >= 2 scenes to hold one out for evaluation"
        )
    n_eval = max(1, int(round(EVAL_FALLBACK_FRACTION * len(scenes))))
    ranked = sorted(scenes, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    held = set(ranked[:n_eval])
    return (
        [r for r in train_rows if scene_key(r) not in held],
        [r for r in train_rows if scene_key(r) in held],
    )
