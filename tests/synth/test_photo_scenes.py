"""Photographic scenes: the photo pool, the kinds' sampler, their renders and their labels.

The pool is read once (decoded, skipped photos counted with a reason, its hash from content
only); the sampler draws kinds by weight, deterministically from (seed, id, pool hash); and a
rendered "cards" scene's depth pass equals the planar depth of a ray cast against the cards and
the backdrop in numpy, silhouettes included, to 0.5 %.
"""

import json
import math
import os
import shutil
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from manifests import read_table, write_part
from manifests.example import real_photo_rows
from manifests.validate import validate_path
from synth.config import load_config
from synth.pool import EMBEDDED_PHOTOS, PoolError, crop_pixels, load_pool
from synth.sampling import sample_scene
from synth.settings import RenderSettings


def _photos(folder, n=4, size=(48, 32), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        arr = (rng.random((size[1], size[0], 3)) * 255).astype("uint8")
        Image.fromarray(arr).save(folder / f"p{i}.png")
    return folder


def test_the_embedded_pool_is_the_eight_scikit_image_photos(pool):
    assert len(pool.photos) == 8 and not pool.skipped
    assert sorted(p.uri.rsplit("/", 1)[1] for p in pool.photos) == sorted(EMBEDDED_PHOTOS)
    assert [p.photo_id for p in pool.photos] == sorted(p.photo_id for p in pool.photos)
    assert load_pool(None).pool_hash == pool.pool_hash


def test_a_folder_pool_skips_bad_photos_with_a_reason_and_hashes_content(tmp_path):
    folder = _photos(tmp_path / "a", n=4)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (folder / "notes.txt").write_text("not a photo: not counted")
    shutil.copy(folder / "p0.png", folder / "same-as-p0.png")
    p = load_pool(str(folder))
    assert len(p.photos) == 4 and p.duplicates == 1
    assert [(u.rsplit("/", 1)[1], r.split(" ")[0]) for u, r in p.skipped] == [
        ("broken.jpg", "decode_failed")
    ]
    assert p.summary()["skipped_reasons"] == {"decode_failed": 1}
    # the same content under other names and folders is the same pool
    other = tmp_path / "b" / "deeper"
    other.mkdir(parents=True)
    for i, q in enumerate(sorted(folder.glob("p*.png"))):
        shutil.copy(q, other / f"renamed{i}.png")
    assert load_pool(str(tmp_path / "b")).pool_hash == p.pool_hash
    (other / "renamed0.png").write_bytes((folder / "p0.png").read_bytes() + b"x")  # new content
    assert load_pool(str(tmp_path / "b")).pool_hash != p.pool_hash


def test_links_leaving_the_pool_folder_are_not_followed(tmp_path):
    outside = _photos(tmp_path / "outside", n=1, seed=5)
    folder = _photos(tmp_path / "pool", n=2)
    (folder / "escape.png").symlink_to(outside / "p0.png")
    (folder / "inside.png").symlink_to(folder / "p1.png")
    p = load_pool(str(folder))
    assert len(p.photos) == 2 and p.duplicates == 1
    assert not any("outside" in x.uri for x in p.photos)
    # every name is accounted for in pool.json: used, skipped with a reason, or a duplicate
    p.write_index(tmp_path / "pool.json")
    index = json.loads((tmp_path / "pool.json").read_text())
    [dup] = index["duplicate_list"]
    assert {dup["uri"].rsplit("/", 1)[1], dup["same_as"].rsplit("/", 1)[1]} == {
        "inside.png",
        "p1.png",
    }
    listed = index["photo_list"] + index["skipped_list"] + index["duplicate_list"]
    assert len(listed) == 4  # p0, p1, escape, inside


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d, "no photos in it"),
        (lambda d: d / "missing", "no such folder or manifest"),
        (
            lambda d: (
                [(d / f"x{i}.jpg").write_bytes(b"garbage") for i in range(3)]
                and _photos(d, n=1)
                and d
            ),
            "3 of 4 photos cannot be used; first: ",
        ),
    ],
)
def test_an_unusable_pool_is_one_line_naming_it(tmp_path, make, message):
    folder = tmp_path / "pool"
    folder.mkdir()
    with pytest.raises(PoolError, match=message) as e:
        load_pool(str(make(folder)))
    assert "\n" not in str(e.value) and str(make(folder)) in str(e.value)


