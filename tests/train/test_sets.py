"""The versioned benchmark sets: each checked-in definition is what its synth config samples
today (a sampler change that moves a scene must be a new version), and a render that is not
the set is refused in one line."""

from pathlib import Path

import pytest

from synth.config import load_config
from synth.pool import load_pool
from synth.sampling import sample_scene
from synth.worker import render_engine
from train.evaluate.sets import REPO, SetError, check_rows, load_set, set_names


@pytest.fixture(scope="module")
def pool():
    return load_pool(None)


@pytest.mark.parametrize("name", ["small", "full"])
def test_each_definition_is_what_its_synth_config_samples(name, pool):
    bset = load_set(name)
    cfg = load_config(REPO / bset.synth_config)
    assert pool.pool_hash == bset.pool_hash
    assert (cfg.render.resolution_px, cfg.render.samples) == (bset.resolution_px, bset.samples)
    assert bset.version == 4 and cfg.render.exact_highlights
    assert cfg.render.sweep_samples == bset.sweep_samples == 64  # v4: the sweeps' own samples
    assert bset.render_engine == render_engine({"exact_highlights": True})
    assert cfg.aperture.renders_per_scene == bset.regular_renders
    assert list(bset.sweep_k) == cfg.aperture.sweep_k and len(bset.sweep_k) == bset.sweep_renders
    for scene_id, want in bset.spec_hashes.items():
        spec = sample_scene(cfg, scene_id, pool=pool)
        assert spec.spec_hash == want, (name, scene_id)
        assert len(spec.dof) == bset.renders_per_scene


def test_the_tiers_share_their_scenes_and_differ_in_width():
    small, full = load_set("small"), load_set("full")
    assert set(small.spec_hashes) == set(full.spec_hashes) == set(range(8))
    assert (small.resolution_px, full.resolution_px) == (128, 512)
    assert set_names() == ["full", "small"]


def _rows(bset, **change):
    rows = [
        {
            "scene_id": s,
            "render_id": i,
            "spec_hash": h,
            "width_px": bset.resolution_px,
            "render_samples": bset.sweep_samples if i >= bset.regular_renders else bset.samples,
            "render_engine": bset.render_engine,
        }
        for s, h in bset.spec_hashes.items()
        for i in range(bset.renders_per_scene)
    ]
    for key, value in change.items():
        rows[0][key] = value
    return rows


def test_a_render_that_is_not_the_set_is_refused_in_one_line():
    bset = load_set("small")
    check_rows(bset, _rows(bset), "OUT")  # the set itself passes
    cases = {
        "spec_hash": (
            "0123456789abcdef",
            "scene 0: spec hash 0123456789abcdef, a71f40a3bc442cda, the set's is a71f40a",
        ),
        "width_px": (256, "scene 0: 256 px wide, the set 128"),
        "render_samples": (16, "scene 0: render 0 at 16 samples, the set's at 32"),
        "render_id": (9, "scene 0: renders [1, 2, 3, 4, 5, 6, 7, 8, 9], the set has 0-8"),
        "render_engine": (
            "CYCLES",
            "scene 0: rendered by CYCLES, the set by CYCLES+exact-highlights",
        ),
    }
    for key, (value, needle) in cases.items():
        with pytest.raises(SetError) as e:
            check_rows(bset, _rows(bset, **{key: value}), "OUT")
        msg = str(e.value)
        assert msg.startswith("OUT: not the benchmark set 'small' v4") and needle in msg, msg
        assert "\n" not in msg
    rows = _rows(bset)
    rows[4]["render_samples"] = bset.samples  # a sweep render at the regular renders' samples
    with pytest.raises(SetError, match=r"scene 0: render 4 at 32 samples, the set's at 64\)$"):
        check_rows(bset, rows, "OUT")
    rows = _rows(bset)
    for r in rows:  # the sweep renders' K labels: on the grid, within K_TOLERANCE
        sweep = r["render_id"] - bset.regular_renders
        r["k_genrefocus"] = bset.sweep_k[sweep] * (1 + 5e-5) if sweep >= 0 else 7.0
    check_rows(bset, rows, "OUT")
    rows[5]["k_genrefocus"] = 2.6  # render 5: the grid's 2
    with pytest.raises(SetError, match=r"scene 0: sweep render 5 at K 2.6, the set's 2\)$"):
        check_rows(bset, rows, "OUT")
    with pytest.raises(SetError, match=r"scenes \[7\] missing; render it with synth/configs/bench"):
        check_rows(bset, [r for r in _rows(bset) if r["scene_id"] != 7], "OUT")
    with pytest.raises(SetError, match=r"extra scenes \[8\]"):
        check_rows(bset, [*_rows(bset), {**_rows(bset)[0], "scene_id": 8}], "OUT")


def test_a_bad_set_name_or_file_is_one_line(tmp_path):
    with pytest.raises(
        SetError, match=r"--set 'tiny': no such benchmark set \(sets: full, small\)"
    ):
        load_set("tiny")
    bad = tmp_path / "mine.toml"
    bad.write_text('name = "mine"\nversion = 1\n')
    with pytest.raises(SetError, match=r"mine.toml: not a benchmark set definition"):
        load_set(str(bad))
    with pytest.raises(SetError, match=r"missing.toml: not a benchmark set definition"):
        load_set(str(Path(tmp_path / "missing.toml")))
