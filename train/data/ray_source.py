"""Ray Data source: the same :func:`build_sample` under Ray, batched by ``iter_torch_batches``.

``ray_train_stream`` is the training stream of a whole run as a ``ray.data.Dataset``: draw ``g``
is a built sample (``rng = sample_rng(seed, row, pass)``: fresh crops every pass, resumable at
any draw), flattened to columns Ray can batch (``target``, ``cond_0``, ``cond_1``..., ``k``,
``disparity``, ``disp_focus``, ``source``, ``id``, ``draw``). ``iter_batches`` turns a dataset or
a Ray Train shard back into the :func:`train.data.build.collate` layout, and
:class:`RayStreamSource` is the loop's batch source over a shard
(``train.data.feed.BatchSource``). This is the only module of ``train.data`` that imports Ray.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from train.data.build import build_sample
from train.data.config import DataConfig
from train.data.mixture import MixtureSampler

NUMERIC = ("target", "k", "disparity", "disp_focus")


def sample_rng(seed: int, index: int, epoch: int = 0) -> np.random.Generator:
    """The generator for one sample of the stream: ``default_rng([seed, epoch, index])``."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def flatten_sample(sample: dict) -> dict:
    """A built sample as a flat dict of numpy values (``cond`` -> ``cond_0``, ``cond_1``...)."""
    out = {
        "target": sample["target"].numpy(),
        "k": np.float64(sample["k"]),
        "disparity": sample["disparity"].numpy(),
        "disp_focus": np.float64(sample["disp_focus"]),
        "source": sample["source"],
        "id": sample["id"],
    }
    for i, c in enumerate(sample["cond"]):
        out[f"cond_{i}"] = c.numpy()
    return out


class _BuildDraw:
    """Draw ``g = start + id`` of the training stream -> a built, flattened sample."""

    def __init__(self, rows, cfg, seed, start, builder):
        self.rows, self.cfg, self.seed, self.start, self.builder = rows, cfg, seed, start, builder
        self.sampler = MixtureSampler(len(rows), 0, 0.0, seed)

    def __call__(self, item: dict) -> dict:
        g = self.start + int(item["id"])
        _, i = self.sampler.draw(g)
        rng = sample_rng(self.seed, i, g // len(self.rows))
        out = flatten_sample(self.builder(self.rows[i], self.cfg, rng, True))
        out["draw"] = np.int64(g)
        return out


def ray_train_stream(
    rows: list[dict],
    cfg: DataConfig,
    count: int,
    *,
    start: int = 0,
    seed: int | None = None,
    builder: Callable[..., dict] = build_sample,
):
    """The training stream as a ``ray.data.Dataset`` of ``count`` built samples, draws
    ``start .. start + count − 1``.

    Draw ``g`` takes row ``perm_e[g mod n]`` with ``e = g // n`` (the synthetic stream of
    :class:`train.data.mixture.MixtureSampler`: a fresh permutation per pass) and that pass's
    crop, ``rng = sample_rng(seed, row, e)``: one dataset covers the whole run, so no crop repeats
    from pass to pass, and a run resumed at draw ``start`` continues the stream rather than
    restarting its first pass. Each sample carries its ``draw`` number.
    """
    import ray.data

    if count < 1 or not rows:
        raise ValueError(f"ray_train_stream: needs rows and count >= 1 (got {count})")
    fn = _BuildDraw(list(rows), cfg, cfg.seed if seed is None else int(seed), int(start), builder)
    return ray.data.range(int(count)).map(fn)


def collate_numpy(batch: dict[str, np.ndarray]) -> dict:
    """Ray's column batch -> the :func:`train.data.build.collate` layout (torch tensors)."""
    conds = sorted((k for k in batch if k.startswith("cond_")), key=lambda k: int(k[5:]))
    return {
        "target": torch.as_tensor(np.stack(list(batch["target"])), dtype=torch.float32),
        "cond": [torch.as_tensor(np.stack(list(batch[c])), dtype=torch.float32) for c in conds],
        "k": torch.as_tensor(np.asarray(batch["k"], dtype=np.float32)),
        "disparity": torch.as_tensor(np.stack(list(batch["disparity"])), dtype=torch.float32),
        "disp_focus": torch.as_tensor(np.asarray(batch["disp_focus"], dtype=np.float32)),
        "source": [str(s) for s in batch["source"]],
        "id": [str(s) for s in batch["id"]],
    }


def iter_batches(
    ds,
    batch_size: int,
    *,
    drop_last: bool = False,
    local_shuffle_buffer_size: int | None = None,
    local_shuffle_seed: int | None = None,
    prefetch_batches: int = 1,
) -> Iterator[dict]:
    """Batches in the ``collate`` layout from a Ray ``Dataset`` or ``DataIterator`` (a Ray Train
    dataset shard) through ``iter_torch_batches``; tensors stay on the CPU (move them in the
    loop)."""
    from ray.data.collate_fn import NumpyBatchCollateFn

    class _Collate(NumpyBatchCollateFn):
        def __call__(self, batch):
            return collate_numpy(batch)

    yield from ds.iter_torch_batches(
        batch_size=batch_size,
        collate_fn=_Collate(),
        drop_last=drop_last,
        local_shuffle_buffer_size=local_shuffle_buffer_size,
        local_shuffle_seed=local_shuffle_seed,
        prefetch_batches=prefetch_batches,
    )


class RayStreamSource:
    """The loop's batches from a Ray Train dataset shard of :func:`ray_train_stream`.

    The shard starts at the launch's first draw. ``skip_steps``: the steps of that stream already
    trained on (after an in-run restart resumed from a later checkpoint, Ray Data restarts the
    split stream from its beginning); their batches are read and dropped, not trained on twice.
    """

    def __init__(self, shard, batch_size: int, grad_accum: int, seed: int, skip_steps: int = 0):
        self.shard, self.batch_size, self.accum = shard, batch_size, grad_accum
        self.seed, self.skip_steps, self.skipped = seed, max(0, skip_steps), 0

    def _endless(self) -> Iterator[dict]:
        epoch = 0
        while True:  # a new pass of the shard when one ends
            yield from iter_batches(
                self.shard,
                self.batch_size,
                drop_last=True,
                local_shuffle_buffer_size=64,
                local_shuffle_seed=self.seed + epoch,
            )
            epoch += 1

    def steps(self, start: int, stop: int) -> Iterator[list[dict]]:
        stream = self._endless()
        for _ in range(self.skip_steps * self.accum):
            next(stream)
            self.skipped += 1
        for _ in range(start, stop):
            yield [next(stream) for _ in range(self.accum)]

    def summary(self) -> dict:
        return {"ray_batches_skipped": self.skipped}
