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


def test_scene_folder_is_committed_atomically(tmp_path):
    tmp = _complete_scene(temp_scene_dir(tmp_path, 7), 7)
    assert not is_done(tmp_path, 7)
    final = commit_scene_dir(tmp, tmp_path, 7)
    assert is_done(tmp_path, 7) and (final / "aif.png").exists() and not tmp.exists()
    assert [p.name for p in (tmp_path / "scenes").iterdir()] == ["000007"]


def test_a_scene_folder_without_its_marker_is_replaced_and_a_done_one_kept(tmp_path):
    from synth.shard import scene_dir

    partial = scene_dir(tmp_path, 3)  # copied in part, or its DONE marker deleted
    partial.mkdir(parents=True)
    _mark(partial, 1)
    tmp = _complete_scene(temp_scene_dir(tmp_path, 3), 3)
    _mark(tmp, 2)
    final = commit_scene_dir(tmp, tmp_path, 3)  # before: the new render was thrown away
    assert is_done(tmp_path, 3) and _marked(final) == 2
    late = _complete_scene(temp_scene_dir(tmp_path, 3), 3)  # a second worker, later
    _mark(late, 3)
    commit_scene_dir(late, tmp_path, 3)
    assert _marked(final) == 2
    assert [p.name for p in (tmp_path / "scenes").iterdir()] == ["000003"]


# ---- two writers on one --out (a requeued or retried task that is still alive) ---------------


def _mark(folder, value: int) -> None:
    """An AIF that tells writers apart: a real PNG (headers are checked) of grey ``value``."""
    from PIL import Image

    Image.new("L", (4, 3), value).save(folder / "aif.png")


def _marked(folder) -> int:
    from PIL import Image

    with Image.open(folder / "aif.png") as im:
        return im.getpixel((0, 0))


def _complete_scene(folder, scene_id, *, w=4, h=3, kernel=False):
    """Write the files of a tiny finished scene into ``folder`` (one DoF render) + meta.json."""
    import json

    import numpy as np

    base = f"scenes/{scene_id:06d}"
    from PIL import Image

    for name in ("aif.png", "dof_00.png", "dof_00.jpg"):  # real headers: they are checked
        Image.new("RGB", (w, h)).save(folder / name)
    np.save(folder / "depth.npy", np.ones((h, w), np.float32))
    np.save(folder / "coc_00.npy", np.zeros((h, w), np.float32))
    files = ["aif.png", "coc_00.npy", "depth.npy", "dof_00.jpg", "dof_00.png"]
    if kernel:
        Image.new("L", (8, 8), 255).save(folder / "dof_00_kernel.png")
        files.append("dof_00_kernel.png")
    row = {
        "scene_id": scene_id,
        "aif_path": f"{base}/aif.png",
        "depth_path": f"{base}/depth.npy",
        "bokeh_path": f"{base}/dof_00.png",
        "coc_path": f"{base}/coc_00.npy",
        "bokeh_jpeg_path": f"{base}/dof_00.jpg",
        "bokeh_exr_path": None,
        "aperture_kernel_path": f"{base}/dof_00_kernel.png" if kernel else None,
        "width_px": w,
        "height_px": h,
    }
    (folder / "meta.json").write_text(json.dumps({"rows": [row], "files": sorted(files)}))
    return folder


def _dead_pid():
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_live_writers_temp_folder_survives_a_second_writer(tmp_path):
    import multiprocessing

    first = temp_scene_dir(tmp_path, 7)  # this process: a writer still rendering scene 7
    (first / "aif.png").write_bytes(b"x")
    ctx = multiprocessing.get_context("spawn")  # a second live writer (another pid)
    with ctx.Pool(1) as pool:
        second = pool.apply(temp_scene_dir, (tmp_path, 7))
    assert first.is_dir() and (first / "aif.png").read_bytes() == b"x"
    assert second != first and second.is_dir()
    # names are unique per writer: this host, this pid and a random token, never the pid alone
    again = temp_scene_dir(tmp_path, 7)
    assert len({first.name, second.name, again.name}) == 3
    assert first.is_dir() and again.is_dir()


