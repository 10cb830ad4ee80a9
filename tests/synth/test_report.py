"""``python -m synth report``: a fake render root (PNGs, a synthetic_pairs part, pool.json), no
Blender. Photos and "cards" scenes are power-law noise with the slope of natural photos (-2),
"procedural" scenes flat rectangles, "textured" scenes white noise (slope 0)."""

import json

import numpy as np
import pytest
from PIL import Image

from infra.uri import file_uri
from manifests import write_part
from manifests.example import synthetic_rows
from synth.cli import main
from synth.report import check_targets, format_targets


def power_law_rgb(h, w, power_slope, seed):
    """Colour noise with power |F|^2 = f^power_slope per channel, uint8."""
    rng = np.random.default_rng(seed)
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    f[0, 0] = 1.0
    amplitude = f ** (power_slope / 2)
    amplitude[0, 0] = 0.0
    channels = []
    for _ in range(3):
        img = np.fft.ifft2(np.fft.fft2(rng.standard_normal((h, w))) * amplitude).real
        channels.append((img - img.min()) / (img.max() - img.min()))
    return (np.stack(channels, -1) * 255).round().astype(np.uint8)


def flat_rectangles(h, w, seed):
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
    for _ in range(4):
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        img[y : y + h // 2, x : x + w // 2] = rng.integers(0, 256, 3)
    return img


def aif_of(kind, seed):
    if kind in (None, "procedural"):
        return flat_rectangles(96, 128, seed)
    if kind == "cards":
        return power_law_rgb(96, 128, -2.0, 100 + seed)
    return (np.random.default_rng(seed).random((96, 128, 3)) * 255).astype(np.uint8)


def write_photos(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        paths.append(folder / f"photo{i}.png")
        Image.fromarray(power_law_rgb(120, 160, -2.0, i)).save(paths[-1])
    return paths


def fake_root(tmp_path, kinds, pool_index=True):
    """A render root with one scene per entry of ``kinds`` (two renders each) and its pool."""
    root = tmp_path / "render"
    rows = synthetic_rows(n_scenes=len(kinds), renders_per_scene=2)
    for r in rows:
        kind = kinds[r["scene_id"]]
        r["scene_kind"] = kind
        r["source_photos"] = None if kind in (None, "procedural") else r["source_photos"]
        aif = root / r["aif_path"]
        if not aif.exists():
            aif.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(aif_of(kind, r["scene_id"])).save(aif)
    write_part(rows, str(root), "synthetic_pairs", 0, created_by="test")
    photos = write_photos(tmp_path / "photos")
    if pool_index:
        doc = {
            "photo_list": [
                {"photo_id": f"{i:064x}", "uri": file_uri(p), "width_px": 160, "height_px": 120}
                for i, p in enumerate(photos)
            ]
        }
        (root / "pool.json").write_text(json.dumps(doc))
    return root


KINDS = ["procedural", "cards", "textured", None, "cards", "textured"]


def test_report_by_kind_with_targets(tmp_path, run_synth):
    root = fake_root(tmp_path, KINDS)
    p = run_synth("report", str(root))
    assert p.returncode == 0, p.stderr
    assert "| photos | 3 |" in p.stdout
    report = json.loads((root / "report" / "natural_stats.json").read_text())
    # one AIF per scene (two renders each); the null kind counts as procedural
    images = {r["name"]: r["images"] for r in report["rows"]}
    assert images == {"photos": 3, "procedural": 2, "cards": 2, "textured": 2}
    verdicts = {(t["kind"], t["target"].split()[0]): t["ok"] for t in report["targets"]}
    assert set(verdicts) == {(k, t) for k in ("cards", "textured") for t in ("|slope", "log-grad")}
    assert verdicts[("cards", "|slope")] and verdicts[("cards", "log-grad")]
    assert verdicts[("textured", "|slope")] is False  # white noise: slope 0, the photos' -2
    assert "cards" in p.stdout and "pass" in p.stdout and "FAIL" in p.stdout
    md = (root / "report" / "natural_stats.md").read_text()
    assert "| cards |" in md and "targets:" in md
    assert (root / "report" / "natural_stats.png").stat().st_size > 0


def test_photos_option_and_report_folder(tmp_path, capsys):
    root = fake_root(tmp_path, ["procedural", "cards"], pool_index=False)
    out = tmp_path / "elsewhere"
    rc = main(["report", str(root), "--photos", str(tmp_path / "photos"), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "natural_stats.json").read_text())
    assert [r["name"] for r in report["rows"]] == ["photos", "procedural", "cards"]
    assert report["settings"]["photos"] == str(tmp_path / "photos")
    assert not (root / "report").exists()


def refused(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err


def test_bad_input_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(capsys, ["report", str(empty)], "no synthetic_pairs manifest")
    refused(capsys, ["report", str(tmp_path / "nope")], "no such folder")
    root = fake_root(tmp_path, ["procedural", "cards"], pool_index=False)
    refused(capsys, ["report", str(root)], "no photo pool index")
    refused(capsys, ["report", str(root), "--photos", str(tmp_path / "nope")], "no such folder")
    (root / "pool.json").write_text(json.dumps({"photo_list": []}))
    refused(capsys, ["report", str(root)], "has no photos")
    (root / "scenes" / "000001" / "aif.png").unlink()
    refused(capsys, ["report", str(root), "--photos", str(tmp_path / "photos")], "aif.png")


def test_gradient_target_needs_procedural_scenes():
    row = {"slope_gap_to_reference": 0.1, "gradient_w1_to_reference": 0.2}
    targets = check_targets([{"name": "photos"}, {"name": "cards", **row}])
    assert [t["ok"] for t in targets] == [True, None]
    with_proc = [{"name": "procedural", **row, "gradient_w1_to_reference": 0.3}]
    targets = check_targets([{"name": "cards", **row}, *with_proc])
    assert [t["ok"] for t in targets] == [True, False]  # 0.2 > 0.5 x 0.3
    assert check_targets([{"name": "procedural", **row}]) == []


def test_slope_target_shows_the_photos_spread():
    """A mean between two groups of photos is no photo's slope: the line shows the range."""
    photos = {"name": "photos", "spectral_slope_min": -2.98, "spectral_slope_max": -0.72}
    row = {"slope_gap_to_reference": 0.5, "gradient_w1_to_reference": 0.1}
    targets = check_targets([photos, {"name": "cards", **row}])
    assert targets[0]["ok"] is False and targets[0]["note"] == "photos' slopes -2.98..-0.72"
    lines = format_targets(targets).splitlines()
    assert lines[1].endswith("FAIL (photos' slopes -2.98..-0.72)")
    assert lines[2].endswith("n/a (no procedural scenes)")  # no note on the gradient line


def test_long_edge_too_small(tmp_path, capsys):
    root = fake_root(tmp_path, ["cards"])
    with pytest.raises(SystemExit) as e:  # argparse's range check: both bounds
        main(["report", str(root), "--long-edge", "8"])
    assert e.value.code == 2
    assert "argument --long-edge: must be in [16, 8192], got '8'" in capsys.readouterr().err
