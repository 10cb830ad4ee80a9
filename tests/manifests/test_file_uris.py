"""file:// URIs in manifests: percent-encoded since real_photos 1.1 / rejects 1.2 /
synthetic_pairs 1.1; parts of older versions hold the raw path and are converted on reading."""

import pyarrow.parquet as pq
import pytest

from infra.uri import file_path, file_uri, read_bytes
from manifests import SCHEMAS, read_table, read_valid_table, validate_path, write_part
from manifests.example import real_photo_rows, reject_rows, synthetic_rows
from manifests.schemas import FILE_URIS_ENCODED_SINCE, has_raw_file_uris, version_tuple

OLD = {"real_photos": "1.0", "rejects": "1.1", "synthetic_pairs": "1.0"}


def as_version(path: str, version: str) -> None:
    """Rewrite a part's footer as an older writer would have stamped it."""
    table = pq.read_table(path)
    meta = {**table.schema.metadata, b"refocus.schema_version": version.encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def test_versions_say_when_uris_became_encoded():
    for name, since in FILE_URIS_ENCODED_SINCE.items():
        assert version_tuple(SCHEMAS[name].version) >= version_tuple(since)
        assert has_raw_file_uris(name, OLD[name]) and not has_raw_file_uris(name, since)
    assert not has_raw_file_uris("rejects", "1.7")


@pytest.fixture
def odd_photo(tmp_path):
    """A file whose raw path has a space and '%41' (which an encoded URI would read as 'A')."""
    path = tmp_path / "crawl dir" / "IMG %41 1.jpg"
    path.parent.mkdir()
    path.write_bytes(b"the right file")
    (tmp_path / "crawl dir" / "IMG A 1.jpg").write_bytes(b"the wrong file")
    return path


def test_an_old_real_photos_manifest_with_raw_uris_still_reads_the_right_file(tmp_path, odd_photo):
    raw = f"file://{odd_photo}"  # what curate wrote before percent-encoding
    row = dict(real_photo_rows()[0], uri=raw, depth_path=raw)
    root = tmp_path / "old"
    as_version(write_part([row], root, "real_photos", 0), OLD["real_photos"])
    [uri] = read_table(root, "real_photos").column("uri").to_pylist()
    assert uri == file_uri(odd_photo) == odd_photo.as_uri() and file_path(uri) == str(odd_photo)
    assert read_bytes(uri) == b"the right file"
    table, _ = read_valid_table(root, "real_photos")  # the trainer's reader, files checked
    assert table.column("uri").to_pylist() == table.column("depth_path").to_pylist() == [uri]
    # --files found the right file: it is only refused as an image (the test's bytes are text)
    [problem] = validate_path(root, files=True).problems
    assert "'uri' row 0: " + uri + ": not a readable image" in problem.message

    # The same raw text in a current part is read as a URI: '%41' is 'A', another file.
    new = tmp_path / "new"
    write_part([row], new, "real_photos", 0)
    [same] = read_table(new, "real_photos").column("uri").to_pylist()
    assert same == raw and read_bytes(same) == b"the wrong file"


def test_old_rejects_and_synthetic_parts_are_converted_too(tmp_path, odd_photo):
    raw = f"file://{odd_photo}"
    rejects = [dict(r, uri=raw, duplicate_of=raw) for r in reject_rows()]
    as_version(write_part(rejects, tmp_path, "rejects", 0), OLD["rejects"])
    write_part(reject_rows(), tmp_path, "rejects", 1)  # a current part beside it
    table = read_table(tmp_path, "rejects")
    assert table.column("uri").to_pylist()[0] == file_uri(odd_photo)
    assert table.column("duplicate_of").to_pylist()[0] == file_uri(odd_photo)
    assert table.column("uri").to_pylist()[1:] == [r["uri"] for r in reject_rows()]

    pairs = [dict(r, aif_path=raw) for r in synthetic_rows(1, 1)]
    as_version(write_part(pairs, tmp_path, "synthetic_pairs", 0), OLD["synthetic_pairs"])
    [row] = read_table(tmp_path, "synthetic_pairs").to_pylist()
    assert row["aif_path"] == file_uri(odd_photo) and row["depth_path"] == pairs[0]["depth_path"]
