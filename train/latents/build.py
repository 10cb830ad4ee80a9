"""Fill a latent cache and read training batches from it.

:func:`open_cache` opens ``data.latent_cache`` for a run's training rows: every row's
:class:`~train.latents.keys.SampleKeys` at its fixed crop, and the latents no shard holds yet
encoded (:func:`encode_missing`, under an exclusive lock on the folder so that the ranks of one
machine encode once; builders on other machines only repeat work, atomically). The
:class:`CachedSamples` it returns builds a micro-batch of latent moments instead of images: the
loop then draws the latent sample from them with the step's generator (``train.loop``).
"""

from __future__ import annotations

import fcntl
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from train.data.build import build_sample
from train.latents.keys import FileHashes, SampleKeys, codec_id, sample_keys
from train.latents.store import LatentStore

SHARD_IMAGES = 64  # latents per shard
ENCODE_BATCH = 4  # images per codec call


@contextmanager
def folder_lock(folder: Path):
    """An exclusive ``flock`` on ``folder/.lock`` (released when the block ends)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def row_keys(
    rows, crops, cfg, store: LatentStore, codec: str
) -> tuple[list[SampleKeys], FileHashes]:
    """Every row's keys (``crops[i]``: row ``i``'s bucket, None: the square)."""
    hashes = FileHashes(store.sources)
    return [
        sample_keys(r, cfg.data, c, hashes, codec) for r, c in zip(rows, crops, strict=True)
    ], hashes


def keys_of(k: SampleKeys) -> list[str]:
    return [k.target, *k.conds, k.disp]


def encode_missing(rows, crops, keys, cfg, codec, store: LatentStore, hashes, device, say=None):
    """Encode every latent of ``rows`` that ``store`` lacks; returns how many were written."""
    todo = [i for i, k in enumerate(keys) if store.missing(keys_of(k))]
    queued: dict[tuple, list[tuple[str, torch.Tensor]]] = defaultdict(list)
    pending: dict[str, torch.Tensor] = {}
    seen: set[str] = set()
    written, t0 = 0, time.perf_counter()

    def flush_shard(force: bool) -> None:
        nonlocal pending, written
        if pending and (force or len(pending) >= SHARD_IMAGES):
            store.write(pending, dict(hashes.new))
            written += len(pending)
            pending = {}

    def encode(shape: tuple) -> None:
        items = queued.pop(shape)
        batch = torch.stack([img for _, img in items]).to(device)
        with torch.no_grad():
            moments = codec.moments(batch).cpu()
        pending.update({key: m.clone() for (key, _), m in zip(items, moments, strict=True)})
        flush_shard(False)

    for n, i in enumerate(todo):
        s = build_sample(rows[i], cfg.data, np.random.default_rng(0), False, crops[i])
        k = keys[i]
        for key, img in ((k.target, s["target"]), *zip(k.conds, s["cond"], strict=True)):
            if key in store.entries or key in seen:
                continue
            seen.add(key)
            queued[tuple(img.shape)].append((key, img))
            if len(queued[tuple(img.shape)]) >= ENCODE_BATCH:
                encode(tuple(img.shape))
        if k.disp not in store.entries and k.disp not in seen:
            seen.add(k.disp)
            d = s["disparity"]
            pending[k.disp] = torch.stack([d.min(), d.max()]).float()
        if say and (n + 1) % 50 == 0:
            say(f"latent cache: {n + 1}/{len(todo)} samples, {time.perf_counter() - t0:.0f} s")
    for shape in list(queued):
        encode(shape)
    flush_shard(True)
    return written


@dataclass
class CachedSamples:
    """Micro-batches of cached latent moments for rows by index (the layout of
    ``train.data.build.collate`` with ``target_moments`` / ``cond_moments`` instead of images,
    and ``disp_range`` [B, 2] instead of the disparity)."""

    store: LatentStore
    keys: list[SampleKeys]
    ids: list[str]
    sharp_fraction: float
    task: str

    def batch(self, indices: list[int], rngs: list[np.random.Generator]) -> dict:
        targets, conds, ranges, ks, dfs = [], [], [], [], []
        got: dict[str, torch.Tensor] = {}  # a latent twice in a batch is read (and checked) once

        def read(key: str) -> torch.Tensor:
            if key not in got:
                got[key] = self.store.read(key)
            return got[key]

        for i, rng in zip(indices, rngs, strict=True):
            k = self.keys[i]
            cond_keys = k.conds
            if self.task == "deblur" and self.sharp_fraction > 0:  # as assemble() draws it
                cond_keys = (k.target,) if rng.random() < self.sharp_fraction else cond_keys
            targets.append(read(k.target))
            conds.append([read(c) for c in cond_keys])
            ranges.append(read(k.disp))
            ks.append(k.k)
            dfs.append(k.disp_focus)
        return {
            "target_moments": torch.stack(targets),
            "cond_moments": [torch.stack(c) for c in zip(*conds, strict=True)],
            "k": torch.tensor(ks, dtype=torch.float32),
            "disp_range": torch.stack(ranges),
            "disp_focus": torch.tensor(dfs, dtype=torch.float32),
            "source": ["synthetic"] * len(indices),
            "id": [self.ids[i] for i in indices],
        }


def open_cache(cfg, rows, crops, device="cpu", say=None) -> CachedSamples:
    """The cache of ``cfg.data.latent_cache`` for ``rows`` at ``crops``, what it lacks encoded
    first (the codec is built only then)."""
    from train.codecs import make_codec

    folder = Path(cfg.data.latent_cache)
    codec = codec_id(cfg)
    store = LatentStore(folder, say)
    keys, hashes = row_keys(rows, crops, cfg, store, codec)
    if any(store.missing(keys_of(k)) for k in keys):
        with folder_lock(folder):
            store.refresh()  # another process may have encoded them meanwhile
            n = sum(bool(store.missing(keys_of(k))) for k in keys)
            if n:
                if say:
                    say(f"latent cache {folder}: encoding {n} of {len(keys)} samples")
                coder = make_codec(cfg.model).to(device)
                encode_missing(rows, crops, keys, cfg, coder, store, hashes, device, say)
    ids = [f"{r['scene_id']}/{r['render_id']}" for r in rows]
    return CachedSamples(store, keys, ids, float(cfg.data.sharp_fraction), cfg.data.task)
