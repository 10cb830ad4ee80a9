"""Curate over synth's DoF JPEGs recovers the rendered camera exactly (the EXIF route of K)."""

import pytest

from curate.config import load_config
from curate.job import run
from manifests import read_table
from optics import k_exif


@pytest.fixture(scope="module")
def synth_out(tmp_path_factory, render_synth):
    return render_synth(tmp_path_factory.mktemp("synth_for_curate") / "synth", 3, 96, 2)


def test_curate_recovers_focal_length_f_number_and_sensor_width(ray_local, synth_out, tmp_path):
    cfg = load_config(
        overrides=[
            "filters.min_short_side_px=32",
            "filters.max_f_number=64",
            "filters.max_f_number_equivalent=1000",
        ]
    )
    jpegs = sorted(str(p) for p in (synth_out / "scenes").glob("*/dof_*.jpg"))
    stats = run(jpegs, str(tmp_path / "cur"), cfg, progress=False)
    assert stats["inputs"] == len(jpegs) == 9
    kept = {
        r["uri"].rsplit("/", 3)[-2] + "/" + r["uri"].rsplit("/", 1)[-1]: r
        for r in read_table(tmp_path / "cur", "real_photos").to_pylist()
    }
    rendered = read_table(synth_out, "synthetic_pairs").to_pylist()
    assert len(kept) + stats["rejected"] == 9
    matched = 0
    for row in rendered:
        key = row["bokeh_jpeg_path"].split("/", 1)[1]
        photo = kept.get(key)
        if photo is None:  # a near-duplicate render may be dropped by dedup
            continue
        matched += 1
        assert photo["make"] == "refocus-synth"
        assert photo["f_number"] == pytest.approx(row["f_number"], rel=1e-6)
        assert photo["focal_length_mm"] == pytest.approx(row["focal_length_mm"], rel=1e-6)
        assert photo["sensor_width_mm"] == pytest.approx(row["sensor_width_mm"], rel=1e-6)
        assert photo["sensor_width_source"] == "crop_35mm"
        assert (photo["width_px"], photo["height_px"]) == (row["width_px"], row["height_px"])
        # K from EXIF at the true focus distance is the thin-lens K: Cycles' K times S/(S - f)
        s_m, f_m = row["focus_distance_m"], row["focal_length_mm"] / 1000
        k = k_exif(
            photo["focal_length_mm"],
            photo["f_number"],
            s_m,
            photo["sensor_width_mm"],
            max(photo["width_px"], photo["height_px"]),
        )
        assert k == pytest.approx(row["k_genrefocus"] * s_m / (s_m - f_m), rel=1e-6)
    assert matched >= 6
