"""A scene's emitter list for the controllability zone (train.evaluate.emitters): projected as
synth draws the discs, read from the scene's meta.json, bad files in one line."""

import json

import numpy as np
import pytest

from synth.highlight_splat import LensView, footprint
from train.evaluate.control import emitter_zone
from train.evaluate.emitters import emitters_from_spec, read_emitters

SPEC = {
    "camera": {"focal_length_mm": 50.0, "sensor_width_mm": 36.0},
    "highlights": [
        {"location_m": [0.3, -0.2, -4.0], "radius_m": 0.02},
        {"location_m": [0.0, 0.0, 2.0], "radius_m": 0.02},  # behind the camera: left out
    ],
}


def test_projection_is_synths():
    """The pinhole centre and radius are the ones synth's disc splat uses (at any width)."""
    em = emitters_from_spec(SPEC, 128, 96)
    assert em.shape == (1, 4)
    view = LensView(0.05, 0.036, 128, 96, 2.0, 2.0)
    fp = footprint(view, (0.3, -0.2, -4.0), 0.02)
    col, row, disp, r = em[0]
    assert col == pytest.approx(fp.centre_px[0] + 64)
    assert row == pytest.approx(48 - fp.centre_px[1])
    assert disp == pytest.approx(0.25)
    assert r == pytest.approx(0.02 * 0.05 / (4.0 * 0.036 / 128))
    zone = emitter_zone((96, 128), em, disp_focus=0.5, k_max=20.0)
    reach = 20.0 * 0.25 + r + 2
    assert zone[int(row), int(col)] and zone.sum() == pytest.approx(np.pi * reach**2, rel=0.1)


def test_read_from_the_scene_folder(tmp_path):
    scene = tmp_path / "scenes" / "000000"
    scene.mkdir(parents=True)
    row = {"aif_path": "scenes/000000/aif.png", "_root": str(tmp_path)}
    assert read_emitters(row, 128, 96) is None  # no meta.json: no list
    (scene / "meta.json").write_text(json.dumps({"spec": SPEC}))
    assert read_emitters(row, 128, 96).shape == (1, 4)
    bad = dict(SPEC, highlights=[{"location_m": [0.0, "x", -1.0], "radius_m": 0.1}])
    for text in (json.dumps({"spec": bad}), "{not json", json.dumps({"spec": {}})):
        (scene / "meta.json").write_text(text)
        with pytest.raises(OSError) as e:
            read_emitters(row, 128, 96)
        msg = str(e.value)
        assert msg.startswith("scenes/000000/meta.json: not a scene meta.json") and "\n" not in msg
    nan = dict(SPEC, highlights=[{"location_m": [0.0, 0.0, -1.0], "radius_m": float("nan")}])
    (scene / "meta.json").write_text(json.dumps({"spec": nan}))
    with pytest.raises(OSError, match="radius_m must be a finite number > 0"):
        read_emitters(row, 128, 96)