def _real_photos_manifest(root, names):
    rows = [dict(real_photo_rows()[0], uri=name) for name in names]
    write_part(rows, root, "real_photos", 0, created_by="test")
    return root


def test_a_real_photos_manifest_is_a_pool_read_through_validation(tmp_path):
    root = tmp_path / "curated"
    _photos(root / "photos", n=3)
    _real_photos_manifest(root, [f"photos/p{i}.png" for i in range(3)])
    p = load_pool(str(root))
    assert len(p.photos) == 3 and all(x.uri.startswith("file://") for x in p.photos)
    assert p.pool_hash == load_pool(str(root / "photos")).pool_hash  # same content
    # a manifest that names a file outside its root is refused where it is read
    bad = tmp_path / "bad"
    _photos(bad / "photos", n=1)
    table = read_table(root, "real_photos").to_pylist()[:1]
    table[0]["uri"] = "../outside/x.png"
    with pytest.raises(Exception, match="escapes the manifest root"):
        write_part(table, bad, "real_photos", 0, created_by="test")
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = root / "real_photos" / "part-00000.parquet"
    t = pq.read_table(part)
    uris = t.column("uri").to_pylist()
    uris[0] = "../../etc/passwd"
    t = t.set_column(t.column_names.index("uri"), "uri", pa.array(uris))
    pq.write_table(t, part)
    with pytest.raises(PoolError, match="escapes the manifest root"):
        load_pool(str(root))


def test_crops_are_the_asked_region_at_most_max_px():
    image = np.arange(40 * 60 * 3, dtype=np.uint32).reshape(40, 60, 3).astype(np.uint8)
    part = crop_pixels(image, (0.5, 0.25, 1.0, 0.75), 100)
    assert part.shape == (20, 30, 3) and (part == image[10:30, 30:60]).all()
    assert crop_pixels(image, (0, 0, 1, 1), 30).shape == (20, 30, 3)


@pytest.fixture(scope="module")
def cfg():
    return load_config(resolution_px=128)


def test_kinds_follow_their_weights_and_depend_on_the_pool(cfg, pool, tmp_path):
    specs = [sample_scene(cfg, i, pool=pool) for i in range(400)]
    share = Counter(s.kind for s in specs)
    assert abs(share["procedural"] / 400 - 0.2) < 0.06
    assert abs(share["cards"] / 400 - 0.4) < 0.07 and abs(share["textured"] / 400 - 0.4) < 0.07
    assert {s.pool_hash for s in specs} == {pool.pool_hash}
    ids = {p.photo_id for p in pool.photos}
    for s in specs:
        assert set(s.photo_ids) <= ids
        assert bool(s.photo_ids) == (s.kind != "procedural")
    other = load_pool(str(_photos(tmp_path / "other", n=3)))
    assert sample_scene(cfg, 7, pool=other).spec_hash != sample_scene(cfg, 7, pool=pool).spec_hash
    assert sample_scene(cfg, 7, pool=pool).spec_hash == specs[7].spec_hash
    only = load_config(resolution_px=128, overrides=["scene.kinds.cards=0"])
    assert "cards" not in {sample_scene(only, i, pool=pool).kind for i in range(60)}
    procedural = load_config(overrides=["scene.kinds.cards=0", "scene.kinds.textured=0"])
    assert sample_scene(procedural, 3).pool_hash is None  # needs no pool
    with pytest.raises(ValueError, match="need a photo pool"):
        sample_scene(cfg, 3)


