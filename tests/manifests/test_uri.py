"""infra.uri (URI or path, its filesystem, its bytes) and manifests.paths (the paths a manifest
may hold)."""

import os
from types import SimpleNamespace

import pyarrow.fs as pafs
import pytest

import infra.uri
from infra.uri import (
    encode_raw_file_uri,
    file_path,
    file_uri,
    is_uri,
    join,
    join_root,
    read_bytes,
    resolve_filesystem,
    to_uri,
)
from manifests import read_table, write_part
from manifests.example import reject_rows
from manifests.paths import path_problem


@pytest.mark.parametrize(
    "text,expected",
    [
        ("s3://bucket/key.jpg", True),
        ("gs://bucket", True),
        ("file:///abs/a.jpg", True),
        ("git+ssh://host/x", True),
        ("/abs/a.jpg", False),
        ("rel/a.jpg", False),
        ("C:/photos/a.jpg", False),
        ("s3:/bucket", False),
        ("3s://bucket", False),
        ("", False),
    ],
)
def test_is_uri(text, expected):
    assert is_uri(text) is expected


def test_local_paths_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fs, path = resolve_filesystem("sub/a.jpg")
    assert isinstance(fs, pafs.LocalFileSystem) and path == f"{tmp_path}/sub/a.jpg"


def test_file_uris_are_percent_encoded_like_path_as_uri(tmp_path):
    # RFC 8089: a space, '#', '?', '%' or a newline in a name is escaped, so URI parsers agree
    name = tmp_path / "IMG 1#2?x 100%\n.jpg"
    name.write_bytes(b"abcdef")
    uri = file_uri(str(name))
    assert uri == name.as_uri() and uri.endswith("/IMG%201%232%3Fx%20100%25%0A.jpg")
    fs, path = resolve_filesystem(uri)
    assert isinstance(fs, pafs.LocalFileSystem) and path == str(name) == file_path(uri)
    assert resolve_filesystem(f"file://{tmp_path}/")[1] == str(tmp_path)
    assert resolve_filesystem("file:///") == (pafs.LocalFileSystem(), "/")
    assert read_bytes(uri) == b"abcdef"
    assert read_bytes(uri, 2) == b"ab" and read_bytes(str(name), 100) == b"abcdef"
    with pytest.raises(ValueError, match="needs an absolute path"):
        resolve_filesystem("file://relative/a.jpg")
    with pytest.raises(ValueError, match="needs an absolute path"):
        file_uri("relative/a.jpg")


@pytest.mark.parametrize(
    "name", [b"caf\xe9.jpg", b"%41.jpg", b"a#b.jpg", b"a?b.jpg", b"a b.jpg", b"a\nb.jpg"]
)
def test_every_name_round_trips_to_the_same_bytes(tmp_path, name):
    path = os.fsencode(tmp_path) + b"/" + name
    with open(path, "wb") as f:
        f.write(name)
    uri = file_uri(path)
    assert uri.isascii() and uri.isprintable() and " " not in uri
    assert os.fsencode(file_path(uri)) == path and file_uri(file_path(uri)) == uri
    assert read_bytes(uri) == name


def test_raw_file_uris_of_old_manifests_are_encoded():
    assert encode_raw_file_uri("file:///d/a b %41.jpg") == "file:///d/a%20b%20%2541.jpg"
    assert file_path(encode_raw_file_uri("file:///d/a b %41.jpg")) == "/d/a b %41.jpg"
    for same in ("s3://b/a b.jpg", "scenes/0/a.png", None, "file://relative"):
        assert encode_raw_file_uri(same) == same


def test_missing_files_raise_the_filesystem_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_bytes(f"file://{tmp_path}/nope.jpg")


class _FakeStore:
    """``from_uri`` for a fake ``mem://`` object store kept in a local folder, counting calls."""

    def __init__(self, folder):
        self.folder = folder
        self.calls = 0

    def __call__(self, uri):
        self.calls += 1
        scheme, rest = uri.split("://", 1)
        assert scheme == "mem"
        return pafs.SubTreeFileSystem(str(self.folder), pafs.LocalFileSystem()), rest.rstrip("/")


def test_object_store_reads_and_one_filesystem_per_bucket(tmp_path, monkeypatch):
    store = _FakeStore(tmp_path)
    fake_pafs = SimpleNamespace(
        FileSystem=SimpleNamespace(from_uri=store), LocalFileSystem=pafs.LocalFileSystem
    )
    monkeypatch.setattr(infra.uri, "pafs", fake_pafs)
    (tmp_path / "bucket" / "raw").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / "bucket" / "raw" / name).write_bytes(b"0123456789")
    fs, path = resolve_filesystem("mem://bucket/raw/")
    assert path == "bucket/raw" and not isinstance(fs, pafs.LocalFileSystem)
    assert to_uri(fs, "bucket/raw/a.jpg", like="mem://bucket/raw") == "mem://bucket/raw/a.jpg"
    store.calls = 0
    cache: dict = {}
    assert read_bytes("mem://bucket/raw/a.jpg", 4, fs_cache=cache) == b"0123"  # ranged read
    assert read_bytes("mem://bucket/raw/b.jpg", fs_cache=cache) == b"0123456789"
    assert store.calls == 1 and list(cache) == ["mem://bucket"]


def test_to_uri_inverts_resolve_filesystem_for_local_files(tmp_path):
    fs, path = resolve_filesystem(str(tmp_path / "x.jpg"))
    assert to_uri(fs, path, like=str(tmp_path)) == f"file://{tmp_path}/x.jpg"
    assert resolve_filesystem(to_uri(fs, path, like="")) == (fs, path)


def test_join_keeps_the_root_style():
    assert join("s3://bucket/run/", "rejects", "part-00000.parquet") == (
        "s3://bucket/run/rejects/part-00000.parquet"
    )
    assert join("/data/run", "stats.json") == os.path.join("/data/run", "stats.json")
    assert join("file:///data/run%201", "a b", "x.json") == "file:///data/run%201/a%20b/x.json"


@pytest.mark.parametrize(
    "path,root,expected",
    [
        ("scenes/0/aif.png", "/data/run", "/data/run/scenes/0/aif.png"),
        ("scenes/0/aif.png", "s3://bucket/run/", "s3://bucket/run/scenes/0/aif.png"),
        ("s3://other/x.jpg", "/data/run", "s3://other/x.jpg"),
        ("/abs/x.jpg", "/data/run", "/abs/x.jpg"),
        ("x.jpg", None, "x.jpg"),
        ("a b/%41.png", "file:///data/run%201/", "file:///data/run%201/a%20b/%2541.png"),
    ],
)
def test_join_root(path, root, expected):
    assert join_root(path, root) == expected


@pytest.mark.parametrize(
    "value,why",
    [
        ("scenes/000001/aif.png", None),
        ("s3://bucket/a b.jpg", None),
        ("file:///abs/x.jpg", None),
        ("", "is empty or has surrounding spaces"),
        (" a.png", "is empty or has surrounding spaces"),
        ("/abs/a.png", "is absolute"),
        ("C:\\x\\a.png", "is absolute"),
        ("..", "escapes the manifest root"),
        ("a/../../b.png", "escapes the manifest root"),
    ],
)
def test_path_problem(value, why):
    found = path_problem(value)
    assert found is None if why is None else found.startswith(why)


def test_a_manifest_given_as_a_file_uri_with_odd_characters(tmp_path):
    root = tmp_path / "run #1 (50%)"
    rows = reject_rows()
    write_part(rows, str(root), "rejects", 0)
    assert read_table(root.as_uri(), "rejects").num_rows == len(rows)
