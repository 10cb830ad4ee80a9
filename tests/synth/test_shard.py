"""Shards and scene folders: the farm's resume contract."""

import pytest

from synth.shard import (
    ShardError,
    commit_scene_dir,
    is_done,
    parse_shard,
    scene_ids,
    shard_name,
    temp_scene_dir,
)


def test_parse_shard_flag_env_and_default():
    assert parse_shard("3/16", env={}) == (3, 16)
    assert parse_shard(None, env={"SHARD_INDEX": "2", "SHARD_COUNT": "5"}) == (2, 5)
    assert parse_shard("1/2", env={"SHARD_INDEX": "0", "SHARD_COUNT": "5"}) == (1, 2)  # flag wins
    assert parse_shard(None, env={}) == (0, 1)


@pytest.mark.parametrize("text", ["16/16", "-1/4", "a/b", "3", "1/0"])
def test_bad_shards_are_refused(text):
    with pytest.raises(ShardError, match="k/n|0 <= k < n"):
        parse_shard(text, env={})


def test_shards_partition_the_scene_ids():
    parts = [scene_ids(103, k, 8) for k in range(8)]
    flat = sorted(i for p in parts for i in p)
    assert flat == list(range(103))
    assert shard_name(3, 16) == "00003-of-00016"


def test_scene_folder_is_committed_atomically_and_stale_temps_are_cleared(tmp_path):
    tmp = temp_scene_dir(tmp_path, 7)
    (tmp / "aif.png").write_bytes(b"x")
    assert not is_done(tmp_path, 7)
    again = temp_scene_dir(tmp_path, 7)  # a rerun after a kill: the old temp folder is removed
    assert not tmp.exists() or tmp == again
    (again / "aif.png").write_bytes(b"x")
    final = commit_scene_dir(again, tmp_path, 7)
    assert is_done(tmp_path, 7) and (final / "aif.png").exists()
    assert [p.name for p in (tmp_path / "scenes").iterdir()] == ["000007"]


def test_a_scene_folder_without_its_marker_is_replaced_and_a_done_one_kept(tmp_path):
    from synth.shard import scene_dir

    partial = scene_dir(tmp_path, 3)  # copied in part, or its DONE marker deleted
    partial.mkdir(parents=True)
    (partial / "aif.png").write_bytes(b"old")
    tmp = temp_scene_dir(tmp_path, 3)
    (tmp / "aif.png").write_bytes(b"new")
    final = commit_scene_dir(tmp, tmp_path, 3)  # before: the new render was thrown away
    assert is_done(tmp_path, 3) and (final / "aif.png").read_bytes() == b"new"
    late = temp_scene_dir(tmp_path, 3)  # a second worker finishing the same scene later
    (late / "aif.png").write_bytes(b"late")
    commit_scene_dir(late, tmp_path, 3)
    assert (final / "aif.png").read_bytes() == b"new"
    assert [p.name for p in (tmp_path / "scenes").iterdir()] == ["000003"]
