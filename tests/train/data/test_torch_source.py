"""ManifestDataset reproducibility and the scene split with its fallbacks."""

import pytest
import torch

from train.data.build import collate
from train.data.config import DataConfig
from train.data.torch_source import ManifestDataset, scene_key, split_rows


def test_items_are_reproducible_per_seed_index_epoch(synth_rows):
    cfg = DataConfig(task="bokeh", resolution_px=24)
    a = ManifestDataset(synth_rows, cfg, train=True, seed=5)
    b = ManifestDataset(synth_rows, cfg, train=True, seed=5)
    assert len(a) == 12
    for i in (0, 7):
        assert torch.equal(a[i]["target"], b[i]["target"])
        assert torch.equal(a[i]["cond"][1], b[i]["cond"][1])
    before = [a[i]["target"] for i in range(12)]
    a.set_epoch(1)
    after = [a[i]["target"] for i in range(12)]
    assert any(not torch.equal(x, y) for x, y in zip(before, after, strict=True))
    b.set_epoch(1)
    assert torch.equal(b[3]["target"], after[3])
    with pytest.raises(IndexError):
        a[12]


def test_works_with_a_dataloader(synth_rows):
    cfg = DataConfig(task="deblur", resolution_px=16)
    ds = ManifestDataset(synth_rows, cfg, train=False, seed=0)
    batches = list(torch.utils.data.DataLoader(ds, batch_size=5, collate_fn=collate))
    assert [b["target"].shape[0] for b in batches] == [5, 5, 2]
    assert torch.equal(batches[1]["cond"][0][0], ds[5]["cond"][0])


def _with_splits(rows, splits_by_scene):
    return [dict(r, split=splits_by_scene.get(r["scene_id"], "train")) for r in rows]


def test_split_uses_val_then_test(synth_rows):
    cfg = DataConfig()
    rows = _with_splits(synth_rows, {2: "val", 3: "test"})
    tr, ev = split_rows(rows, cfg)
    assert {r["scene_id"] for r in tr} == {0, 1} and {r["scene_id"] for r in ev} == {2}
    tr, ev = split_rows(_with_splits(synth_rows, {3: "test"}), cfg)
    assert {r["scene_id"] for r in tr} == {0, 1, 2} and {r["scene_id"] for r in ev} == {3}


def test_split_falls_back_to_whole_scenes(synth_rows):
    assert {r["split"] for r in synth_rows} == {"train"}
    tr, ev = split_rows(synth_rows, DataConfig())
    held = {scene_key(r) for r in ev}
    assert len(held) == 1 and len(ev) == 3  # 10% of 4 scenes rounds to 1; all its renders
    assert not held & {scene_key(r) for r in tr} and len(tr) == 9
    tr2, ev2 = split_rows(list(reversed(synth_rows)), DataConfig(seed=9))
    assert {scene_key(r) for r in ev2} == held  # independent of order and seed
    with pytest.raises(ValueError, match="need >= 2 scenes"):
        split_rows([r for r in synth_rows if r["scene_id"] == 0], DataConfig())
