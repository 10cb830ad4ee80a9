"""The real-photo route on real JPEGs with camera EXIF: K from EXIF with S = 1/disp_focus."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import optics
from infra.images import decode_photo
from manifests import write_part
from train.data.build import draw_geometry, load_rows
from train.data.config import DataConfig
from train.data.depth import TransformersDepth
from train.data.real_route import build_real_sample, prepare_real


def _exif_row(path: Path, uri: str, **override) -> dict:
    """A real_photos row from the file's own EXIF (PIL), sensor width by optics."""
    with Image.open(path) as im:
        exif = im.getexif()
        sub = exif.get_ifd(0x8769)
        w, h = im.size
    f_number = float(sub[33437]) if 33437 in sub else None
    focal = float(sub[37386]) if 37386 in sub else None
    f35 = float(sub[41989]) if 41989 in sub else None
    sensor = optics.sensor_width_from_exif(
        focal_length_mm=focal, focal_length_35mm=f35, make=exif.get(271), model=exif.get(272)
    )
    row = {
        "uri": uri,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "width_px": w,
        "height_px": h,
        "make": exif.get(271),
        "model": exif.get(272),
        "f_number": f_number,
        "focal_length_mm": focal,
        "focal_length_35mm": f35,
        "sensor_width_mm": sensor.width_mm,
        "sensor_width_source": sensor.source,
        "split": "train",
    }
    row.update(override)
    return row


@pytest.fixture(scope="module")
def real_manifest(tmp_path_factory, synth_rows, camera_exif_dir):
    root = tmp_path_factory.mktemp("real") / "photos"
    (root / "img").mkdir(parents=True)
    rows = []
    for r in synth_rows[:6:2]:  # three synth DoF JPEGs (Make refocus-synth, f35 -> crop)
        name = r["bokeh_jpeg_path"].replace("/", "_")
        shutil.copy(Path(r["_root"]) / r["bokeh_jpeg_path"], root / "img" / name)
        rows.append(_exif_row(root / "img" / name, f"img/{name}"))
    for name in ("Canon_40D.jpg", "corrupted.jpg", "xmp__no_exif.jpg"):
        shutil.copy(camera_exif_dir / name, root / "img" / name)
        rows.append(_exif_row(root / "img" / name, f"img/{name}"))
    (root / "img" / "broken.jpg").write_bytes(b"not a jpeg at all")
    rows.append(_exif_row(root / "img" / "Canon_40D.jpg", "img/broken.jpg", sha256="0" * 64))
    # ground-truth depth 3 cm in front of a 49.5 mm lens: the focus lies inside f
    np.save(root / "img" / "near.npy", np.full((64, 64), 0.03, np.float32))
    first = rows[0]  # the same photo under another name (a manifest names each file once)
    shutil.copy(root / first["uri"], root / "img" / "near.jpg")
    rows.append(dict(first, uri="img/near.jpg", depth_path="img/near.npy", sha256="1" * 64))
    write_part(rows, str(root), "real_photos", 0, created_by="test")
    return str(root)


