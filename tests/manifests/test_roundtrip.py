"""Every schema round-trips through write_part/read_table with its metadata."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from manifests import SCHEMAS, list_parts, open_dataset, part_exists, read_table, write_part
from manifests.example import real_photo_rows, reject_rows, synthetic_rows

ROWS = {"synthetic_pairs": synthetic_rows, "real_photos": real_photo_rows, "rejects": reject_rows}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_round_trip(tmp_path, name):
    rows = ROWS[name]()
    path = write_part(rows, tmp_path, name, 3, created_by="test")
    assert path.endswith(f"{name}/part-00003.parquet")
    table = read_table(tmp_path, name)
    assert table.schema.remove_metadata().equals(SCHEMAS[name].arrow)
    assert table.to_pylist() == rows
    meta = pq.read_schema(path).metadata
    assert meta[b"refocus.schema"] == name.encode()
    assert meta[b"refocus.schema_version"] == SCHEMAS[name].version.encode()
    assert (
        b"(test)" in meta[b"refocus.created_by"]
        and b"refocus-engine" in meta[b"refocus.created_by"]
    )


def test_many_parts_read_as_one_table_and_dataset(tmp_path):
    rows = synthetic_rows(n_scenes=4, renders_per_scene=3)
    for shard in range(4):
        write_part([r for r in rows if r["scene_id"] == shard], tmp_path, "synthetic_pairs", shard)
    assert len(list_parts(tmp_path)["synthetic_pairs"]) == 4
    assert read_table(tmp_path / "synthetic_pairs").num_rows == 12
    assert sorted(read_table(tmp_path, "synthetic_pairs").column("scene_id").to_pylist()) == sorted(
        r["scene_id"] for r in rows
    )
    ds = open_dataset(tmp_path, "synthetic_pairs")
    assert ds.count_rows() == 12
    assert part_exists(tmp_path, "synthetic_pairs", 2)
    assert not part_exists(tmp_path, "synthetic_pairs", 9)


def test_reads_through_a_pyarrow_filesystem_uri(tmp_path):
    write_part(reject_rows(), tmp_path, "rejects", "shard-a")
    table = read_table(f"file://{tmp_path}", "rejects")
    assert (
        table.num_rows == 1 and table.column("reason")[0].as_py() == "f_number_equivalent_too_high"
    )


def test_extra_columns_are_kept_after_the_contract_columns(tmp_path):
    rows = [dict(r, exposure_ev=1.5) for r in reject_rows()]
    write_part(rows, tmp_path, "rejects", 0)
    table = read_table(tmp_path, "rejects")
    assert table.column_names[-1] == "exposure_ev" and table.column("exposure_ev")[0].as_py() == 1.5


def test_writer_casts_compatible_types(tmp_path):
    table = pa.Table.from_pylist(synthetic_rows(1, 1))  # inferred int64/double types
    write_part(table, tmp_path, "synthetic_pairs", 0)
    assert read_table(tmp_path, "synthetic_pairs").schema.field("width_px").type == pa.int32()


def test_clip_embedding_float16_round_trip(tmp_path):
    row = dict(real_photo_rows()[0], clip_embedding=[0.125, -2.5, 1024.0])
    write_part([row], tmp_path, "real_photos", 0)
    got = read_table(tmp_path, "real_photos").column("clip_embedding")[0].as_py()
    assert [float(x) for x in got] == [0.125, -2.5, 1024.0]


def test_a_part_older_than_a_column_reads_it_as_nulls(tmp_path):
    """synthetic_pairs 1.2 added scene_kind and source_photos; a 1.1 part has neither."""
    from manifests.validate import read_valid_table, validate_path

    path = write_part(synthetic_rows(), tmp_path, "synthetic_pairs", 0, created_by="test")
    old = pq.read_table(path).drop_columns(["scene_kind", "source_photos"])
    meta = {**old.schema.metadata, b"refocus.schema_version": b"1.1"}
    pq.write_table(old.replace_schema_metadata(meta), path)
    table = read_table(tmp_path, "synthetic_pairs")
    assert table.column("scene_kind").null_count == table.num_rows
    assert table.column("source_photos").type == pa.list_(pa.string())
    assert (
        read_table(tmp_path, "synthetic_pairs", columns=["scene_id", "scene_kind"]).num_columns == 2
    )
    assert validate_path(tmp_path).ok
    assert read_valid_table(tmp_path, "synthetic_pairs", ())[0].num_rows == table.num_rows
    # a part that claims 1.2 must carry them
    pq.write_table(old.replace_schema_metadata({**meta, b"refocus.schema_version": b"1.2"}), path)
    assert not validate_path(tmp_path).ok


def test_the_kernel_path_and_shape_label_round_trip_and_a_1_2_part_reads_nulls(tmp_path):
    """synthetic_pairs 1.3 added aperture_kernel_path (a path column, like the others) and
    fills aperture_shape_id for shaped renders; a 1.2 part has no kernel path: nulls."""
    from manifests import ManifestError
    from manifests.validate import read_valid_table, validate_path

    rows = synthetic_rows()
    path = write_part(rows, tmp_path, "synthetic_pairs", 0, created_by="test")
    table = read_table(tmp_path, "synthetic_pairs")
    assert table.column("aperture_kernel_path").to_pylist() == [
        None,
        None,
        None,
        "scenes/000001/dof_00_kernel.png",
        "scenes/000001/dof_01_kernel.png",
        "scenes/000001/dof_02_kernel.png",
    ]
    assert table.column("aperture_shape_id").to_pylist() == [
        None, None, None, "polygon3", "star5@15", "heart@30"
    ]  # fmt: skip
    assert "aperture_kernel_path" in SCHEMAS["synthetic_pairs"].path_columns

    old = pq.read_table(path).drop_columns(["aperture_kernel_path"])
    old = old.set_column(
        old.column_names.index("aperture_shape_id"),
        "aperture_shape_id",
        pa.nulls(old.num_rows, pa.string()),
    )
    meta = {**old.schema.metadata, b"refocus.schema_version": b"1.2"}
    pq.write_table(old.replace_schema_metadata(meta), path)
    table = read_table(tmp_path, "synthetic_pairs")
    assert table.column("aperture_kernel_path").null_count == table.num_rows
    assert table.column("aperture_kernel_path").type == pa.string()
    assert validate_path(tmp_path).ok and validate_path(tmp_path, files=False).ok
    valid, _ = read_valid_table(tmp_path, "synthetic_pairs", ("aperture_kernel_path",))
    assert valid.column("aperture_kernel_path").null_count == valid.num_rows
    cols = read_table(tmp_path, "synthetic_pairs", columns=["scene_id", "aperture_kernel_path"])
    assert cols.column_names == ["scene_id", "aperture_kernel_path"]
    # a part that claims 1.3 must carry it
    pq.write_table(old.replace_schema_metadata({**meta, b"refocus.schema_version": b"1.3"}), path)
    assert not validate_path(tmp_path).ok
    with pytest.raises(ManifestError, match="missing required column 'aperture_kernel_path'"):
        read_valid_table(tmp_path, "synthetic_pairs", ())


def test_a_kernel_path_is_held_to_the_path_rule(tmp_path):
    from manifests import ManifestError

    rows = synthetic_rows()
    rows[4]["aperture_kernel_path"] = "../elsewhere/kernel.png"
    with pytest.raises(ManifestError, match="'aperture_kernel_path' row 4: '../elsewhere"):
        write_part(rows, tmp_path, "synthetic_pairs", 0)
