"""Scene specs as data: the JSON round trip, with and without a shaped aperture, specs written
before shaped apertures (spec version 2, no ``aperture`` key) read as Cycles' own, and the
manifest rows a spec's renders give."""

import json

from manifests import read_table, validate_path, write_part
from optics.aperture import parse_shape
from synth.config import load_config
from synth.sampling import sample_scene
from synth.spec import SPEC_VERSION, DofSpec, SceneSpec
from synth.worker import manifest_rows


def _specs(probability: float, ids) -> list[SceneSpec]:
    """Procedural scenes (no photo pool), shaped with ``probability``."""
    sets = ["scene.kinds.cards=0", "scene.kinds.textured=0"]
    sets.append(f"aperture.shaped_scene_probability={probability}")
    cfg = load_config(resolution_px=64, overrides=sets)
    return [sample_scene(cfg, i) for i in ids]


def test_json_round_trip_with_and_without_a_shaped_aperture():
    assert SPEC_VERSION == 3
    for spec in [*_specs(0.0, range(5)), *_specs(1.0, range(5))]:
        text = spec.to_json()
        back = SceneSpec.from_json(text)
        assert back == spec and back.spec_hash == spec.spec_hash and back.to_json() == text
        for d in json.loads(text)["dof"]:
            assert "aperture" in d
            if d["aperture"] is not None:
                assert parse_shape(d["aperture"]).rotation_deg == d["rotation_deg"]


def test_a_version_2_spec_reads_as_cycles_own_aperture():
    [spec] = _specs(0.0, [0])
    old = spec.to_dict()
    old["spec_version"] = 2
    for d in old["dof"]:
        del d["aperture"]
    back = SceneSpec.from_json(json.dumps(old))
    assert back.spec_version == 2 and all(d.aperture is None for d in back.dof)
    assert back.dof == spec.dof


def test_a_shaped_aperture_is_part_of_the_hash():
    [spec] = _specs(0.0, [0])
    shaped = SceneSpec.from_dict(spec.to_dict())
    shaped.dof[0] = DofSpec(spec.dof[0].f_number, spec.dof[0].focus_distance_m, 0, 0.0, 1.0)
    before = shaped.spec_hash
    shaped.dof[0].aperture = "heart"
    assert shaped.spec_hash != before


def test_rows_name_the_shape_and_its_kernel_file(tmp_path):
    """``render_scene`` returns ``dof_KK_kernel`` only for shaped renders; the rows carry it as
    ``aperture_kernel_path`` and the label as ``aperture_shape_id`` (both None otherwise)."""
    rows = []
    for spec in [*_specs(0.0, [0, 1]), *_specs(1.0, [2, 3])]:
        files = {"aif": "aif.png"}
        for k, d in enumerate(spec.dof):
            files[f"dof_{k:02d}"] = f"dof_{k:02d}.png"
            if d.aperture is not None:
                files[f"dof_{k:02d}_kernel"] = f"dof_{k:02d}_kernel.png"
        rows += manifest_rows(spec, files, {"samples": 4}, "4.5.0")
    write_part(rows, tmp_path, "synthetic_pairs", 0)
    assert validate_path(tmp_path).ok
    got = read_table(tmp_path, "synthetic_pairs").to_pylist()
    assert got == rows
    shaped = [r for r in got if r["aperture_shape_id"] is not None]
    assert len(shaped) == len(got) // 2
    for r in got:
        base = f"scenes/{r['scene_id']:06d}"
        if r["aperture_shape_id"] is None:
            assert r["aperture_kernel_path"] is None
        else:
            assert r["aperture_kernel_path"] == f"{base}/dof_{r['render_id']:02d}_kernel.png"
            shape = parse_shape(r["aperture_shape_id"])
            assert (r["aperture_blades"], r["aperture_ratio"]) == (0, 1.0)
            assert r["aperture_rotation_deg"] == shape.rotation_deg