def test_cards_fill_the_view_and_crops_keep_the_photo_undistorted(cfg, pool):
    specs = [s for s in (sample_scene(cfg, i, pool=pool) for i in range(200)) if s.kind == "cards"]
    assert len(specs) > 40
    silhouettes = 0
    for s in specs:
        tan_h = s.camera.sensor_width_mm / 2 / s.camera.focal_length_mm
        tan_v = tan_h * s.height_px / s.width_px
        back, cards = s.objects[0], s.objects[1:]
        z_back = -back.location_m[2]
        assert back.size_m[0] >= 2.5 * z_back * tan_h and back.size_m[1] >= 2.5 * z_back * tan_v
        assert 2 <= len(cards) <= 6
        for o in [back, *cards]:
            m = o.material
            photo = pool.by_id[m.photo_id]
            x0, y0, x1, y1 = m.crop
            assert 0 <= x0 < x1 <= 1 + 1e-6 and 0 <= y0 < y1 <= 1 + 1e-6
            crop_aspect = (x1 - x0) * photo.width_px / ((y1 - y0) * photo.height_px)
            assert crop_aspect == pytest.approx(o.size_m[0] / o.size_m[1], rel=1e-3)
            assert m.projection == "flat" and m.tile_scale == (1.0, 1.0, 1.0)
        for o in cards:
            assert s.notes is not None and 0.6 * 0.99 <= -o.location_m[2] <= z_back * 0.8
            if o.outline_xy:
                silhouettes += 1
                xy = np.array(o.outline_xy)
                assert np.abs(xy).max() <= 0.5 + 1e-6 and len(xy) >= 16
                area = 0.5 * np.sum(
                    xy[:, 0] * np.roll(xy[:, 1], -1) - np.roll(xy[:, 0], -1) * xy[:, 1]
                )
                assert area > 0.3  # counter-clockwise (normal towards the camera), not a sliver
    n_cards = sum(len(s.objects) - 1 for s in specs)
    assert 0.35 < silhouettes / n_cards < 0.65


def test_textured_objects_use_square_crops_scaled_by_their_metric_size(cfg, pool):
    specs = [
        s for s in (sample_scene(cfg, i, pool=pool) for i in range(80)) if s.kind == "textured"
    ]
    assert specs
    for s in specs:
        *things, ground, wall = s.objects
        for o in things:
            m = o.material
            photo = pool.by_id[m.photo_id]
            x0, y0, x1, y1 = m.crop
            assert (x1 - x0) * photo.width_px == pytest.approx(
                (y1 - y0) * photo.height_px, rel=1e-3
            )
            side = max(o.size_m)
            assert m.projection == "box"
            assert m.tile_scale == pytest.approx(tuple((v or side) / side for v in o.size_m))
        assert ground.material.texture == "photo" and ground.material.tile_scale[0] > 1
        assert wall.material.projection == "flat"


def _planar_depth_of_planes(spec) -> np.ndarray:
    """Numpy ray cast: per pixel centre, the planar depth of the nearest plane (rectangle or
    outline) of ``spec`` (d_z = -1, so the depth is the ray parameter) and its index; inf and
    -1 where none is hit."""
    from matplotlib.path import Path as Polygon

    w, h = spec.width_px, spec.height_px
    tan_h = spec.camera.sensor_width_mm / 2 / spec.camera.focal_length_mm
    tan_v = tan_h * h / w
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    d = np.stack([(2 * jj / w - 1) * tan_h, (1 - 2 * ii / h) * tan_v, -np.ones_like(jj)], -1)
    best, which = np.full((h, w), np.inf), np.full((h, w), -1)
    for n, o in enumerate(spec.objects):
        rx, ry, rz = (math.radians(a) for a in o.rotation_deg)
        cx, sx, cy, sy, cz, sz = (f(a) for a in (rx, ry, rz) for f in (math.cos, math.sin))
        r_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        r_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        r_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        rot = r_z @ r_y @ r_x  # Blender's XYZ Euler
        p0, normal = np.array(o.location_m), rot[:, 2]
        t = (normal @ p0) / (d @ normal)
        local = ((t[..., None] * d - p0) @ rot)[..., :2] / np.array(o.size_m[:2])
        if o.outline_xy:
            inside = Polygon(np.array(o.outline_xy)).contains_points(local.reshape(-1, 2))
            inside = inside.reshape(h, w)
        else:
            inside = (np.abs(local) <= 0.5).all(-1)
        hit = inside & (t > 0)
        nearer = hit & (t < best)
        best, which = np.where(nearer, t, best), np.where(nearer, n, which)  # planar depth = t
    return best, which


