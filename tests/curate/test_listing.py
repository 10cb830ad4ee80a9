"""Recursive listing, extension filter, hidden files, deterministic shards."""

import os

import pytest

from curate.listing import ListingError, list_inputs, read_head
from curate.spill import SpilledListing
from infra.uri import file_path, file_uri


def test_recursive_sorted_listing_with_ignored_extensions(tmp_path):
    for rel in ["b/2.JPG", "a/1.jpeg", "a/deep/3.heic", "c.png", "notes.txt", ".hidden.jpg", "jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x" * 10)
    listing = list_inputs([str(tmp_path)], ["jpg", "jpeg", "png", "heic"])
    uris = [e.uri for e in listing.entries]
    assert uris == sorted(uris) and len(uris) == 4
    assert uris[0] == f"file://{tmp_path}/a/1.jpeg" and listing.ignored == 2
    assert all(e.size_bytes == 10 for e in listing.entries)
    everything = list_inputs([str(tmp_path), str(tmp_path / "c.png")], [])
    assert len(everything.entries) == 6 and everything.ignored == 0  # deduplicated
    assert read_head(uris[0], 4) == b"xxxx"


def test_missing_input_is_a_one_line_error(tmp_path):
    with pytest.raises(ListingError, match=r"nope: no such file or folder"):
        list_inputs([str(tmp_path / "nope")])


def shard_count(n_entries: int, shard_size: int) -> int:
    """The job's shard count for a listing of ``n_entries`` (``SpilledListing.n_shards``)."""
    return SpilledListing("", n_entries, shard_size, "", 0, []).n_shards


