"""Ray Data batches equal the map-style ones for the same rows and rng seeds."""

import os
import shutil
import uuid

import pytest
import torch

from train.data.build import collate
from train.data.config import DataConfig
from train.data.torch_source import ManifestDataset


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    tmp = f"/tmp/rt-{uuid.uuid4().hex[:8]}"
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=tmp,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("task", ["bokeh"])
def test_ray_batches_equal_map_style(synth_rows, ray_local, task):
    from train.data.ray_source import iter_batches, ray_dataset

    cfg = DataConfig(task=task, resolution_px=32, seed=4)
    rows = synth_rows[:7]
    ref = ManifestDataset(rows, cfg, train=False, seed=cfg.seed)
    got = list(iter_batches(ray_dataset(rows, cfg, train=False), batch_size=4))
    assert [b["target"].shape[0] for b in got] == [4, 3]
    for j, b in enumerate(got):
        want = collate([ref[i] for i in range(4 * j, min(4 * j + 4, len(rows)))])
        assert b["id"] == want["id"] and b["source"] == want["source"]
        assert torch.equal(b["target"], want["target"])
        assert len(b["cond"]) == 2
        for c, w in zip(b["cond"], want["cond"], strict=True):
            assert torch.equal(c, w)
        assert torch.equal(b["disparity"], want["disparity"])
        assert torch.allclose(b["k"], want["k"]) and torch.allclose(
            b["disp_focus"], want["disp_focus"]
        )
    # training mode: same rng per (seed, epoch, index) -> the same random crops as map-style
    train_ref = ManifestDataset(rows, cfg, train=True, seed=cfg.seed)
    train_ref.set_epoch(2)
    ds = ray_dataset(rows, cfg, train=True, epoch=2)
    by_id = {}
    for b in iter_batches(ds, batch_size=3):
        by_id.update(zip(b["id"], b["target"], strict=True))
    assert set(by_id) == {f"{r['scene_id']}/{r['render_id']}" for r in rows}
    for i in range(len(rows)):
        s = train_ref[i]
        assert torch.equal(by_id[s["id"]], s["target"])


def test_ray_train_stream_fresh_crops_every_pass_and_resumes_mid_stream(synth_rows, ray_local):
    """One dataset covers the run: each pass visits every row once with new crops, and a stream
    started at draw 9 (a resumed run) is exactly the rest of the full stream."""
    from train.data.ray_source import ray_train_stream

    cfg = DataConfig(task="deblur", resolution_px=32, seed=4)
    rows = synth_rows[:6]
    full = {int(r["draw"]): r for r in ray_train_stream(rows, cfg, 18).take_all()}
    assert sorted(full) == list(range(18))
    passes = [[full[g] for g in range(6 * e, 6 * e + 6)] for e in range(3)]
    ids = [sorted(r["id"] for r in p) for p in passes]
    assert ids[0] == ids[1] == ids[2] == sorted(f"{r['scene_id']}/{r['render_id']}" for r in rows)
    assert [r["id"] for r in passes[0]] != [r["id"] for r in passes[1]]  # reshuffled per pass
    for a_pass, b_pass in ((passes[0], passes[1]), (passes[1], passes[2])):
        by_id = {r["id"]: r["target"] for r in b_pass}
        changed = sum(not (r["target"] == by_id[r["id"]]).all() for r in a_pass)
        assert changed == len(rows)  # every row cropped differently in the next pass
    rest = {int(r["draw"]): r for r in ray_train_stream(rows, cfg, 9, start=9).take_all()}
    assert sorted(rest) == list(range(9, 18))
    for g, r in rest.items():
        assert r["id"] == full[g]["id"] and (r["target"] == full[g]["target"]).all()