def test_a_cards_scene_has_exact_planar_depth_at_silhouette_edges_too(tmp_path, pool):
    from synth.blender.render import render_scene
    from synth.pool import PhotoCache

    cfg = load_config(resolution_px=96, overrides=["scene.kinds.procedural=0"])
    spec = next(
        s
        for s in (sample_scene(cfg, i, pool=pool) for i in range(200))
        if s.kind == "cards" and sum(o.outline_xy is not None for o in s.objects) >= 2
    )
    spec.dof, spec.highlights = spec.dof[:1], []  # highlight spheres are not planes
    res = render_scene(
        spec, tmp_path, RenderSettings(samples=1, denoise=False), None, PhotoCache(pool)
    )
    depth, (truth, which) = res.depth_m, _planar_depth_of_planes(spec)
    # away from edges (a 3x3 neighbourhood on one surface), the pass is the ray cast to 0.5 %
    pad = np.pad(which, 1, mode="edge")
    h, w = which.shape
    same = [pad[i : i + h, j : j + w] == which for i in range(3) for j in range(3)]
    interior = np.isfinite(truth) & np.all(same, axis=0)
    assert interior.mean() > 0.8
    rel = np.abs(depth[interior] / truth[interior] - 1)
    assert rel.max() < 5e-3, rel.max()
    # a silhouette is a real depth edge: the card's and the backdrop's depths meet in the pass
    z_back = -spec.objects[0].location_m[2]
    assert (np.abs(depth / z_back - 1) < 5e-3).mean() > 0.05


