"""What the worker loop trains on: the run's data and the batch sources that feed it.

``TrainData`` holds one run's rows (the held-out split, the prepared real photos of BokehNet
stage 2) and the mixture sampler whose position is the checkpoint's data cursor. A batch source
yields, for each step from a start step, that step's ``grad_accum`` micro-batches (each in the
:func:`train.data.build.collate` layout); it is resumable because the start step alone fixes
what follows. Two implementations: :class:`MapStyleSource` here (in-process or one DataLoader
worker building steps ahead: micro-batch ``m`` of step ``s`` takes the mixture draws at
``(s · accum + m) · batch + j``, a pure function of the step) and
``train.data.ray_source.RayStreamSource`` (a Ray Train dataset shard). Neither knows the model.
A data error in a DataLoader worker (an unreadable or corrupt file) reaches the loop as the same
one-line ``OSError``/``ValueError`` the in-process path raises (:class:`DataFault`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from manifests.schemas import PHOTO_2P5D_KIND as PHOTO_2P5D
from train.data.build import build_sample, collate, load_rows
from train.data.mixture import MixtureSampler
from train.data.split import split_rows

Batches = list[dict]  # the micro-batches of one step
DeblurFn = Callable[[torch.Tensor], torch.Tensor]


class BatchSource(Protocol):
    """Yields each step's micro-batches from ``start`` to ``stop`` (exclusive)."""

    def steps(self, start: int, stop: int) -> Iterator[Batches]: ...

    def summary(self) -> dict:
        """Facts for ``metrics.json`` (e.g. batches skipped after a restart)."""
        ...


def manifests_holding(manifests: list[str], schema: str) -> list[str]:
    """The manifests that contain ``schema`` parts."""
    from manifests import list_parts
    from manifests.io import ManifestError

    found = []
    for m in manifests:
        try:
            if list_parts(m).get(schema):
                found.append(m)
        except ManifestError:
            continue
    return found