def test_shards_are_consecutive_slices(shards):
    entries = list(range(10))
    assert shards(entries, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert shard_count(10, 4) == 3 and shard_count(0, 4) == 0
    spilled = SpilledListing("", 10, 4, "", 0, [])  # the job's shard lengths: the same slices
    assert [spilled.shard_len(k) for k in range(3)] == [len(s) for s in shards(entries, 4)]


# ---- links, special files, names (issue 14) ------------------------------------------------


def tree(root, names=("a.jpg", "sub/b.jpg")):
    for rel in names:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    return root


def reasons(listing):
    return {r.uri.rsplit("/", 1)[-1]: r.reason for r in listing.rejects}


def test_two_links_to_dot_terminate_without_extra_inputs(tmp_path):
    """Before: two `ln -s .` looped until memory ran out; one made 2 files into 82 inputs. Each
    link back to a folder that contains it is one link_loop reject; the files count once."""
    root = tree(tmp_path / "in")
    os.symlink(".", root / "loop")
    os.symlink("..", root / "sub" / "up")
    listing = list_inputs([str(root)], ["jpg"])
    assert [e.uri for e in listing.entries] == [
        file_uri(root / "a.jpg"),
        file_uri(root / "sub/b.jpg"),
    ]
    assert reasons(listing) == {"loop": "link_loop", "up": "link_loop"}
    assert listing.n_inputs == 4 and listing.ignored == 0
    assert all("contains it" in r.detail for r in listing.rejects)


def test_links_leaving_the_root_are_rejected_never_followed(tmp_path):
    root = tree(tmp_path / "in")
    elsewhere = tree(tmp_path / "elsewhere", ("x.jpg", "deep/y.jpg"))
    os.symlink("/etc/passwd", root / "passwd.jpg")
    os.symlink(elsewhere, root / "photos_elsewhere")
    os.symlink(elsewhere / "x.jpg", root / "sub" / "x_link.jpg")
    os.symlink("/etc", root / ".hidden_folder_link")  # folders are walked whatever their name
    os.symlink("/etc/hostname", root / "hostname")  # no wanted extension: ignored, not a reject
    listing = list_inputs([str(root)], ["jpg"])
    assert len(listing.entries) == 2 and "elsewhere" not in " ".join(e.uri for e in listing.entries)
    assert reasons(listing) == {
        "passwd.jpg": "link_outside_root",
        "photos_elsewhere": "link_outside_root",
        "x_link.jpg": "link_outside_root",
        ".hidden_folder_link": "link_outside_root",
    }
    by_name = {r.uri.rsplit("/", 1)[-1]: r for r in listing.rejects}
    assert by_name["passwd.jpg"].uri == file_uri(root / "passwd.jpg")  # the link's own URI
    assert "/etc/passwd" in by_name["passwd.jpg"].detail
    assert "--input" in by_name["photos_elsewhere"].detail and listing.ignored == 1
    # Given as inputs of their own, the same files are listed (under their real paths).
    both = list_inputs([str(root), str(elsewhere)], ["jpg"])
    assert len(both.entries) == 4 and reasons(both) == {
        "passwd.jpg": "link_outside_root",
        ".hidden_folder_link": "link_outside_root",
    }


def test_dangling_looping_and_special_names_are_rejects(tmp_path):
    root = tree(tmp_path / "in")
    os.symlink(root / "gone.jpg", root / "dangling.jpg")
    os.symlink("loop_b.jpg", root / "loop_a.jpg")
    os.symlink("loop_a.jpg", root / "loop_b.jpg")
    os.mkfifo(root / "pipe.jpg")
    os.mkfifo(root / "pipe.txt")  # not a wanted name: ignored like any .txt
    os.symlink(root / "pipe.jpg", root / "pipe_link.jpg")
    os.symlink(root / "gone", root / "old_notes.txt")
    listing = list_inputs([str(root)], ["jpg"])
    assert len(listing.entries) == 2 and listing.ignored == 2
    assert reasons(listing) == {
        "dangling.jpg": "broken_link",
        "loop_a.jpg": "link_loop",
        "loop_b.jpg": "link_loop",
        "pipe.jpg": "not_a_file",
        "pipe_link.jpg": "not_a_file",
    }
    assert all("\n" not in r.detail for r in listing.rejects)
    # Given directly, a FIFO is a reject too; a missing input stays a one-line error.
    assert reasons(list_inputs([str(root / "pipe.jpg")], ["jpg"])) == {"pipe.jpg": "not_a_file"}
    with pytest.raises(ListingError, match="no such file or folder"):
        list_inputs([str(root / "dangling.jpg")])


def test_links_inside_the_root_list_each_real_file_once(tmp_path):
    root = tree(tmp_path / "in")
    os.symlink(root / "a.jpg", root / "alias.jpg")  # to a file of the root
    os.symlink("a.jpg", root / "sub" / "rel_alias.jpg")  # dangling relative to sub/: a reject
    os.symlink("sub", root / "sub_alias")  # a folder walked anyway: no input, no reject
    os.link(root / "a.jpg", root / "hard.jpg")  # hard links are two names, two inputs
    real_root = tmp_path / "real"
    os.rename(root, real_root)
    os.symlink(real_root, tmp_path / "in")  # the root itself given through a link
    listing = list_inputs([str(tmp_path / "in"), str(real_root / "a.jpg")], ["jpg"])
    uris = [e.uri for e in listing.entries]
    assert uris == [file_uri(real_root / n) for n in ("a.jpg", "hard.jpg", "sub/b.jpg")]
    assert reasons(listing) == {"rel_alias.jpg": "broken_link"}


def test_a_link_into_another_given_root_is_followed_once(tmp_path):
    a, b = tree(tmp_path / "a", ("1.jpg",)), tree(tmp_path / "b", ("2.jpg",))
    os.symlink(b / "2.jpg", a / "to_b.jpg")
    os.symlink(b, a / "b_folder")
    listing = list_inputs([str(a), str(b)], ["jpg"])
    assert [e.uri for e in listing.entries] == [file_uri(a / "1.jpg"), file_uri(b / "2.jpg")]
    assert not listing.rejects


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders without read permission")
def test_an_unreadable_sub_folder_is_a_reject(tmp_path):
    root = tree(tmp_path / "in")
    (root / "locked").mkdir()
    (root / "locked").chmod(0)
    try:
        listing = list_inputs([str(root)], ["jpg"])
    finally:
        (root / "locked").chmod(0o755)
    assert len(listing.entries) == 2 and reasons(listing) == {"locked": "unreadable"}


ODD_NAMES = [b"caf\xe9.jpg", b"%41.jpg", b"a#1.jpg", b"q?x=1.jpg", b"sp ace.jpg", b"new\nline.jpg"]


def test_every_name_round_trips_through_its_uri(tmp_path):
    """Before: a name that is not UTF-8 crashed the listing (pyarrow selectors)."""
    root = os.fsencode(tmp_path)
    for name in ODD_NAMES:
        with open(root + b"/" + name, "wb") as f:
            f.write(name)
    os.mkdir(root + b"/d\xff")
    with open(root + b"/d\xff/x.jpg", "wb") as f:
        f.write(b"x.jpg")
    listing = list_inputs([str(tmp_path)], ["jpg"])
    assert len(listing.entries) == len(ODD_NAMES) + 1 and not listing.rejects
    names = set()
    for e in listing.entries:
        assert e.uri.isascii() and e.uri.isprintable()
        name = os.fsencode(file_path(e.uri)).rsplit(b"/", 1)[-1]
        assert read_head(e.uri, 100) == name  # the URI reads the file of that very name
        names.add(name)
    assert names == set(ODD_NAMES) | {b"x.jpg"}
    assert file_uri(root + b"/d\xff/x.jpg") in {e.uri for e in listing.entries}


def test_ignored_counts_each_path_once_and_not_the_files_listed_through_links(tmp_path):
    """The walk counts the ignored files of its folders without keeping their paths; a file
    listed through a link, or given again as a file, still counts once (or not at all)."""
    root = tree(tmp_path / "in", ("a.jpg", "b.raw", "c.raw", "sub/d.raw"))
    os.symlink(root / "b.raw", root / "b_alias.jpg")  # b.raw is listed through its link
    os.symlink(root / "c.raw", root / "c_alias.txt")  # a link name that is ignored itself
    listing = list_inputs([str(root), str(root / "c.raw"), str(root / "sub/d.raw")], ["jpg"])
    assert [e.uri for e in listing.entries] == [file_uri(root / "a.jpg"), file_uri(root / "b.raw")]
    assert listing.ignored == 3  # c.raw, sub/d.raw, c_alias.txt
