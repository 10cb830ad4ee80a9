"""K sweeps at a fixed focus (``aperture.sweep_f_numbers`` or ``aperture.sweep_k``) and the
benchmark set's configs."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from optics import coc_cycles_px, k_synthetic
from synth.config import DEFAULT_CONFIG, ConfigError, load_config
from synth.sampling import sample_scene, split_for, sweep_f_number

CONFIGS = Path(DEFAULT_CONFIG).parent
SWEEP = [8.0, 5.0, 2.8, 1.2]


def _lens(d) -> tuple:
    """A DoF render's aperture and focus: everything but its f-number."""
    return (d.focus_distance_m, d.blades, d.rotation_deg, d.ratio, d.aperture)


def test_an_empty_sweep_samples_the_specs_of_a_config_without_the_key(tmp_path, pool):
    """The key absent and ``[]`` sample the same specs (test_sampling.py pins their hashes)."""
    text = DEFAULT_CONFIG.read_text()
    assert "\nsweep_f_numbers = []\n" in text  # documented in default.toml, empty
    absent = tmp_path / "default_without_sweep.toml"
    absent.write_text(text.replace("\nsweep_f_numbers = []\n", "\n"))
    heldout = CONFIGS / "heldout.toml"
    assert "sweep_f_numbers" not in heldout.read_text()
    pairs = [
        (load_config(absent), load_config(DEFAULT_CONFIG)),
        (load_config(heldout), load_config(heldout, ["aperture.sweep_f_numbers=[]"])),
    ]
    for without, empty in pairs:
        assert empty.aperture.sweep_f_numbers == without.aperture.sweep_f_numbers == []
        for i in (0, 1, 2, 7, 13):
            a, b = sample_scene(without, i, pool=pool), sample_scene(empty, i, pool=pool)
            assert a.to_json() == b.to_json() and a.spec_hash == b.spec_hash
            assert len(a.dof) == 3 and "sweep_first_dof" not in a.notes


def test_a_sweep_adds_renders_at_the_first_focus_and_aperture_and_keeps_the_others(pool):
    """The regular renders (and everything else) are the spec without a sweep; the sweep's
    renders follow them, in the listed order, with exactly the listed f-numbers, at the first
    render's focus through its aperture, shaped scenes and anamorphic ones included."""
    sets = ["aperture.shaped_scene_probability=0.3", "aperture.anamorphic_probability=0.3"]
    base = load_config(resolution_px=64, overrides=sets)
    swept = load_config(resolution_px=64, overrides=[*sets, f"aperture.sweep_f_numbers={SWEEP}"])
    seen = set()
    for i in range(40):
        plain, s = sample_scene(base, i, pool=pool), sample_scene(swept, i, pool=pool)
        n = base.aperture.renders_per_scene
        assert s.dof[:n] == plain.dof and s.notes.pop("sweep_first_dof") == n
        assert dataclasses.replace(s, dof=plain.dof).to_json() == plain.to_json()
        sweep = s.dof[n:]
        assert [d.f_number for d in sweep] == SWEEP
        assert all(_lens(d) == _lens(plain.dof[0]) for d in sweep)
        seen.add("shaped" if s.notes.get("shaped") else "anamorphic" if s.dof[0].ratio > 1 else "")
        assert s.to_json() != plain.to_json()
    assert {"shaped", "anamorphic", ""} <= seen
    again = sample_scene(swept, 5, pool=pool)
    assert again.to_json() == sample_scene(swept, 5, pool=pool).to_json()  # deterministic
    assert type(again).from_json(again.to_json()).spec_hash == again.spec_hash


def test_the_sweep_keeps_its_order_and_ignores_disc_px(pool):
    """Any order is kept; K follows 1/N exactly, and no disc_px bound: f/1.2 gives discs past
    disc_px's 60 px where the first render was stopped down to keep inside it."""
    order = [1.2, 8, 3.5]
    cfg = load_config(resolution_px=128, overrides=[f"aperture.sweep_f_numbers={order}"])
    largest = []
    for i in range(20):
        s = sample_scene(cfg, i, pool=pool)
        sweep, cam = s.dof[3:], s.camera
        assert [d.f_number for d in sweep] == [1.2, 8.0, 3.5]
        ks = [k_synthetic(cam.focal_length_mm, d.f_number, cam.sensor_width_mm, 128) for d in sweep]
        assert ks[0] / ks[1] == pytest.approx(8 / 1.2, rel=1e-12)
        depths = [-o.location_m[2] for o in s.objects] + [-h.location_m[2] for h in s.highlights]
        coc = coc_cycles_px(
            cam.focal_length_mm, 1.2, sweep[0].focus_distance_m, np.array(depths),
            cam.sensor_width_mm, s.width_px,
        )  # fmt: skip
        largest.append(float(np.abs(coc).max()))
    assert max(largest) > 60


