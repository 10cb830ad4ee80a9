"""Aspect-ratio buckets: crop sizes of about one pixel count, and a resumable batch schedule.

With ``data.bucket_aspects`` (e.g. ``["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16"]``) a
training crop is no longer ``resolution_px`` square: each aspect ``a = w/h`` gives the bucket
``(round(R·√a / g)·g, round(R/√a / g)·g)`` for ``R = resolution_px`` and the model's
granularity ``g`` (:func:`bucket_sizes`; about ``R²`` pixels each, e.g. 1024² → 1216 × 832 for
3:2). A sample goes to the bucket whose aspect is nearest its frame's in log space
(:func:`assign_buckets`) and is resized to cover it and cropped, never stretched
(``train.data.build``), so K, which refers to the working width, stays exact.

:class:`BucketSchedule` batches within a bucket. Pass ``e`` over the rows: each bucket's rows in
a permutation of ``default_rng([seed, 5, e, b])``, cut into global batches of ``batch × world``
(the last one filled from the start of the same permutation, so no row is dropped), and the
batches of every bucket in the order of ``default_rng([seed, 6, e])``. Global micro-batch ``m``
(``step · accum + micro``) is batch ``m mod n`` of pass ``m // n``; rank ``r`` takes its
draws ``j · world + r``. Everything is a pure function of ``(seed, m)``: every rank sees the same
bucket order, and a resumed run continues from its step alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def parse_aspect(text: str) -> float:
    """``"3:2"`` -> 1.5 (width over height); one ``ValueError`` line for anything else."""
    parts = str(text).split(":")
    try:
        w, h = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"aspect {text!r} is not W:H (e.g. 3:2)") from None
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise ValueError(f"aspect {text!r} needs positive finite W and H")
    a = w / h
    if not 0.25 <= a <= 4.0:
        raise ValueError(f"aspect {text!r} is outside 1:4 .. 4:1")
    return a


def bucket_sizes(
    resolution_px: int, aspects: Sequence[str], granularity_px: int
) -> list[tuple[int, int]]:
    """``(width_px, height_px)`` per aspect (duplicates merged, order kept), each side a multiple
    of ``granularity_px`` and at least one granule, about ``resolution_px²`` pixels."""
    g = int(granularity_px)
    sizes: list[tuple[int, int]] = []
    for text in aspects:
        a = parse_aspect(text)
        w = max(g, int(round(resolution_px * math.sqrt(a) / g)) * g)
        h = max(g, int(round(resolution_px / math.sqrt(a) / g)) * g)
        if (w, h) not in sizes:
            sizes.append((w, h))
    return sizes


def assign_buckets(
    frames_px: Sequence[tuple[int, int]], buckets: Sequence[tuple[int, int]]
) -> list[int]:
    """For each ``(width_px, height_px)`` frame the bucket whose aspect is nearest in log space
    (ties: the first listed)."""
    logs = np.array([math.log(w / h) for w, h in buckets])
    return [int(np.argmin(np.abs(logs - math.log(w / h)))) for w, h in frames_px]


class BucketSchedule:
    """Which bucket and rows each global micro-batch takes (see the module docstring)."""

    def __init__(self, row_buckets: Sequence[int], batch: int, world: int, seed: int):
        if not row_buckets:
            raise ValueError("BucketSchedule needs rows")
        self.batch, self.world, self.seed = int(batch), int(world), int(seed)
        self.global_batch = self.batch * self.world
        labels = np.asarray(row_buckets, dtype=np.int64)
        self.members = {int(b): np.flatnonzero(labels == b) for b in np.unique(labels)}
        self.n_batches = sum(-(-len(m) // self.global_batch) for m in self.members.values())
        self._pass: tuple[int, list[tuple[int, np.ndarray]]] | None = None

    def _batches(self, e: int) -> list[tuple[int, np.ndarray]]:
        """Pass ``e``'s global batches, in their order: ``(bucket, row indices)``."""
        if self._pass is not None and self._pass[0] == e:
            return self._pass[1]
        gb, out = self.global_batch, []
        for b, rows in self.members.items():
            perm = rows[np.random.default_rng([self.seed, 5, e, b]).permutation(len(rows))]
            for i in range(0, len(perm), gb):
                idx = np.arange(i, i + gb) % len(perm)  # the last batch wraps around
                out.append((b, perm[idx]))
        order = np.random.default_rng([self.seed, 6, e]).permutation(len(out))
        self._pass = (e, [out[i] for i in order])
        return self._pass[1]

    def micro_batch(self, m: int, rank: int) -> tuple[int, list[int]]:
        """``(bucket, row indices)`` of rank ``rank`` in global micro-batch ``m``."""
        if not 0 <= rank < self.world:
            raise ValueError(f"BucketSchedule rank {rank} not in [0, {self.world})")
        bucket, rows = self._batches(m // self.n_batches)[m % self.n_batches]
        return bucket, [int(rows[j * self.world + rank]) for j in range(self.batch)]
