"""The pure scene sampler: deterministic per (dataset_seed, scene_id), within the config."""

import numpy as np
import pytest

from optics import coc_cycles_px
from synth.config import load_config
from synth.sampling import look_at_euler_deg, sample_scene, split_for
from synth.shard import scene_ids
from synth.spec import SceneSpec


@pytest.fixture(scope="module")
def cfg():
    return load_config(resolution_px=256)


@pytest.fixture(scope="module")
def specs(cfg, pool):
    return [sample_scene(cfg, i, pool=pool) for i in range(120)]


def test_same_id_same_spec_whatever_the_sharding(cfg, pool):
    for n in (1, 3, 7):
        for k in range(n):
            for i in scene_ids(20, k, n):
                assert (
                    sample_scene(cfg, i, pool=pool).spec_hash
                    == sample_scene(cfg, i, pool=pool).spec_hash
                )
    a, b = sample_scene(cfg, 5, pool=pool), sample_scene(cfg, 5, pool=pool)
    assert a.to_json() == b.to_json()
    assert sample_scene(cfg, 5, pool=pool).spec_hash != sample_scene(cfg, 6, pool=pool).spec_hash


def test_dataset_seed_changes_the_scenes(cfg, pool):
    other = load_config(resolution_px=256)
    other.dataset_seed = 1
    assert sample_scene(other, 5, pool=pool).spec_hash != sample_scene(cfg, 5, pool=pool).spec_hash


def test_json_round_trip_keeps_the_hash(specs):
    for s in specs[:20]:
        back = SceneSpec.from_json(s.to_json())
        assert back == s and back.spec_hash == s.spec_hash


def test_camera_and_apertures_follow_the_config(specs):
    sensors = set()
    for s in specs:
        cam = s.camera
        sensors.add(cam.sensor_name)
        # f is derived from an integer 35 mm equivalent, so EXIF round-trips exactly
        assert cam.focal_length_mm == pytest.approx(
            cam.focal_length_35mm * cam.sensor_width_mm / 36
        )
        assert 17.5 <= cam.focal_length_mm <= 136.5
        assert len(s.dof) >= 3
        for d in s.dof:
            assert 1.2 - 1e-9 <= d.f_number <= 8.0 + 1e-9
            assert d.blades == 0 or 5 <= d.blades <= 9
            assert d.ratio == 1.0 or 1.2 <= d.ratio <= 2.0
        assert len(s.highlights) == 0 or 10 <= len(s.highlights) <= 200
        if s.kind == "cards":
            assert 2 <= len(s.objects) - 1 <= 6  # plus the backdrop
        else:
            assert 8 <= len(s.objects) - 2 <= 24  # plus ground and backdrop
    assert 0.1 < np.mean([not s.highlights for s in specs]) < 0.3  # no_highlights_probability
    assert sensors == {"full_frame", "aps_c", "mft", "one_inch"}
    ratios = [d.ratio for s in specs for d in s.dof]
    assert 0.8 < np.mean(np.array(ratios) == 1.0) < 1.0  # mostly 1, sometimes anamorphic
    blades = [d.blades for s in specs for d in s.dof]
    assert 0.3 < np.mean(np.array(blades) == 0) < 0.7


def test_focus_keeps_the_largest_disc_in_view_within_2_to_60_px(specs):
    inside = []
    for s in specs:
        depths = [-o.location_m[2] for o in s.objects] + [-h.location_m[2] for h in s.highlights]
        cam = s.camera
        for d in s.dof:
            c = coc_cycles_px(
                cam.focal_length_mm,
                d.f_number,
                d.focus_distance_m,
                np.array(depths),
                cam.sensor_width_mm,
                s.width_px,
            )
            inside.append(2 <= np.abs(c).max() <= 60 * 1.01)
    assert np.mean(inside) > 0.9


def test_splits_are_by_scene_and_deterministic():
    splits = [split_for(0, i, 0.05, 0.05) for i in range(4000)]
    assert splits == [split_for(0, i, 0.05, 0.05) for i in range(4000)]
    frac = {k: splits.count(k) / len(splits) for k in ("train", "val", "test")}
    assert 0.87 < frac["train"] < 0.93 and 0.03 < frac["val"] < 0.07 and 0.03 < frac["test"] < 0.07


def test_look_at_points_minus_z_at_the_target():
    import math

    rx, ry, rz = (math.radians(a) for a in look_at_euler_deg((1, 2, -1), (0, 0, -5)))
    cx, sx, cy, sy, cz, sz = (
        math.cos(rx),
        math.sin(rx),
        math.cos(ry),
        math.sin(ry),
        math.cos(rz),
        math.sin(rz),
    )
    rot = (
        np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    )
    forward = rot @ np.array([0, 0, -1.0])
    want = np.array([-1, -2, -4.0]) / np.linalg.norm([-1, -2, -4.0])
    np.testing.assert_allclose(forward, want, atol=1e-9)
