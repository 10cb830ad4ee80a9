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

from curate.config import CurateConfig
from curate.listing import Listing
from manifests import check_counts


def job_stats(
    kept: pa.Table,
    rejects: pa.Table,
    listing: Listing,
    n_shards: int,
    skipped: int,
    out: str,
    clip: dict,
    cfg: CurateConfig,
) -> dict:
    reasons: dict[str, int] = {}
    stages: dict[str, int] = {}
    for reason, stage in zip(
        rejects.column("reason").to_pylist(), rejects.column("stage").to_pylist(), strict=True
    ):
        reasons[reason] = reasons.get(reason, 0) + 1
        stages[stage] = stages.get(stage, 0) + 1
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


def rate(files: int, seconds: float) -> dict:
    return {
        "files": files,
        "seconds": round(seconds, 3),
        "files_per_s": files / seconds if seconds > 0 else 0.0,
    }
