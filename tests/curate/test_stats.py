"""stats.json's counts and speeds from plain tables (no Ray)."""

import pyarrow as pa

from curate.config import load_config
from curate.listing import Entry, Listing, Rejected
from curate.stats import job_stats, rate
from curate.summary import text_summary


def rejects_table(pairs):
    return pa.table({"reason": [r for r, _ in pairs], "stage": [s for _, s in pairs]})


def stats_for(n_inputs, n_kept, rejects):
    cfg = load_config()
    listing = Listing([Entry(f"file:///p{i}.jpg", 1) for i in range(n_inputs)], ignored=2)
    kept = pa.table({"uri": [f"file:///k{i}" for i in range(n_kept)]})
    clip = {"enabled": False, "model": "ViT-B-32"}
    return job_stats(kept, rejects_table(rejects), listing, 3, 1, "/o", clip, cfg), cfg


def test_counts_by_reason_and_stage():
    rejects = [("too_small", "filter"), ("no_exif", "exif"), ("too_small", "decode")]
    stats, cfg = stats_for(5, 2, rejects)
    assert stats["inputs"] == 5 and stats["kept"] == 2 and stats["rejected"] == 3
    assert stats["reasons"] == {"too_small": 2, "no_exif": 1}
    assert stats["stages"] == {"filter": 1, "exif": 1, "decode": 1}
    assert stats["ignored_by_extension"] == 2
    assert (stats["shards"], stats["shards_skipped"], stats["out"]) == (3, 1, "/o")
    assert stats["kept_schema"] == "real_photos" and stats["config"] == cfg.to_dict()
    assert stats["counts_ok"] and stats["count_problems"] == []
    assert not stats["clip"]["enabled"]


def test_a_broken_count_identity_is_reported_not_raised():
    stats, _ = stats_for(4, 2, [("too_small", "filter")])
    assert not stats["counts_ok"]
    (problem,) = stats["count_problems"]
    assert "/o/stats.json" in problem and "inputs 4 != kept 2 + rejected 1" in problem


def test_rate():
    assert rate(10, 4.0) == {"files": 10, "seconds": 4.0, "files_per_s": 2.5}
    assert rate(0, 0.0) == {"files": 0, "seconds": 0.0, "files_per_s": 0.0}
    assert rate(3, 1.23456)["seconds"] == 1.235


def test_the_listings_rejects_are_inputs():
    cfg = load_config()
    rejected = [Rejected(f"file:///l{i}", "broken_link", "dangling link") for i in range(2)]
    listing = Listing([Entry("file:///p.jpg", 1)], ignored=0, rejects=rejected)
    rejects = rejects_table([("broken_link", "list"), ("broken_link", "list"), ("no_exif", "exif")])
    kept = pa.table({"uri": pa.array([], pa.string())})
    clip = {"enabled": False, "model": "ViT-B-32"}
    stats = job_stats(kept, rejects, listing, 1, 0, "/o", clip, cfg)
    assert stats["inputs"] == listing.n_inputs == 3 and stats["counts_ok"]
    assert stats["stages"]["list"] == 2
    assert "rejected 3 (2 by the listing: links, special files)" in text_summary(stats)


def test_reject_reasons_are_read_part_by_part_into_a_compact_table(tmp_path):
    from curate.passes import reject
    from curate.stats import read_reject_reasons, value_counts
    from manifests import read_table, write_part

    out = str(tmp_path)
    assert read_reject_reasons(out).num_rows == 0  # no rejects yet
    pairs = [("no_exif", "exif"), ("too_small", "filter"), ("too_small", "decode")]
    for k in range(3):
        rows = [reject(f"file:///p{k}-{i}.jpg", s, r, "x") for i, (r, s) in enumerate(pairs[k:])]
        write_part(rows, out, "rejects", k)
    write_part([], out, "rejects", "list")
    compact, full = read_reject_reasons(out), read_table(out, "rejects")
    assert compact.num_rows == full.num_rows == 6
    for column in ("reason", "stage"):
        assert value_counts(compact, column) == value_counts(full, column)
    assert pa.types.is_dictionary(compact.column("reason").type)