@dataclass
class TrainData:
    """Rows, the held-out split and the mixture sampler of one run."""

    cfg: object  # train.config.TrainConfig
    train_rows: list[dict]
    eval_rows: list[dict]
    real_items: list[dict]
    sampler: MixtureSampler
    skipped_real: dict | None = None
    rank: int = 0
    world_size: int = 1
    latents: object = None  # train.latents.build.CachedSamples (data.latent_cache)
    _buckets: object = None  # train.data.buckets state, made on first use (picks)

    @classmethod
    def load(
        cls,
        cfg,
        manifests: list[str],
        rank: int = 0,
        world_size: int = 1,
        deblur_fn: DeblurFn | None = None,
        progress: bool = False,
        device="cpu",
    ) -> TrainData:
        """``synthetic_pairs`` rows from ``manifests``, split by scene; with
        ``data.real_ratio > 0`` also the real photos, prepared with ``deblur_fn``; with
        ``data.latent_cache`` the training rows' latents (what the cache lacks encoded on
        ``device`` first)."""
        train_rows, eval_rows = cls.split(cfg, manifests)
        share = cfg.data.photo_2p5d_share
        n_second = sum(r.get("scene_kind") == PHOTO_2P5D for r in train_rows)
        real_items, skipped = [], None
        if cfg.data.real_ratio > 0:
            if deblur_fn is None:
                raise ValueError("data.real_ratio > 0 needs a DeblurNet for the pseudo-AIF")
            real_items, skipped = prepare_real_items(cfg, manifests, deblur_fn, progress)
        sampler = MixtureSampler(
            len(train_rows),
            len(real_items),
            cfg.data.real_ratio,
            cfg.seed,
            rank,
            world_size,
            n_second=n_second if share is not None else 0,
            second_share=share,
        )
        latents = None
        if cfg.data.latent_cache is not None:
            from train.data.bucketed import row_crops
            from train.latents.build import open_cache
            from train.latents.store import say_line

            say = say_line if progress else None
            latents = open_cache(cfg, train_rows, row_crops(cfg, train_rows), device, say)
        return cls(
            cfg, train_rows, eval_rows, real_items, sampler, skipped, rank, world_size, latents
        )

    @staticmethod
    def split(cfg, manifests: list[str]) -> tuple[list[dict], list[dict]]:
        """The training and held-out ``synthetic_pairs`` rows of ``manifests`` (training rows:
        path-traced first, then the 2.5-D pairs, when ``data.photo_2p5d_share`` is set)."""
        rows = load_rows(manifests_holding(manifests, "synthetic_pairs"), "synthetic_pairs")
        if not rows:
            raise ValueError(f"no synthetic_pairs rows in {', '.join(map(str, manifests))}")
        train_rows, eval_rows = split_rows(rows, cfg.data)
        if cfg.data.photo_2p5d_share is not None:  # MixtureSampler's order of the two kinds
            train_rows.sort(key=lambda r: r.get("scene_kind") == PHOTO_2P5D)
        return train_rows, eval_rows

    def cursor(self, step: int) -> dict:
        """The data cursor a checkpoint after ``step`` steps stores."""
        o = self.cfg.optim
        return dict(self.sampler.state_dict(), position=step * o.grad_accum * o.batch_size)

    def restore(self, cursor: dict) -> None:
        self.sampler.load_state_dict(cursor)

    def picks(self, step: int, micro: int) -> tuple[list[tuple[str, int]], tuple | None]:
        """This rank's ``(source, index)`` draws for micro-batch ``micro`` of ``step`` and their
        crop: None (``resolution_px`` square: draw ``g = (first + j) · world + rank`` of the
        mixture, ``first = (step · accum + micro) · batch``), or with ``data.bucket_aspects``
        the bucket's ``(width_px, height_px)``: the mixture's draw ``m = step · accum + micro``
        chooses the micro-batch's kind, that kind's :class:`~train.data.buckets.BucketSchedule`
        its bucket and rows (the same on every rank; a pure function of the step)."""
        o, world = self.cfg.optim, self.world_size
        m = step * o.grad_accum + micro
        if not self.cfg.data.bucket_aspects:
            first = m * o.batch_size
            draws = [(first + j) * world + self.rank for j in range(o.batch_size)]
            return [self.sampler.draw(g) for g in draws], None
        from train.data.bucketed import BucketedKinds

        if self._buckets is None:
            self._buckets = BucketedKinds.of(self)
        return self._buckets.picks(m, self.rank)

    def build(self, picks, step: int, micro: int, rank: int, crop=None) -> dict:
        rngs = [
            np.random.default_rng([self.cfg.seed, rank, step, micro, j]) for j in range(len(picks))
        ]
        if self.latents is not None:  # rendered pairs only (the config refuses real photos)
            return self.latents.batch([idx for _, idx in picks], rngs)
        samples = []
        for (source, idx), rng in zip(picks, rngs, strict=True):
            if source == "synthetic":
                row = self.train_rows[idx]
                samples.append(build_sample(row, self.cfg.data, rng, True, crop))
            else:
                from train.data.real_route import build_real_sample

                item = self.real_items[idx]
                samples.append(build_real_sample(item, self.cfg.data, rng, True, crop))
        return collate(samples)

    def eval_batches(self) -> list[dict]:
        """Centre crops (``eval.resolution_px``, at the mean training scale, smaller when the
        frames are) of the first ``eval.batches × eval.batch_size`` held-out rows (all of them
        when ``batches = 0``)."""
        e = self.cfg.eval
        rows = self.eval_rows[: e.batches * e.batch_size] if e.batches else self.eval_rows
        rows = rows or self.train_rows[: e.batch_size]
        dcfg = self.cfg.data
        if e.resolution_px and e.resolution_px != dcfg.resolution_px:
            res = max(dcfg.resolution_px, min(e.resolution_px, self._fitting_crop(rows)))
            dcfg = dcfg.model_copy(update={"resolution_px": res})
        rng = np.random.default_rng(0)
        return [
            collate([build_sample(r, dcfg, rng, False) for r in rows[i : i + e.batch_size]])
            for i in range(0, len(rows), e.batch_size)
        ]

    def _fitting_crop(self, rows: list[dict]) -> int:
        """The largest crop side (a multiple of the model's granularity) inside every row's frame
        at the mean training scale: frames are never upscaled for a larger evaluation crop."""
        lo, hi = self.cfg.data.resize_range
        short = min(min(int(r["width_px"]), int(r["height_px"])) for r in rows)
        gran = self.cfg.granularity_px
        return int(round(short * 0.5 * (lo + hi))) // gran * gran


