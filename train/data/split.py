"""The train / held-out split of manifest rows, always by whole scenes (``split_rows``)."""

from __future__ import annotations

import hashlib

from train.data.config import DataConfig

EVAL_FALLBACK_FRACTION = 0.1


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