@pytest.fixture(scope="module")
def photo_render(tmp_path_factory, run_synth):
    """One CLI run with the embedded pool: 6 scenes at 48 px, 2 spp (every kind appears)."""
    out = tmp_path_factory.mktemp("photo") / "out"
    p = run_synth(
        "render", "--out", out, "--scenes", 6, "--resolution", 48, "--samples", 2, "--quiet"
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return out, p


def test_rows_record_kind_and_source_photos_and_show_displays_them(photo_render, pool, run_synth):
    import subprocess
    import sys

    out, p = photo_render
    assert "photo pool: 8 photo(s) from embedded" in p.stderr
    assert validate_path(out).ok
    index = json.loads((out / "pool.json").read_text())
    assert index["pool_hash"] == pool.pool_hash and len(index["photo_list"]) == 8
    rows = read_table(out, "synthetic_pairs").to_pylist()
    assert {r["scene_kind"] for r in rows} == {"procedural", "cards", "textured"}
    cfg = load_config(resolution_px=48, samples=2)
    for r in rows:
        spec = sample_scene(cfg, r["scene_id"], pool=pool)
        assert r["spec_hash"] == spec.spec_hash and r["scene_kind"] == spec.kind
        assert r["source_photos"] == spec.photo_ids
    shown = subprocess.run(
        [sys.executable, "-m", "manifests", "show", str(out / "synthetic_pairs"), "--rows", "6"],
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "source_photos" in shown.stdout and "source photos:" in shown.stdout
    used = {pid for r in rows for pid in r["source_photos"]}
    for pid in used:  # each photo with the file it was read from (pool.json)
        line = next(x for x in shown.stdout.splitlines() if x.strip().startswith(pid))
        assert line.endswith(pool.by_id[pid].uri)


def test_labels_equal_optics_on_every_kind(photo_render):
    from synth.spec import SceneSpec
    from synth.worker import coc_map_px

    out, _ = photo_render
    for d in sorted((out / "scenes").iterdir()):
        meta = json.loads((d / "meta.json").read_text())
        spec = SceneSpec.from_dict(meta["spec"])
        depth = np.load(d / "depth.npy")
        for k in range(len(spec.dof)):
            np.testing.assert_array_equal(
                np.load(d / f"coc_{k:02d}.npy"), coc_map_px(spec, depth, k)
            )
        aif = np.asarray(Image.open(d / "aif.png"))
        assert aif.std() > 3  # the photos show: not a blank frame


def test_another_pool_into_the_same_out_is_refused(photo_render, run_synth, tmp_path):
    out, _ = photo_render
    other = _photos(tmp_path / "mine", n=3)
    p = run_synth("render", "--out", out, "--scenes", 6, "--resolution", 48, "--photos", other)
    last = p.stderr.splitlines()[-1]
    assert p.returncode == 2 and last.startswith("error: --out") and "another dataset" in last


def test_hostile_pools_fail_before_any_render(tmp_path, run_synth):
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        (bad / f"x{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    out = tmp_path / "out"
    p = run_synth("render", "--out", out, "--scenes", 2, "--resolution", 32, "--photos", bad)
    last = p.stderr.splitlines()[-1]
    assert p.returncode == 2 and last.startswith(f"error: --photos {bad}: 3 of 3 photos")
    assert "not an image format" in last
    assert not (out / "scenes").exists()
    p = run_synth(
        "render",
        "--out",
        out,
        "--scenes",
        2,
        "--photos",
        bad,
        "--set",
        "scene.kinds.cards=0",
        "--set",
        "scene.kinds.textured=0",
    )
    assert p.returncode == 2 and "no weight" in p.stderr


def test_pool_photos_are_upright_exif_orientation_applied(tmp_path):
    folder = tmp_path / "rotated"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait (rotate 90° clockwise)
    Image.new("RGB", (60, 40), (200, 30, 30)).save(folder / "r.jpg", exif=exif)
    pool = load_pool(str(folder))
    (photo,) = pool.photos
    assert (photo.width_px, photo.height_px) == (40, 60)
    from synth.pool import PhotoCache

    assert PhotoCache(pool).get(photo.photo_id).shape == (60, 40, 3)


def test_a_photo_changed_after_the_pool_was_read_fails_its_scene_not_silently(tmp_path):
    from synth.pool import PhotoCache

    folder = _photos(tmp_path / "pool", n=2)
    pool = load_pool(str(folder))
    target = next(p for p in pool.photos if p.uri.endswith("p0.png"))
    Image.new("RGB", (48, 32), (0, 0, 255)).save(folder / "p0.png")
    with pytest.raises(PoolError, match="changed since the pool was read"):
        PhotoCache(pool).get(target.photo_id)


def test_a_folder_pool_skips_loops_fifos_and_escaping_links_with_a_reason(tmp_path):
    """One bad name among good photos never refuses the pool; every one is in pool.json."""
    outside = _photos(tmp_path / "outside", n=1, seed=5)
    folder = _photos(tmp_path / "pool", n=10)
    (folder / "loop-a.png").symlink_to(folder / "loop-b.png")
    (folder / "loop-b.png").symlink_to(folder / "loop-a.png")
    (folder / "self.jpg").symlink_to(folder / "self.jpg")
    os.mkfifo(folder / "pipe.jpg")
    (folder / "escape.png").symlink_to(outside / "p0.png")
    (folder / "gone.png").symlink_to(folder / "missing.png")
    p = load_pool(str(folder))
    assert len(p.photos) == 10
    reasons = {u.rsplit("/", 1)[1]: r for u, r in p.skipped}
    assert set(reasons) == {
        "loop-a.png",
        "loop-b.png",
        "self.jpg",
        "pipe.jpg",
        "escape.png",
        "gone.png",
    }
    assert reasons["loop-a.png"].startswith("not_a_file (a loop")
    assert reasons["pipe.jpg"].startswith("not_a_file (a FIFO")
    assert reasons["escape.png"].startswith("outside_root")
    assert reasons["gone.png"].startswith("not_a_file (a dangling")
    p.write_index(tmp_path / "pool.json")
    index = json.loads((tmp_path / "pool.json").read_text())
    assert len(index["skipped_list"]) == 6 and index["photos"] == 10


def test_a_manifest_pool_applies_the_file_checks_before_reading(tmp_path):
    """Rows naming a device, a FIFO, or a link inside the root that leads out of it are skipped
    with the reason (never read: /dev/zero would be read forever); the good rows make the pool."""
    root = tmp_path / "curated"
    _photos(root / "photos", n=6)
    outside = _photos(tmp_path / "outside", n=1, seed=5)
    (root / "photos" / "link-out.png").symlink_to(outside / "p0.png")
    os.mkfifo(root / "photos" / "pipe.png")
    names = [f"photos/p{i}.png" for i in range(6)]
    _real_photos_manifest(
        root, [*names, "file:///dev/zero", "photos/link-out.png", "photos/pipe.png"]
    )
    p = load_pool(str(root))
    assert len(p.photos) == 6
    reasons = {u.rsplit("/", 1)[1]: r for u, r in p.skipped}
    assert set(reasons) == {"zero", "link-out.png", "pipe.png"}
    assert "not a regular file" in reasons["zero"] and "not a regular file" in reasons["pipe.png"]
    assert "resolves outside the manifest root" in reasons["link-out.png"]


def test_a_pool_photo_that_is_a_bomb_is_skipped_like_curate_rejects_it(tmp_path):
    folder = _photos(tmp_path / "pool", n=3)
    Image.new("1", (13000, 13000)).save(folder / "bomb.png")  # 1-bit: a 20 KB file, 507 MB as RGB
    p = load_pool(str(folder))
    assert len(p.photos) == 3
    [(uri, reason)] = p.skipped
    assert uri.endswith("bomb.png") and "decompression bomb" in reason