def prepare_real_items(cfg, manifests: list[str], deblur_fn: DeblurFn, progress: bool = False):
    """BokehNet stage 2: pseudo-AIF, depth, focus and K for every usable real photo (cached)."""
    from train.data.depth import make_depth_estimator
    from train.data.real_route import prepare_real

    rows = load_rows(manifests_holding(manifests, "real_photos"), "real_photos")
    if cfg.real.max_photos:
        rows = rows[: cfg.real.max_photos]
    if not rows:
        raise ValueError("data.real_ratio > 0 but no real_photos manifest was given (--manifest)")
    depth = make_depth_estimator(cfg.data.depth_model)
    return prepare_real(rows, cfg.data, deblur_fn, depth, cfg.data.cache_dir, progress=progress)


class StepBatches(torch.utils.data.Dataset):
    """Item ``i``: the micro-batches of step ``start + i`` (any worker can build any step)."""

    def __init__(self, data: TrainData, start: int, stop: int, rank: int, world: int):
        self.data, self.start, self.stop, self.rank, self.world = data, start, stop, rank, world
        self.accum, self.batch = data.cfg.optim.grad_accum, data.cfg.optim.batch_size

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> Batches | DataFault:
        if torch.utils.data.get_worker_info() is None:
            return self._build(i)  # in-process: the error propagates as it is
        try:
            return self._build(i)
        except (OSError, ValueError) as e:  # an unreadable file, a value no builder accepts
            return DataFault.of(e)

    def _build(self, i: int) -> Batches:
        step = self.start + i
        out = []
        for m in range(self.accum):
            picks, crop = self.data.picks(step, m)
            out.append(self.data.build(picks, step, m, self.rank, crop))
        return out


@dataclass(frozen=True)
class DataFault:
    """A data error of a DataLoader worker, sent back as a value: torch would re-raise it in the
    main process as a multi-line "Caught OSError in DataLoader worker process 0 ... Original
    Traceback" message. :meth:`MapStyleSource.steps` raises it again as the same one-line error
    the in-process path (``data_workers = 0``) gives, naming the file and the reason."""

    is_os_error: bool
    message: str

    @classmethod
    def of(cls, e: BaseException) -> DataFault:
        return cls(isinstance(e, OSError), str(e) or type(e).__name__)

    def error(self) -> Exception:
        return OSError(self.message) if self.is_os_error else ValueError(self.message)


def _raise_faults(batches) -> Iterator[Batches]:
    for item in batches:
        if isinstance(item, DataFault):
            raise item.error()
        yield item


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # the worker decodes; the main process keeps the cores for compute


class MapStyleSource:
    """Steps built from :class:`TrainData` in-process (``data_workers = 0``) or ahead by
    DataLoader worker processes."""

    def __init__(self, data: TrainData, rank: int = 0, world_size: int = 1):
        self.data, self.rank, self.world_size = data, rank, world_size

    def steps(self, start: int, stop: int) -> Iterator[Batches]:
        workers = self.data.cfg.data_workers
        loader = torch.utils.data.DataLoader(
            StepBatches(self.data, start, stop, self.rank, self.world_size),
            batch_size=None,
            num_workers=workers,
            worker_init_fn=_one_thread,
            prefetch_factor=2 if workers else None,
        )
        return _raise_faults(loader) if workers else iter(loader)

    def summary(self) -> dict:
        return {}
