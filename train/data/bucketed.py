"""Aspect buckets over a run's kinds of samples: path-traced renders, 2.5-D pairs, real photos.

Each kind present gets its own :class:`~train.data.buckets.BucketSchedule` over its rows (their
frames' ``width_px × height_px`` assigned to the buckets of ``data.bucket_aspects`` at
``data.resolution_px`` and the model's granularity). Global micro-batch ``m`` takes its kind from
the run's mixture sampler (draw ``m``: real with ``data.real_ratio``, a 2.5-D pair with
``data.photo_2p5d_share``), so a micro-batch is one kind in one bucket; the mixture's weights hold
per micro-batch instead of per sample. Every kind walks its schedule at ``m``: a pure function
of ``(seed, m)`` like everything else the data cursor restores.
"""

from __future__ import annotations

from dataclasses import dataclass

from train.data.buckets import BucketSchedule, assign_buckets, bucket_sizes


def row_crops(cfg, rows) -> list[tuple[int, int] | None]:
    """Each row's crop: its bucket's ``(width_px, height_px)`` with ``data.bucket_aspects``,
    else None (``resolution_px`` square)."""
    if not cfg.data.bucket_aspects:
        return [None] * len(rows)
    sizes = bucket_sizes(cfg.data.resolution_px, cfg.data.bucket_aspects, cfg.granularity_px)
    frames = [(int(r["width_px"]), int(r["height_px"])) for r in rows]
    return [sizes[b] for b in assign_buckets(frames, sizes)]


@dataclass
class BucketedKinds:
    sizes: list[tuple[int, int]]  # (width_px, height_px) per bucket
    kinds: dict[str, tuple[str, int, BucketSchedule]]  # kind -> (source, first index, schedule)
    n_first: int  # synthetic rows [0, n_first) are path-traced, the rest 2.5-D pairs
    sampler: object  # train.data.mixture.MixtureSampler

    @classmethod
    def of(cls, data) -> BucketedKinds:
        """The buckets of ``data`` (a ``train.data.feed.TrainData``)."""
        cfg, o = data.cfg, data.cfg.optim
        sizes = bucket_sizes(cfg.data.resolution_px, cfg.data.bucket_aspects, cfg.granularity_px)
        n_second = data.sampler.n_second
        n_first = len(data.train_rows) - n_second
        groups = {
            "first": ("synthetic", 0, data.train_rows[:n_first]),
            "second": ("synthetic", n_first, data.train_rows[n_first:]),
            "real": ("real", 0, data.real_items),
        }
        kinds = {}
        for kind, (source, first, rows) in groups.items():
            if rows:
                frames = [(int(r["width_px"]), int(r["height_px"])) for r in rows]
                labels = assign_buckets(frames, sizes)
                schedule = BucketSchedule(labels, o.batch_size, data.world_size, cfg.seed)
                kinds[kind] = (source, first, schedule)
        return cls(sizes, kinds, n_first, data.sampler)

    def kind_of(self, m: int) -> str:
        source, idx = self.sampler.draw(m)
        if source == "real":
            return "real"
        return "second" if idx >= self.n_first else "first"

    def picks(self, m: int, rank: int) -> tuple[list[tuple[str, int]], tuple[int, int]]:
        """Rank ``rank``'s ``(source, index)`` draws of global micro-batch ``m`` and their crop."""
        source, first, schedule = self.kinds[self.kind_of(m)]
        bucket, rows = schedule.micro_batch(m, rank)
        return [(source, first + i) for i in rows], self.sizes[bucket]

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per bucket (``"WxH"``) of each kind, for the run's summary."""
        out = {}
        for kind, (_, _, schedule) in self.kinds.items():
            out[kind] = {
                f"{self.sizes[b][0]}x{self.sizes[b][1]}": len(rows)
                for b, rows in schedule.members.items()
            }
        return out
