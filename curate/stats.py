"""What goes into ``stats.json``: counts from the final tables, the count check, speeds.

``job_stats`` counts the inputs (listed files plus the inputs the listing rejected: links that
leave the input, loop or dangle, special files), the kept and rejected rows, the rejects by
reason and by stage, and checks the identity ``inputs = kept + rejected`` with
:func:`manifests.check_counts` (``counts_ok`` and ``count_problems``; a broken identity is
reported, not raised). ``read_reject_reasons`` reads the rejects' reasons and stages part by
part into a compact table. ``rate`` is one pass's files, seconds and files per second. Plain
dicts and ``pyarrow`` tables in, plain dicts out; no Ray.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.config import CurateConfig
from curate.listing import Listing
from curate.spill import SpilledListing
from infra.uri import join
from manifests import check_counts, list_parts, read_table


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


def read_reject_reasons(out: str) -> pa.Table:
    """The ``reason`` and ``stage`` of every reject under ``out`` as a compact table: the parts
    are counted one at a time by (reason, stage), and each pair is repeated as many times as it
    occurs, dictionary-encoded (two bytes a reject instead of two strings). The rows come
    grouped by pair, not in part order: enough for :func:`value_counts` and ``num_rows``."""
    counts: Counter = Counter()
    for part in list_parts(out, "rejects").get("rejects", []):
        table = read_table(join(out, "rejects", part.rsplit("/", 1)[-1]), "rejects", REASON)
        for row in table.group_by(REASON).aggregate([([], "count_all")]).to_pylist():
            counts[row["reason"], row["stage"]] += row["count_all"]
    pairs = sorted(counts)
    repeats = [counts[p] for p in pairs]
    return pa.table(
        {name: _repeated([p[i] for p in pairs], repeats) for i, name in enumerate(REASON)}
    )


REASON = ["reason", "stage"]


def _repeated(values: list[str], repeats: list[int]) -> pa.DictionaryArray:
    """``values[j]`` repeated ``repeats[j]`` times, dictionary-encoded."""
    dictionary = sorted(set(values))
    codes = np.repeat([dictionary.index(v) for v in values], repeats).astype(np.int16)
    return pa.DictionaryArray.from_arrays(
        pa.array(codes, pa.int16()), pa.array(dictionary, pa.string())
    )


def rate(files: int, seconds: float) -> dict:
    return {
        "files": files,
        "seconds": round(seconds, 3),
        "files_per_s": files / seconds if seconds > 0 else 0.0,
    }
