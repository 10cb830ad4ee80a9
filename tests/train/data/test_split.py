"""The scene split with its fallbacks."""

import pytest

from train.data.config import DataConfig
from train.data.split import scene_key, split_rows


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
