"""Shards, scene folders and done markers: the farm's resume contract.

Scene ``i`` of a dataset belongs to shard ``i % n`` of ``n`` (``--shard k/n``, or the array-job
variables ``SHARD_INDEX``/``SHARD_COUNT``). A scene is finished when ``scenes/<id>/DONE`` exists;
scenes are written to a hidden temp folder and renamed, so a finished folder is always complete
and a killed worker leaves only a temp folder that the next run removes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DONE = "DONE"
SCENES = "scenes"


class ShardError(ValueError):
    pass


def parse_shard(text: str | None, env: dict | None = None) -> tuple[int, int]:
    """``"k/n"`` -> ``(k, n)``; without it, ``SHARD_INDEX``/``SHARD_COUNT``; else ``(0, 1)``."""
    env = os.environ if env is None else env
    if text is None and "SHARD_INDEX" in env:
        text = f"{env['SHARD_INDEX']}/{env.get('SHARD_COUNT', '')}"
    if text is None:
        return 0, 1
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ShardError(f"shard {text!r} must look like k/n, e.g. 3/16 (0-based k)") from None
    if not 0 <= k < n:
        raise ShardError(f"shard {text!r}: need 0 <= k < n")
    return k, n


def scene_ids(n_scenes: int, k: int, n: int, first_id: int = 0) -> list[int]:
    """The scene ids of shard ``k`` of ``n`` among ``first_id .. first_id + n_scenes - 1``."""
    return [i for i in range(first_id, first_id + n_scenes) if i % n == k]


def shard_name(k: int, n: int) -> str:
    return f"{k:05d}-of-{n:05d}"


def scene_dir(out: Path, scene_id: int) -> Path:
    return Path(out) / SCENES / f"{scene_id:06d}"


def is_done(out: Path, scene_id: int) -> bool:
    return (scene_dir(out, scene_id) / DONE).is_file()


def temp_scene_dir(out: Path, scene_id: int) -> Path:
    """A fresh hidden temp folder for ``scene_id``, removing any a killed worker left."""
    parent = Path(out) / SCENES
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(f".tmp-{scene_id:06d}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = parent / f".tmp-{scene_id:06d}-{os.getpid()}"
    tmp.mkdir()
    return tmp


def commit_scene_dir(tmp: Path, out: Path, scene_id: int) -> Path:
    """Write the done marker and rename the temp folder into place (atomic on one filesystem)."""
    (tmp / DONE).write_text("ok\n")
    final = scene_dir(out, scene_id)
    if (final / DONE).is_file():  # another worker finished it first: that one wins
        shutil.rmtree(tmp)
        return final
    if final.exists():  # a folder without its marker (copied in part, marker deleted): replace
        stale = final.with_name(f".stale-{scene_id:06d}-{os.getpid()}")
        os.rename(final, stale)
        os.rename(tmp, final)
        shutil.rmtree(stale, ignore_errors=True)
        return final
    os.rename(tmp, final)
    return final