def test_prepare_real_derives_k_from_exif(real_manifest, tiny_depth_model, tmp_path):
    rows = load_rows([real_manifest], "real_photos")
    assert len(rows) == 8 and all(r["_root"] == real_manifest for r in rows)
    cfg = DataConfig(task="bokeh", resolution_px=32)
    calls = []

    def identity(x):
        calls.append(tuple(x.shape))
        return x

    est = TransformersDepth(tiny_depth_model)
    prepared, skipped = prepare_real(rows, cfg, identity, est, str(tmp_path), deblur_id="identity")
    assert skipped == {
        "no_sensor_width": 1,  # corrupted.jpg: OLYMPUS u1020, no 35 mm focal length
        "no_f_number": 1,  # xmp__no_exif.jpg
        "unreadable": 1,  # broken.jpg
        "focus_inside_focal_length": 1,  # ground-truth depth 3 cm < f = 49.5 mm
    }
    assert [p["id"] for p in prepared] == [r["uri"] for r in rows[:4]]
    assert len(calls) == 5  # the 4 prepared + the ground-truth row skipped after its pseudo-AIF
    for item, row in zip(prepared, rows[:4], strict=True):
        photo = decode_photo((Path(real_manifest) / row["uri"]).read_bytes())
        long_edge = max(photo.shape[:2])
        assert item["long_edge_px_original"] == long_edge
        assert item["focus_distance_m"] == pytest.approx(1.0 / item["disp_focus"])
        k = optics.k_exif(
            row["focal_length_mm"],
            row["f_number"],
            1.0 / item["disp_focus"],
            row["sensor_width_mm"],
            long_edge,
        )
        assert item["k_original"] == pytest.approx(float(k), rel=1e-12)
        assert item["k"] == pytest.approx(
            float(optics.rescale_k(k, photo.shape[1], item["width_px"])), rel=1e-12
        )
        assert min(item["width_px"], item["height_px"]) == cfg.work_short_px() == 54
        disparity = np.load(item["disparity_path"])
        assert disparity.shape == (item["height_px"], item["width_px"])
        assert 0.1 < item["disp_focus"] < 20.0  # 1/depth of a 0.05-10 m model
    canon = prepared[3]
    assert (canon["f_number"], canon["focal_length_mm"], canon["sensor_width_mm"]) == (
        7.1,
        135.0,
        22.2,
    )

    # second run: the pseudo-AIF and depth come from the cache; a new deblur_id recomputes
    again, _ = prepare_real(rows, cfg, identity, est, str(tmp_path), deblur_id="identity")
    assert len(calls) == 5
    assert [p["k"] for p in again] == [p["k"] for p in prepared]
    prepare_real(rows[:1], cfg, identity, est, str(tmp_path), deblur_id="other")
    assert len(calls) == 6


def test_real_samples_share_the_layout(real_manifest, tiny_depth_model):
    rows = load_rows([real_manifest], "real_photos")[:2]
    cfg = DataConfig(task="bokeh", resolution_px=32)
    prepared, skipped = prepare_real(
        rows, cfg, lambda x: x, TransformersDepth(tiny_depth_model), None, deblur_id="identity"
    )
    assert skipped == {} and "photo" in prepared[0]  # kept in memory without a cache
    for train in (False, True):
        s = build_real_sample(prepared[0], cfg, np.random.default_rng(4), train)
        assert s["source"] == "real" and s["target"].shape == (3, 32, 32)
        assert torch.equal(s["cond"][0], s["target"])  # identity deblur: pseudo-AIF = photo
        want = optics.defocus_map(s["disparity"][0].numpy(), s["disp_focus"], s["k"])
        np.testing.assert_array_equal(s["cond"][1].permute(1, 2, 0).numpy(), want)
    s = build_real_sample(prepared[0], cfg, None, False)
    g = draw_geometry(None, prepared[0]["width_px"], prepared[0]["height_px"], cfg, train=False)
    assert s["k"] == pytest.approx(
        prepared[0]["k"] * g.width_px / prepared[0]["width_px"], rel=1e-12
    )
    with pytest.raises(ValueError, match="BokehNet only"):
        build_real_sample(prepared[0], DataConfig(task="deblur"), None, False)
    with pytest.raises(ValueError, match="needs deblur_id"):
        prepare_real(rows, cfg, lambda x: x, None, None)


def test_exif_orientation_is_applied(camera_exif_dir):
    data = (camera_exif_dir / "orientation__landscape_6.jpg").read_bytes()
    with Image.open(camera_exif_dir / "orientation__landscape_6.jpg") as im:
        stored = im.size
    assert stored == (450, 600)
    assert decode_photo(data).shape == (450, 600, 3)  # rotated: 600 wide, 450 tall
