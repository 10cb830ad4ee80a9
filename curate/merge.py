"""From per-shard candidates to the final parts: CLIP scores in, global dedup, duplicates out.

Pass 2 leaves each shard's rows (with the CLIP scores merged in by ``attach_scores``) and rejects
as candidates under ``OUT/_work/``; a row the ``real_photos`` schema refuses (a NaN score, a
size past int32) becomes that photo's ``invalid_value`` reject there (``set_aside_invalid``), so
one value never fails a shard. ``finalize`` then ranks every candidate of every unfinished
shard together with the photos kept by shards finished in an earlier run (ranked above all new
ones, so a kept photo never becomes a duplicate later), finds duplicates (``dedup``), and writes
each shard's final ``real_photos`` part (duplicates dropped) and ``rejects`` part (pass 1 and 2
rejects plus one ``duplicate`` reject per dropped row, pointing at the kept copy). A photo's rank
is (CLIP quality or -1, weight-free quality score, pixels), larger is better. No Ray.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from curate import outputs
from curate.dedup import Item, find_duplicates
from curate.passes import reject
from manifests import part_path, read_table, write_part
from manifests.io import row_problems

CREATED_BY = "curate"


def attach_scores(rows: list[dict], scores: dict[str, list]) -> list[dict]:
    """Set each score column (``clip_quality``...) on the rows, in order; returns ``rows``."""
    for key, values in scores.items():
        for row, v in zip(rows, values, strict=True):
            row[key] = v
    return rows


def set_aside_invalid(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(rows the real_photos schema holds, an invalid_value reject per other row)``: the last
    check before a part is written, so one bad value costs its photo, never the shard."""
    problems = row_problems(rows, "real_photos")
    good = [r for r, p in zip(rows, problems, strict=True) if p is None]
    bad = [
        reject(r["uri"], "filter", "invalid_value", f"the manifest cannot hold it: {p}")
        for r, p in zip(rows, problems, strict=True)
        if p is not None
    ]
    return good, bad


def write_candidates(out: str, k: int, rows: list[dict], rejects: list[dict]) -> None:
    """Shard ``k``'s rows (invalid ones moved to its rejects) and rejects under ``OUT/_work``."""
    rows, invalid = set_aside_invalid(rows)
    work = outputs.join(out, outputs.WORK)
    write_part(rows, work, "real_photos", k, created_by=CREATED_BY)
    write_part(rejects + invalid, work, "rejects", k, created_by=CREATED_BY)


def items(table: pa.Table) -> list[Item]:
    """The dedup items of a ``real_photos`` table, ranked as the module doc says."""
    if table.num_rows == 0:  # an empty part carries only the contract columns
        return []
    quality = table.column("quality_score").to_pylist()
    clip = table.column("clip_quality").to_pylist()
    pixels = [
        w * h
        for w, h in zip(
            table.column("width_px").to_pylist(), table.column("height_px").to_pylist(), strict=True
        )
    ]
    return [
        Item(uri, sha, ph, (c if c is not None else -1.0, q, px))
        for uri, sha, ph, c, q, px in zip(
            table.column("uri").to_pylist(),
            table.column("sha256").to_pylist(),
            table.column("phash").to_pylist(),
            clip,
            quality,
            pixels,
            strict=True,
        )
    ]


def kept_items(tables: Iterable[pa.Table]) -> list[Item]:
    """Photos kept by already finished shards: new candidates may duplicate them (resume)."""
    # Rank above everything new, so a kept photo is never turned into a duplicate later.
    return [
        Item(i.id, i.sha256, i.phash, (float("inf"),) + i.rank) for t in tables for i in items(t)
    ]


def drop_duplicates(table: pa.Table, dups: dict[str, tuple[str, str]]) -> tuple[pa.Table, list]:
    """``(table without the duplicates, one duplicate reject row per dropped row)``."""
    uris = table.column("uri").to_pylist()
    keep_mask = pa.array([u not in dups for u in uris], type=pa.bool_())
    dup_rows = [
        reject(u, "dedup", "duplicate", dups[u][1], duplicate_of=dups[u][0])
        for u in uris
        if u in dups
    ]
    return table.filter(keep_mask), dup_rows


def finalize(out: str, n_shards: int, max_distance: int) -> None:
    """Dedup every unfinished shard's candidates and write its final parts (see module doc).
    Only the ranking columns of every shard are held at once; each shard's whole table is read
    again when its parts are written."""
    if n_shards == 0:  # every input was rejected while listing (a FIFO given as --input):
        write_part([], out, "real_photos", 0, created_by=CREATED_BY)  # an empty, valid result
        return
    work = outputs.join(out, outputs.WORK)
    done = {k for k in range(n_shards) if outputs.shard_done(out, k)}
    todo = [k for k in range(n_shards) if k not in done]
    finished = (_rank_table(part_path(out, "real_photos", k)) for k in sorted(done))
    everything = kept_items(finished) + [
        it for k in todo for it in items(_rank_table(part_path(work, "real_photos", k)))
    ]
    dups = find_duplicates(everything, max_distance)
    del everything
    for k in todo:
        table = read_table(part_path(work, "real_photos", k), "real_photos")
        kept, dup_rows = drop_duplicates(table, dups)
        work_rejects = read_table(part_path(work, "rejects", k), "rejects")
        write_part(kept, out, "real_photos", k, created_by=CREATED_BY)
        write_part(work_rejects.to_pylist() + dup_rows, out, "rejects", k, created_by=CREATED_BY)


RANK_COLUMNS = ["uri", "sha256", "phash", "clip_quality", "quality_score", "width_px", "height_px"]


def _rank_table(path: str) -> pa.Table:
    """The columns :func:`items` reads, of one ``real_photos`` part."""
    return read_table(path, "real_photos", columns=RANK_COLUMNS)