def test_a_dead_writers_temp_folder_is_removed(tmp_path):
    import json
    import os

    from synth.shard import temp_scene_dir as make

    live = make(tmp_path, 5)
    # the same folder as a writer on this host whose process is gone left it (killed mid-scene)
    dead_pid = _dead_pid()
    dead = live.with_name(live.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    dead.mkdir()
    (dead / "aif.png").write_bytes(b"half")
    owner = json.loads((live / "OWNER").read_text())
    (dead / "OWNER").write_text(json.dumps({**owner, "pid": dead_pid}))
    # one from another host with a live-looking pid: kept (its pid means nothing here) ...
    other = live.with_name(f".tmp-000005-elsewhere-1-{os.getpid()}-0123abcd")
    other.mkdir()
    # ... unless it is older than the stale age (a writer there died long ago)
    old = live.with_name(f".tmp-000005-faraway-1-{os.getpid()}-4567ef01")
    old.mkdir()
    os.utime(old, (0, 0))
    make(tmp_path, 5)
    assert not dead.exists() and not old.exists()
    assert live.is_dir() and other.is_dir()


def test_an_unlisted_or_empty_file_refuses_the_commit(tmp_path):
    from synth.shard import IncompleteSceneError, scene_dir

    tmp = _complete_scene(temp_scene_dir(tmp_path, 4), 4, kernel=True)
    (tmp / "dof_00_kernel.png").unlink()  # a file meta.json names is missing
    with pytest.raises(IncompleteSceneError, match=r"scenes/000004/dof_00_kernel.png.*missing"):
        commit_scene_dir(tmp, tmp_path, 4)
    assert not scene_dir(tmp_path, 4).exists() and not is_done(tmp_path, 4)

    tmp = _complete_scene(temp_scene_dir(tmp_path, 4), 4)
    (tmp / "aif.png").write_bytes(b"")
    with pytest.raises(IncompleteSceneError, match=r"aif.png.*empty"):
        commit_scene_dir(tmp, tmp_path, 4)

    import numpy as np

    tmp = _complete_scene(temp_scene_dir(tmp_path, 4), 4)
    np.save(tmp / "coc_00.npy", np.zeros((2, 2), np.float32))
    with pytest.raises(IncompleteSceneError, match=r"coc_00.npy.*shape"):
        commit_scene_dir(tmp, tmp_path, 4)
    assert not is_done(tmp_path, 4)
    assert not list((tmp_path / "scenes").iterdir())  # each refused temp folder was discarded


def test_a_done_scene_missing_a_file_is_not_done_and_a_commit_replaces_it(tmp_path):
    from synth.shard import DONE, done_problem, scene_dir

    final = _complete_scene(temp_scene_dir(tmp_path, 2), 2)
    commit_scene_dir(final, tmp_path, 2)
    assert is_done(tmp_path, 2) and done_problem(tmp_path, 2) is None
    (scene_dir(tmp_path, 2) / "aif.png").unlink()  # its DONE lies
    assert (scene_dir(tmp_path, 2) / DONE).is_file()
    assert not is_done(tmp_path, 2)
    assert "scenes/000002/aif.png" in done_problem(tmp_path, 2)
    (scene_dir(tmp_path, 2) / "meta.json").write_text("{not json")
    assert not is_done(tmp_path, 2) and "meta.json" in done_problem(tmp_path, 2)
    fresh = _complete_scene(temp_scene_dir(tmp_path, 2), 2)
    commit_scene_dir(fresh, tmp_path, 2)  # the rerun's render replaces the lying folder
    assert is_done(tmp_path, 2) and (scene_dir(tmp_path, 2) / "aif.png").exists()
    assert [p.name for p in (tmp_path / "scenes").iterdir()] == ["000002"]


def test_two_writers_committing_one_scene_the_first_wins(tmp_path):
    from synth.shard import scene_dir

    a = _complete_scene(temp_scene_dir(tmp_path, 9), 9)
    b = _complete_scene(temp_scene_dir(tmp_path, 9), 9)
    _mark(a, 4)
    _mark(b, 5)
    commit_scene_dir(a, tmp_path, 9)
    commit_scene_dir(b, tmp_path, 9)
    assert _marked(scene_dir(tmp_path, 9)) == 4
    assert [p.name for p in (tmp_path / "scenes").iterdir()] == ["000009"]


def test_a_rename_onto_a_folder_committed_meanwhile_discards_the_late_one(tmp_path, monkeypatch):
    """The race: both writers see no final folder, one renames first, the other's rename fails
    (ENOTEMPTY/EEXIST onto a non-empty folder) and must discard its temp folder, not crash."""
    import os

    import synth.shard as shard

    a = _complete_scene(temp_scene_dir(tmp_path, 1), 1)
    b = _complete_scene(temp_scene_dir(tmp_path, 1), 1)
    _mark(a, 4)
    real_rename = os.rename

    def rename(src, dst):  # the other writer's commit lands just before ours
        if str(src) == str(b):
            monkeypatch.setattr(shard.os, "rename", real_rename)
            shard.commit_scene_dir(a, tmp_path, 1)
        return real_rename(src, dst)

    monkeypatch.setattr(shard.os, "rename", rename)
    final = commit_scene_dir(b, tmp_path, 1)
    assert _marked(final) == 4 and is_done(tmp_path, 1)
    assert [p.name for p in (tmp_path / "scenes").iterdir()] == ["000001"]


def test_a_rerun_repairs_a_done_scene_missing_its_aif(tmp_path, render_synth, run_synth):
    """The corruption two live writers left: DONE without aif.png. Before, every rerun counted
    the scene done and the set failed validation; now the rerun renders it again."""
    from manifests import validate_path

    out = render_synth(tmp_path / "out", 2, 32, 1)
    (out / "scenes" / "000000" / "aif.png").unlink()
    p = run_synth("render", "--out", out, "--scenes", 2, "--resolution", 32, "--samples", 1)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "scene 0: marked DONE but scenes/000000/aif.png missing: rendering it again" in p.stderr
    assert "1 scene(s) rendered now, 1 already done" in p.stdout
    assert (out / "scenes" / "000000" / "aif.png").stat().st_size > 0
    assert sorted(x.name for x in (out / "scenes").iterdir()) == ["000000", "000001"]
    assert validate_path(out, files=True).ok
    # a file cut short after its commit (not missing: 100 bytes of a PNG) is repaired too
    aif = out / "scenes" / "000001" / "aif.png"
    aif.write_bytes(aif.read_bytes()[:100])
    p = run_synth("render", "--out", out, "--scenes", 2, "--resolution", 32, "--samples", 1)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "scene 1: marked DONE but scenes/000001/aif.png: not a readable image" in p.stderr
    assert validate_path(out, files=True).ok
    # another resolution or shard count on the same OUT: refused before anything renders
    for extra, why in (
        (["--resolution", 16], "other settings (render.resolution_px: 32 -> 16)"),
        (["--resolution", 32, "--shard", "0/2"], "written as 1 shards, this run has 2"),
    ):
        p = run_synth("render", "--out", out, "--scenes", 2, "--samples", 1, *extra)
        assert p.returncode == 2 and why in p.stderr, p.stderr
    assert validate_path(out, files=True).ok


def test_a_failed_render_leaves_no_temp_folder(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import synth.worker as worker

    def boom(*args):
        raise RuntimeError("Cycles fell over")

    monkeypatch.setattr(worker, "_render_into", boom)
    with pytest.raises(RuntimeError, match="fell over"):
        worker.render_scene_to_disk(SimpleNamespace(scene_id=3), tmp_path, settings=None)
    assert list((tmp_path / "scenes").iterdir()) == []
