"""Candidates to final parts without Ray: scores in, ranking, global dedup, resume."""

import hashlib

import pyarrow as pa
import pytest

from curate import merge, outputs
from curate.dedup import Item
from manifests import part_path, read_table, write_part
from manifests.example import real_photo_rows

FAR = 0xFFFF_FFFF_0000_0000  # 32 bits from 0: never a near duplicate of 0


def photo(name, *, content=None, phash=0, clip=None, quality=1.0, size=(800, 600)):
    row = dict(real_photo_rows()[0])
    row.update(
        uri=f"file:///in/{name}",
        sha256=hashlib.sha256((content or name).encode()).hexdigest(),
        phash=phash,
        clip_quality=clip,
        width_px=size[0],
        height_px=size[1],
        quality_score=quality,
    )
    return row


def reject_row(name, reason="too_small"):
    return {"uri": f"file:///in/{name}", "stage": "filter", "reason": reason, "detail": "x"}


def table(rows):
    return pa.Table.from_pylist(rows)


def test_attach_scores_sets_each_column_in_row_order():
    rows = [{"uri": "a"}, {"uri": "b"}]
    scores = {"clip_quality": [0.1, 0.9], "clip_shallow_dof": [0.5, 0.6]}
    assert merge.attach_scores(rows, scores) is rows
    assert rows == [
        {"uri": "a", "clip_quality": 0.1, "clip_shallow_dof": 0.5},
        {"uri": "b", "clip_quality": 0.9, "clip_shallow_dof": 0.6},
    ]
    with pytest.raises(ValueError):  # a score list that does not match the rows is a bug
        merge.attach_scores(rows, {"clip_quality": [0.1]})


def test_items_rank_by_clip_then_quality_then_pixels():
    t = table([photo("a.jpg", clip=0.7, quality=2.0), photo("b.jpg", quality=3.0, size=(10, 20))])
    a, b = merge.items(t)
    assert a.rank == (0.7, 2.0, 800 * 600) and a.id == "file:///in/a.jpg"
    assert b.rank == (-1.0, 3.0, 200)  # no CLIP score ranks below any CLIP score
    assert a.sha256 == hashlib.sha256(b"a.jpg").hexdigest() and a.phash == 0
    assert merge.items(table([photo("a.jpg")]).slice(0, 0)) == []


def test_kept_items_rank_above_every_new_item():
    (kept,) = merge.kept_items([table([photo("old.jpg", clip=0.0, quality=-5.0)])])
    assert kept.rank == (float("inf"), 0.0, -5.0, 800 * 600)
    assert kept.rank > Item("n", "s", 0, (1.0, 99.0, 10**9)).rank


def test_drop_duplicates_filters_rows_and_makes_duplicate_rejects():
    t = table([photo("a.jpg"), photo("b.jpg"), photo("c.jpg")])
    dups = {"file:///in/b.jpg": ("file:///in/a.jpg", "exact duplicate (same sha256)")}
    kept, rejects = merge.drop_duplicates(t, dups)
    assert kept.column("uri").to_pylist() == ["file:///in/a.jpg", "file:///in/c.jpg"]
    assert rejects == [
        {
            "uri": "file:///in/b.jpg",
            "stage": "dedup",
            "reason": "duplicate",
            "detail": "exact duplicate (same sha256)",
            "duplicate_of": "file:///in/a.jpg",
        }
    ]


def test_finalize_dedups_across_shards_and_keeps_the_best_copy(tmp_path):
    out = str(tmp_path)
    merge.write_candidates(
        out,
        0,
        [photo("a.jpg", quality=1.0), photo("other_copy.jpg", content="other.jpg", phash=FAR)],
        [reject_row("small.jpg")],
    )
    merge.write_candidates(
        out,
        1,
        [photo("near.jpg", phash=1, quality=5.0), photo("other.jpg", phash=FAR, quality=2.0)],
        [],
    )
    merge.finalize(out, 2, max_distance=4)

    assert read_table(part_path(out, "real_photos", 0), "real_photos").num_rows == 0
    kept = read_table(out, "real_photos").column("uri").to_pylist()
    assert kept == ["file:///in/near.jpg", "file:///in/other.jpg"]
    rejects = {r["uri"].rsplit("/", 1)[1]: r for r in read_table(out, "rejects").to_pylist()}
    assert set(rejects) == {"small.jpg", "a.jpg", "other_copy.jpg"}
    assert rejects["small.jpg"]["reason"] == "too_small"
    assert rejects["a.jpg"]["detail"] == "near duplicate (phash distance 1 bits)"
    assert rejects["a.jpg"]["duplicate_of"] == "file:///in/near.jpg"
    assert rejects["other_copy.jpg"]["detail"] == "exact duplicate (same sha256)"
    assert rejects["other_copy.jpg"]["duplicate_of"] == "file:///in/other.jpg"
    assert all(rejects[n]["stage"] == "dedup" for n in ["a.jpg", "other_copy.jpg"])
    assert outputs.shard_done(out, 0) and outputs.shard_done(out, 1)


def test_finalize_never_turns_an_earlier_kept_photo_into_a_duplicate(tmp_path):
    out = str(tmp_path)
    write_part([photo("old.jpg", quality=0.0)], out, "real_photos", 0)
    write_part([], out, "rejects", 0)
    before = (tmp_path / "real_photos" / "part-00000.parquet").read_bytes()
    merge.write_candidates(
        out, 1, [photo("better_copy.jpg", content="old.jpg", clip=0.99, quality=9.0)], []
    )
    merge.finalize(out, 2, max_distance=4)
    assert (tmp_path / "real_photos" / "part-00000.parquet").read_bytes() == before
    assert read_table(part_path(out, "real_photos", 1), "real_photos").num_rows == 0
    (dup,) = read_table(part_path(out, "rejects", 1), "rejects").to_pylist()
    assert dup["uri"] == "file:///in/better_copy.jpg"
    assert dup["duplicate_of"] == "file:///in/old.jpg"
