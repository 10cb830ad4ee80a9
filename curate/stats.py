"""What goes into ``stats.json``: counts from the final tables, the count check, speeds.

``job_stats`` counts the inputs (listed files plus the inputs the listing rejected: links that
leave the input, loop or dangle, special files), the kept and rejected rows, the rejects by
reason and by stage, and checks the identity ``inputs = kept + rejected`` with
:func:`manifests.check_counts` (``counts_ok`` and ``count_problems``; a broken identity is
reported, not raised). ``rate`` is one pass's files, seconds and files per second. Plain dicts
and ``pyarrow`` tables in, plain dicts out; no Ray.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from curate.config import CurateConfig
from curate.listing import Listing
from curate.spill import SpilledListing
from manifests import check_counts


def job_stats(
    kept: pa.Table,
    rejects: pa.Table,
    listing: Listing | SpilledListing,  # its n_inputs and ignored
    n_shards: int,
    skipped: int,
    out: str,
    clip: dict,
    cfg: CurateConfig,
) -> dict:
    reasons, stages = value_counts(rejects, "reason"), value_counts(rejects, "stage")
    stats = {
        "kept_schema": "real_photos",
        "inputs": listing.n_inputs,  # listed files + the listing's own rejects
        "kept": kept.num_rows,
        "rejected": rejects.num_rows,
        "reasons": reasons,
        "stages": stages,
        "ignored_by_extension": listing.ignored,
        "shards": n_shards,
        "shards_skipped": skipped,
        "out": out,
        "clip": clip,
        "config": cfg.to_dict(),
    }
    problems = check_counts(stats, f"{out}/stats.json", kept.num_rows, rejects.num_rows)
    stats["counts_ok"] = not problems
    stats["count_problems"] = [str(p) for p in problems]
    return stats


def value_counts(table: pa.Table, column: str) -> dict[str, int]:
    """``{value: count}`` of one string column, most frequent first (counted by Arrow, without
    a Python object per row: a job's rejects may number in the millions)."""
    counts = pc.value_counts(table.column(column)).to_pylist() if table.num_rows else []
    pairs = sorted(((c["values"], c["counts"]) for c in counts), key=lambda vc: (-vc[1], vc[0]))
    return dict(pairs)


def rate(files: int, seconds: float) -> dict:
    return {
        "files": files,
        "seconds": round(seconds, 3),
        "files_per_s": files / seconds if seconds > 0 else 0.0,
    }