@pytest.mark.parametrize(
    "value, needle",
    [
        ("[8, 200]", "aperture.sweep_f_numbers[1]: must be <= 128.0, got 200"),
        ("[0.4]", "aperture.sweep_f_numbers[0]: must be >= 0.5, got 0.4"),
        ("[8, 1.0]", "aperture.sweep_f_numbers[1]: 1 is wider than the f_number range's low"),
        ("[8, 4, 8.0]", "aperture.sweep_f_numbers[2]: 8 is listed twice"),
        ("[8, nan]", "aperture.sweep_f_numbers[1]: must be a finite number, got nan"),
        ("[inf]", "aperture.sweep_f_numbers[0]: must be a finite number, got inf"),
        ("[2.00001]", "aperture.sweep_f_numbers[0]: 2.00001 has more than 4 decimals"),
        ("8", "aperture.sweep_f_numbers: must be a list"),
        ('["f/8"]', "aperture.sweep_f_numbers[0]: must be a number"),
    ],
)
def test_a_bad_sweep_is_a_one_line_error(value, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, [f"aperture.sweep_f_numbers={value}"])
    msg = str(e.value)
    assert needle in msg and "\n" not in msg and msg.endswith("(from --set)"), msg


def test_the_sweep_bounds_and_the_render_count():
    ok = load_config(None, ["aperture.f_number=[0.5, 8]", "aperture.sweep_f_numbers=[128, 0.5]"])
    assert ok.aperture.sweep_f_numbers == [128.0, 0.5]  # stopped down past f_number: allowed
    full = ["aperture.renders_per_scene=254", "aperture.sweep_f_numbers=[2, 4]"]
    assert len(load_config(None, full).aperture.sweep_f_numbers) == 2
    with pytest.raises(ConfigError, match=r"renders_per_scene \+ sweep: 257 renders, over 256"):
        load_config(None, ["aperture.renders_per_scene=254", "aperture.sweep_f_numbers=[2, 4, 8]"])


def _benchmark(tier: str):
    return load_config(CONFIGS / f"benchmark_{tier}.toml")


def test_the_benchmark_configs_are_held_out_scenes_with_a_k_sweep(pool):
    small, full = _benchmark("small"), _benchmark("full")
    held, default = load_config(CONFIGS / "heldout.toml"), load_config()
    assert (small.render.resolution_px, full.render.resolution_px) == (128, 512)
    assert small.render.aspect == full.render.aspect == held.render.aspect
    for cfg in (small, full):  # samples, denoise, scene and camera as heldout.toml for now
        assert (cfg.render.samples, cfg.render.denoise) == (held.render.samples, True)
        assert cfg.scene == held.scene and cfg.camera == held.camera and cfg.split == held.split
        assert cfg.dataset_seed == 1000 not in (default.dataset_seed, held.dataset_seed, 2)
        assert cfg.aperture.renders_per_scene == 3 and cfg.aperture.sweep_f_numbers == []
        assert len(cfg.aperture.sweep_k) == 6
    assert full.aperture.sweep_k == [4 * k for k in small.aperture.sweep_k]  # K per frame width
    seed, val, test = small.dataset_seed, small.split.val, small.split.test
    assert {split_for(seed, i, val, test) for i in range(500)} == {"val"}
    for i in range(8):
        s = sample_scene(small, i, pool=pool)
        assert (s.width_px, s.height_px, len(s.dof), s.split) == (128, 128, 9, "val")
        ks = [k_synthetic(s.camera.focal_length_mm, d.f_number, s.camera.sensor_width_mm, 128)
              for d in s.dof[3:]]  # fmt: skip
        assert ks == pytest.approx(small.aperture.sweep_k, rel=1e-4)  # every scene's grid


