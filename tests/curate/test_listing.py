"""Recursive listing, extension filter, hidden files, deterministic shards."""

import pytest

from curate.listing import ListingError, list_inputs, read_head, shard_count, shards


def test_recursive_sorted_listing_with_ignored_extensions(tmp_path):
    for rel in ["b/2.JPG", "a/1.jpeg", "a/deep/3.heic", "c.png", "notes.txt", ".hidden.jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x" * 10)
    listing = list_inputs([str(tmp_path)], ["jpg", "jpeg", "png", "heic"])
    uris = [e.uri for e in listing.entries]
    assert uris == sorted(uris) and len(uris) == 4
    assert uris[0] == f"file://{tmp_path}/a/1.jpeg" and listing.ignored == 1
    assert all(e.size_bytes == 10 for e in listing.entries)
    everything = list_inputs([str(tmp_path), str(tmp_path / "c.png")], [])
    assert len(everything.entries) == 5 and everything.ignored == 0  # deduplicated
    assert read_head(uris[0], 4) == b"xxxx"


def test_missing_input_is_a_one_line_error(tmp_path):
    with pytest.raises(ListingError, match=r"nope: no such file or folder"):
        list_inputs([str(tmp_path / "nope")])


def test_shards_are_consecutive_slices():
    entries = list(range(10))
    assert shards(entries, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert shard_count(10, 4) == 3 and shard_count(0, 4) == 0
