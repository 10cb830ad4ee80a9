"""The spilled listing: the external sort gives list_inputs' order, shards and fingerprint."""

import os

import pyarrow.parquet as pq
import pytest

from curate import spill
from curate.listing import list_inputs

NAMES = ["b/2.jpg", "a/1.jpg", "a/deep/3.jpg", "c.jpg", "Z.jpg", "é.jpg", "a b.jpg", "notes.txt"]


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 3 files merged 2 at a time: many chunks and merge rounds on a small tree."""
    monkeypatch.setattr(spill, "CHUNK_ROWS", 3)
    monkeypatch.setattr(spill, "BATCH_ROWS", 2)
    monkeypatch.setattr(spill, "FAN_IN", 2)


def photo_tree(root):
    for i, rel in enumerate(NAMES + [f"many/{i:03d}.jpg" for i in range(23)]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * (i + 1))
    with open(os.fsencode(root) + b"/odd\xff.jpg", "wb") as f:  # not UTF-8
        f.write(b"odd")
    os.symlink(root / "c.jpg", root / "alias.jpg")  # c.jpg found twice: listed once
    os.symlink(root / "gone.jpg", root / "dangling.jpg")  # a reject
    os.link(root / "c.jpg", root / "hard.jpg")  # two names, two inputs
    return root


@pytest.mark.parametrize("shard_size", [1, 4, 256])
def test_spill_equals_the_in_memory_listing(
    tmp_path, small_chunks, shard_size, shards, listing_fingerprint
):
    root = photo_tree(tmp_path / "in")
    inputs = [str(root), str(root / "a"), str(root / "c.jpg")]  # overlapping inputs
    target = str(tmp_path / "out" / "_work" / "listing.parquet")
    scratch = str(tmp_path / "out" / "_work")
    spilled = spill.spill_listing(inputs, ["jpg"], target, shard_size, scratch=scratch)
    listing = list_inputs(inputs, ["jpg"])
    assert spilled.n_entries == len(listing.entries) == len(NAMES) - 1 + 23 + 2
    assert spilled.ignored == listing.ignored == 1 and spilled.rejects == listing.rejects
    assert spilled.n_inputs == listing.n_inputs
    # the fingerprint an OUT written before the spill holds: a resume accepts it
    expected = listing_fingerprint(listing.entries, shard_size, listing.rejects)
    assert spilled.fingerprint == expected
    in_memory = shards(listing.entries, shard_size)
    assert pq.ParquetFile(target).num_row_groups == spilled.n_shards == len(in_memory)
    for k, shard in enumerate(in_memory):
        assert spill.read_shard(target, k) == shard and spilled.shard_len(k) == len(shard)
    assert os.listdir(scratch) == ["listing.parquet"]  # the chunks are gone


def test_a_spill_needs_no_chunk_for_a_small_listing_and_may_be_empty(tmp_path, listing_fingerprint):
    (tmp_path / "in").mkdir()
    target = str(tmp_path / "listing.parquet")
    empty = spill.spill_listing([str(tmp_path / "in")], ["jpg"], target, 4, scratch=None)
    assert (empty.n_entries, empty.n_shards, empty.n_inputs) == (0, 0, 0)
    assert empty.fingerprint == listing_fingerprint([], 4)
    assert pq.read_table(target).num_rows == 0


def test_a_failed_listing_leaves_no_scratch_files(tmp_path, small_chunks):
    root = photo_tree(tmp_path / "in")
    scratch = tmp_path / "out" / "_work"
    inputs = [str(root), str(tmp_path / "nope")]
    with pytest.raises(ValueError, match="no such file or folder"):
        spill.spill_listing(inputs, ["jpg"], str(scratch / "l.parquet"), 4, str(scratch))
    assert os.listdir(scratch) == []