def test_the_full_tier_renders_the_small_tiers_scenes_at_512_px(pool):
    """disc_px scales with the width, so every f-number, focus and aperture is the same."""
    small, full = _benchmark("small"), _benchmark("full")
    for i in range(8):
        a = sample_scene(small, i, pool=pool).to_dict()
        b = sample_scene(full, i, pool=pool).to_dict()
        assert (b["width_px"], b["height_px"]) == (512, 512)
        for d in (a, b):
            for key in ("width_px", "height_px", "dataset_id"):
                d.pop(key)
        assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_a_swept_scene_renders_every_sweep_render(tmp_path, run_synth):
    """A tiny Cycles render (32 px, 2 spp, the sweep at 3): one regular render and two sweep
    renders, each a manifest row at the first render's focus whose K follows the f-number."""
    out = tmp_path / "out"
    p = run_synth(
        "render", "--out", out, "--scenes", 1, "--resolution", 32, "--samples", 2,
        "--set", "scene.kinds.cards=0", "--set", "scene.kinds.textured=0",
        "--set", "aperture.renders_per_scene=1", "--set", "aperture.sweep_f_numbers=[8, 2]",
        "--set", "render.sweep_samples=3", "--quiet",
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    meta = json.loads((out / "scenes" / "000000" / "meta.json").read_text())
    rows = meta["rows"]
    assert [r["render_id"] for r in rows] == [0, 1, 2]
    assert [r["f_number"] for r in rows[1:]] == [8.0, 2.0]
    assert len({r["disp_focus"] for r in rows}) == 1
    assert rows[2]["k_genrefocus"] == pytest.approx(4 * rows[1]["k_genrefocus"])
    assert meta["spec"]["notes"]["sweep_first_dof"] == 1
    assert [r["render_samples"] for r in rows] == [2, 3, 3]  # the sweep at sweep_samples
    assert meta["render_settings"]["sweep_samples"] == 3
    for r in rows:
        assert (out / r["bokeh_path"]).stat().st_size > 0 and (out / r["coc_path"]).exists()


def test_a_set_recorded_before_the_sweep_key_existed_still_resumes(tmp_path):
    """``OUT/dataset.json`` written before ``aperture.sweep_f_numbers`` existed lacks the key:
    at its default (no sweep) that is the same dataset; a sweep is another one."""
    from synth.cli import DATASET_INDEX, PreflightError, check_same_dataset

    cfg = load_config(None)
    check_same_dataset(tmp_path, cfg, 1)  # records the settings
    index = tmp_path / DATASET_INDEX
    record = json.loads(index.read_text())
    del record["settings"]["aperture"]["sweep_f_numbers"]
    index.write_text(json.dumps(record))
    check_same_dataset(tmp_path, cfg, 1)  # the old record resumes
    index.write_text(json.dumps(record))
    swept = load_config(None, ["aperture.sweep_f_numbers=[8.0, 4.0]"])
    with pytest.raises(PreflightError, match=r"aperture.sweep_f_numbers: \[\] -> \[8.0, 4.0\]"):
        check_same_dataset(tmp_path, swept, 1)


def test_a_k_grid_sweep_gives_every_scene_the_same_k_through_its_own_lens(pool):
    """``sweep_k``: the f-number of each render is the one that gives the listed K with the
    scene's focal length and sensor (4 decimals, 6 below f/1), so K is within 1e-4 of the grid
    in every scene; the regular renders and everything else are the spec without a sweep."""
    grid = [0.5, 2.0, 16.0]
    base = load_config(resolution_px=96)
    cfg = load_config(resolution_px=96, overrides=[f"aperture.sweep_k={grid}"])
    numbers = set()
    for i in range(30):
        plain, s = sample_scene(base, i, pool=pool), sample_scene(cfg, i, pool=pool)
        cam = s.camera
        assert s.dof[:3] == plain.dof and s.notes.pop("sweep_first_dof") == 3
        assert all(_lens(d) == _lens(plain.dof[0]) for d in s.dof[3:])
        ks = [
            k_synthetic(cam.focal_length_mm, d.f_number, cam.sensor_width_mm, 96) for d in s.dof[3:]
        ]
        assert ks == pytest.approx(grid, rel=1e-4)
        numbers.update(d.f_number for d in s.dof[3:])
    assert min(numbers) < 1.0 < 64.0 < max(numbers)  # past real lenses both ways, exact still


def test_sweep_f_number_inverts_k_and_rounds_to_what_a_spec_stores():
    assert sweep_f_number(1.0, 50.0, 36.0, 128) == round(50 * 50 * 128 / (2000 * 36), 4)
    n = sweep_f_number(40.0, 24.0, 36.0, 128)
    assert (
        n < 1
        and n == round(n, 6)
        and k_synthetic(24.0, n, 36.0, 128) == pytest.approx(40, rel=1e-4)
    )


@pytest.mark.parametrize(
    "value, needle",
    [
        ("[1, 1]", "aperture.sweep_k[1]: 1 is not above 1"),
        ("[2, 1]", "aperture.sweep_k[1]: 1 is not above 2"),
        ("[0.01]", "aperture.sweep_k[0]: must be >= 0.05, got 0.01"),
        ("[1, nan]", "aperture.sweep_k[1]: must be a finite number, got nan"),
        ("[1000]", "aperture.sweep_k[0]: must be <= 500.0, got 1000"),
    ],
)
def test_a_bad_k_grid_is_a_one_line_error(value, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, [f"aperture.sweep_k={value}"])
    msg = str(e.value)
    assert needle in msg and "\n" not in msg, msg


def test_a_sweep_is_f_numbers_or_a_k_grid_not_both():
    with pytest.raises(ConfigError, match="set sweep_f_numbers or sweep_k, not both"):
        load_config(None, ["aperture.sweep_f_numbers=[8]", "aperture.sweep_k=[1]"])


def test_a_sweeps_renders_take_sweep_samples_and_the_others_samples(pool):
    from synth.settings import RenderSettings, dof_samples

    cfg = load_config(CONFIGS / "benchmark_small.toml")
    spec = sample_scene(cfg, 0, pool=pool)
    got = [dof_samples(32, 64, spec, i) for i in range(len(spec.dof))]
    assert got == [32] * 3 + [64] * 6
    assert RenderSettings().sweep_samples == 0  # the default
    assert dof_samples(32, 0, spec, 5) == 32  # 0: the samples
    plain = sample_scene(load_config(), 0, pool=pool)  # no sweep: every render at samples
    assert {dof_samples(32, 64, plain, i) for i in range(len(plain.dof))} == {32}
