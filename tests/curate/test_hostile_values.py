"""Hostile values: one photo's impossible EXIF costs that photo, never its shard; bad settings,
a CLIP file that is not weights and an unusable --out are one-line errors before any work."""

import json
import math
import os

import pytest
from PIL.TiffImagePlugin import IFDRational

from curate import job, merge, passes
from curate.config import DEFAULT_CONFIG, CurateConfig, checkpoint_problem, load_config
from curate.exif import parse_exif
from curate.filters import PLAUSIBLE, check_plausible
from curate.listing import Entry
from manifests import read_table, validate_path
from manifests.io import row_problems

DEFAULT_TOML = DEFAULT_CONFIG


def entries(*paths):
    return [Entry(f"file://{p}", os.path.getsize(p)) for p in paths]


# ---- 1. one photo's impossible EXIF rejects that photo ------------------------------------------

# (EXIF of the photo, the reject detail): values no camera writes, each from real EXIF bytes.
IMPOSSIBLE = {
    "apex_minus_5000": (
        {"f_number": None, "aperture_value": -5000},
        "f-number 0 (from ApertureValue -5000) is outside the plausible range [0.5, 1000]",
    ),
    "apex_plus_5000": (  # 2^2500 overflows a float
        {"f_number": None, "aperture_value": 5000},
        "f-number inf (from ApertureValue 5000) is not finite",
    ),
    "fnumber_2e-10": (  # FNumber 1/4294967295, the smallest rational EXIF can hold
        {"f_number": IFDRational(1, 4294967295)},
        "f-number 2.33e-10 (from FNumber) is outside the plausible range [0.5, 1000]",
    ),
    "focal_1e-5_mm": (
        {"focal_mm": IFDRational(1, 100000)},
        "focal length 1e-05 mm is outside the plausible range [0.1, 10000] mm",
    ),
    "focal_4e6_mm": (
        {"focal_mm": IFDRational(4000000000, 1000)},
        "focal length 4e+06 mm is outside the plausible range [0.1, 10000] mm",
    ),
}


@pytest.fixture(scope="module")
def hostile_photos(tmp_path_factory, photo_writer):
    root = tmp_path_factory.mktemp("hostile")
    good = photo_writer(root / "good.jpg", seed=1, width=640, height=600, f_number=2.0)
    bad = {
        name: photo_writer(root / f"{name}.jpg", seed=2 + i, width=640, height=600, **exif)
        for i, (name, (exif, _)) in enumerate(IMPOSSIBLE.items())
    }
    return root, good, bad


def test_apex_values_out_of_float_range_are_read_not_raised(hostile_photos):
    _, _, bad = hostile_photos
    low = parse_exif(bad["apex_minus_5000"].read_bytes())
    high = parse_exif(bad["apex_plus_5000"].read_bytes())
    assert (low.f_number, low.aperture_value, low.f_number_source) == (0.0, -5000, "ApertureValue")
    assert math.isinf(high.f_number) and high.aperture_value == 5000


def test_impossible_exif_is_that_photos_reject_with_its_value(hostile_photos):
    _, good, bad = hostile_photos
    survivors, rejects = passes.pass1(entries(good, *bad.values()), CurateConfig())
    assert [s["uri"] for s in survivors] == [f"file://{good}"]
    got = {r["uri"].rsplit("/", 1)[-1][:-4]: r for r in rejects}
    assert sorted(got) == sorted(IMPOSSIBLE)
    for name, (_, detail) in IMPOSSIBLE.items():
        assert (got[name]["stage"], got[name]["reason"]) == ("exif", "invalid_value"), name
        assert got[name]["detail"] == detail


@pytest.mark.parametrize("key", sorted(PLAUSIBLE))
def test_every_derived_value_is_checked(key):
    what, lo, hi, _ = PLAUSIBLE[key]
    good = {k: (v[1] * v[2]) ** 0.5 for k, v in PLAUSIBLE.items()}  # inside every range
    assert check_plausible(good) is None
    for bad in (float("nan"), float("inf"), -1.0, 0.0, lo / 2, hi * 2):
        why = check_plausible({**good, key: bad})
        assert why is not None and why.reason == "invalid_value", (key, bad)
        assert why.detail.startswith(what), why.detail
    assert check_plausible({**good, key: None}) is None  # missing stays missing


def test_a_row_the_schema_refuses_is_a_reject_and_the_shard_is_written(hostile_photos, tmp_path):
    _, good, _ = hostile_photos
    cfg = CurateConfig()
    survivors, _ = passes.pass1(entries(good), cfg)
    rows, _, _ = passes.pass2(survivors, cfg)
    (row,) = rows
    nan_score = {**row, "uri": "file:///x/nan_score.jpg", "clip_quality": float("nan")}
    wide = {**row, "uri": "file:///x/wide.jpg", "width_px": 2**31}  # past int32
    problems = row_problems([row, nan_score, wide], "real_photos")
    assert problems[0] is None and "clip_quality" in problems[1] and problems[2]
    assert row_problems([row, row], "real_photos") == [None, None]

    merge.write_candidates(str(tmp_path), 0, [row, nan_score, wide], [])
    merge.finalize(str(tmp_path), 1, max_distance=4)
    kept, rejects = read_table(tmp_path, "real_photos"), read_table(tmp_path, "rejects")
    assert kept.column("uri").to_pylist() == [row["uri"]]
    got = {r["uri"]: r for r in rejects.to_pylist()}
    assert sorted(got) == ["file:///x/nan_score.jpg", "file:///x/wide.jpg"]
    assert {r["reason"] for r in got.values()} == {"invalid_value"}
    assert got["file:///x/nan_score.jpg"]["detail"] == (
        "the manifest cannot hold it: column 'clip_quality': 1 non-finite value(s) "
        "(must be finite), first at row 0: nan"
    )
    assert validate_path(tmp_path).ok


def test_a_reject_detail_with_odd_bytes_is_one_line_of_utf8(tmp_path):
    rej = passes.reject("file:///x/a.jpg", "exif", "no_exif", "bad \udcff block\nline two")
    assert rej["detail"] == "bad \\udcff block line two"
    merge.write_candidates(str(tmp_path), 0, [], [rej])
    assert read_table(tmp_path / "_work", "rejects").num_rows == 1


def test_job_finishes_past_impossible_apertures_every_run(ray_local, hostile_photos, tmp_path):
    root, good, _ = hostile_photos
    out = tmp_path / "out"
    for run in range(2):  # the second run resumes the finished shard
        stats = job.run([str(root)], str(out), load_config(), progress=False)
        assert stats["counts_ok"] and stats["kept"] == 1, run
        assert stats["reasons"] == {"invalid_value": len(IMPOSSIBLE)}
    assert validate_path(out).ok
    assert read_table(out, "real_photos").column("uri").to_pylist() == [f"file://{good}"]


# ---- 2. bad settings and outputs: one line, exit 2, before any work ------------------------------


def _error(overrides):
    with pytest.raises(Exception) as e:
        load_config(None, overrides)
    return str(e.value)


@pytest.mark.parametrize(
    "override, reason",
    [
        ("quality.grid=0", "quality.grid: must be >= 1, got 0"),
        ("decode.analysis_long_edge_px=0", "decode.analysis_long_edge_px: must be >= 32, got 0"),
        ("filters.max_f_number=nan", "filters.max_f_number: must be a finite number, got nan"),
        ("filters.max_f_number=inf", "filters.max_f_number: must be a finite number, got inf"),
        ("filters.max_f_number=0.1", "filters.max_f_number: must be >= 0.5, got 0.1"),
        ("decode.max_pixels=-1", "decode.max_pixels: must be >= 1, got -1"),
        ("decode.max_pixels=4000000000", "decode.max_pixels: must be <= 2000000000"),
        ("decode.max_bitmap_mb=0", "decode.max_bitmap_mb: must be >= 1, got 0"),
        ("decode.ratio_floor_mb=-1", "decode.ratio_floor_mb: must be >= 0, got -1"),
        ("decode.max_expansion_ratio=0.5", "decode.max_expansion_ratio: must be >= 1.0, got 0.5"),
        ("decode.max_expansion_ratio=inf", "decode.max_expansion_ratio: must be a finite number"),
        ("listing.shard_size=0", "listing.shard_size: must be >= 1, got 0"),
        ("exif.head_bytes=100", "exif.head_bytes: must be >= 4096, got 100"),
        (
            "filters.min_focal_length_mm=3000",
            "filters.min_focal_length_mm: must be <= max_focal_length_mm (2000), got 3000",
        ),
        ("filters.min_short_side_px=-5", "filters.min_short_side_px: must be >= 0, got -5"),
        ("quality.min_sharpness=-1.0", "quality.min_sharpness: must be >= 0.0, got -1.0"),
        ("quality.max_exposure_clipping=1.5", "quality.max_exposure_clipping: must be <= 1.0"),
        ("clip.batch_size=0", "clip.batch_size: must be >= 1, got 0"),
        ("clip.actors=-1", "clip.actors: must be >= 0, got -1"),
        ("clip.cpus_per_actor=0", "clip.cpus_per_actor: must be > 0.0, got 0"),
        ("dedup.phash_max_distance=65", "dedup.phash_max_distance: must be <= 64, got 65"),
        ("split.val_fraction=nan", "split.val_fraction: must be a finite number, got nan"),
    ],
)
def test_bad_numbers_are_one_line_errors(override, reason):
    message = _error([override])
    assert message.startswith(f"{DEFAULT_TOML}: {reason}"), message
    assert message.endswith("(from --set)") and "\n" not in message


def _numeric_fields(model, prefix=""):
    for name, info in model.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and hasattr(sub, "model_fields"):
            yield from _numeric_fields(sub, f"{prefix}{name}.")
        elif sub in (int, float):
            yield f"{prefix}{info.alias or name}", sub, info.metadata


def test_every_numeric_setting_has_a_range():
    fields = list(_numeric_fields(CurateConfig))
    assert len(fields) >= 18
    for key, kind, metadata in fields:
        lower = [m for m in metadata if getattr(m, "ge", None) is not None or hasattr(m, "gt")]
        upper = [m for m in metadata if getattr(m, "le", None) is not None or hasattr(m, "lt")]
        assert lower and upper, f"{key} has no range"
        if kind is float:
            assert any(getattr(m, "allow_inf_nan", None) is False for m in metadata), key


def _torch_zip(path, obj):
    import torch

    torch.save(obj, path)
    return path


def test_checkpoint_files_are_checked_by_their_bytes(tmp_path, tiny_clip):
    import torch

    assert checkpoint_problem(tiny_clip["checkpoint"]) is None  # a torch.save zip
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    assert checkpoint_problem(str(legacy)) is None
    text = tmp_path / "notes.pt"
    text.write_text("not a torch file")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(open(tiny_clip["checkpoint"], "rb").read()[:5000])
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\xff" * 64)
    for path in (text, cut):
        assert checkpoint_problem(str(path)).startswith("not a torch checkpoint")
    assert checkpoint_problem(str(fake)).startswith("not a safetensors file")
    message = _error([f"clip.checkpoint={text}"])
    assert message.startswith(f"{DEFAULT_TOML}: clip.checkpoint: '{text}': not a torch checkpoint")


def test_a_torch_file_that_is_not_weights_is_a_scoring_error(tmp_path, tiny_clip):
    import datetime

    from curate.scoring import ScoringError, build_model

    path = _torch_zip(tmp_path / "date.pt", datetime.date(2020, 1, 1))  # weights_only refuses
    assert checkpoint_problem(str(path)) is None  # a real torch zip: only loading can tell
    with pytest.raises(ScoringError) as e:
        build_model(tiny_clip["model"], str(path), tiny_clip["model_config"])
    assert str(e.value).startswith(f"{path}: not a weights file (UnpicklingError: ")
    assert "\n" not in str(e.value)


def test_the_clip_actor_failure_is_a_one_line_job_error(
    ray_local, tiny_clip, photo_writer, tmp_path
):
    import datetime

    photo_writer(tmp_path / "in/a.jpg", seed=1, width=640, height=600)
    bad = _torch_zip(tmp_path / "date.pt", datetime.date(2020, 1, 1))
    clip = {**tiny_clip, "checkpoint": str(bad)}
    cfg = load_config(None, [f"clip.{k}={json.dumps(v)}" for k, v in clip.items()])
    with pytest.raises(job.JobError) as e:
        job.run([str(tmp_path / "in")], str(tmp_path / "out"), cfg, progress=False)
    assert str(e.value).startswith(f"clip.checkpoint {bad}: not a weights file (UnpicklingError")
    assert "\n" not in str(e.value)


def _main(capsys, tmp_path, out, *extra):
    (tmp_path / "in").mkdir(exist_ok=True)
    rc = job.main(["--input", str(tmp_path / "in"), "--out", str(out), "--no-progress", *extra])
    err = capsys.readouterr().err.strip()
    return rc, err


def test_cli_refuses_bad_values_and_outputs_before_ray(capsys, tmp_path):
    not_torch = tmp_path / "clip.pt"
    not_torch.write_text("not a torch file")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    listed = tmp_path / "listed"
    listed.mkdir()
    (listed / "stats.json").write_text("[1, 2]")
    broken = tmp_path / "broken"
    (broken / "_work").mkdir(parents=True)
    (broken / "_work" / "listing.json").write_text('{"files": 3}')
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "stats.json").write_text("{oops")
    out = tmp_path / "out"
    cases = [
        ((out, "--set", "quality.grid=0"), f"{DEFAULT_TOML}: quality.grid: must be >= 1, got 0"),
        (
            (out, "--set", "decode.analysis_long_edge_px=0"),
            f"{DEFAULT_TOML}: decode.analysis_long_edge_px: must be >= 32, got 0",
        ),
        (
            (out, "--set", "filters.max_f_number=nan"),
            f"{DEFAULT_TOML}: filters.max_f_number: must be a finite number, got nan",
        ),
        (
            (out, "--set", "decode.max_pixels=-1"),
            f"{DEFAULT_TOML}: decode.max_pixels: must be >= 1, got -1",
        ),
        (
            (out, "--set", f"clip.checkpoint={not_torch}"),
            f"{DEFAULT_TOML}: clip.checkpoint: '{not_torch}': not a torch checkpoint",
        ),
        ((a_file,), f"--out {a_file}: is a file, not a folder"),
        ((a_file / "sub",), f"--out {a_file / 'sub'}: {a_file} is a file"),
        (
            (listed,),
            f"{listed}/stats.json: a JSON list, not the object curate writes; delete it or use "
            "a fresh --out",
        ),
        ((broken,), f"{broken}/_work/listing.json: no 'fingerprint' string in it"),
        ((garbled,), f"{garbled}/stats.json: not valid JSON"),
    ]
    for args, expected in cases:
        rc, err = _main(capsys, tmp_path, *args)
        assert rc == 2 and err.startswith(f"error: {expected}"), (args, err)
        assert "\n" not in err
    # nothing was started or written (main returns before Ray starts; see test_config too)
    assert not out.exists() and not (listed / "_work").exists()
    assert (listed / "stats.json").read_text() == "[1, 2]"


def test_validate_reports_a_stats_list_in_one_line(tmp_path):
    merge.write_candidates(str(tmp_path), 0, [], [])
    merge.finalize(str(tmp_path), 1, max_distance=4)
    (tmp_path / "stats.json").write_text("[]")
    report = validate_path(tmp_path)
    assert [str(p) for p in report.problems] == [
        f"{tmp_path}/stats.json: must be a JSON object, got a list"
    ]


def test_row_problems_names_a_cast_failure():
    (problem,) = row_problems([{"uri": "a.jpg", "width_px": "wide"}], "real_photos")
    assert problem and "\n" not in problem
    assert row_problems([], "real_photos") == []


@pytest.mark.parametrize(
    "value, needle",
    [
        ("-1", "argument --num-cpus: must be in [1, 4096], got '-1'"),
        ("0", "argument --num-cpus: must be in [1, 4096], got '0'"),
        ("100000", "argument --num-cpus: must be in [1, 4096], got '100000'"),
        ("1e3", "argument --num-cpus: must be an integer in [1, 4096], got '1e3'"),
        ("four", "argument --num-cpus: must be an integer in [1, 4096], got 'four'"),
    ],
)
def test_num_cpus_outside_its_range_is_refused_before_ray(capsys, tmp_path, value, needle):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        _main(capsys, tmp_path, out, "--num-cpus", value)
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.strip().splitlines()[-1] == f"python curate/job.py: error: {needle}", err
    assert not out.exists()


def test_num_cpus_in_range_is_taken():
    argv = ["--input", "in", "--out", "out"]
    assert job._parser().parse_args([*argv, "--num-cpus", "4096"]).num_cpus == 4096
    assert job._parser().parse_args(argv).num_cpus is None  # default: all the CPUs


def test_a_set_value_with_a_newline_is_one_line_exit_2(capsys, tmp_path):
    out = tmp_path / "out"
    item = "quality.grid=4\nquality.grid=0"
    rc, err = _main(capsys, tmp_path, out, "--set", item)
    assert rc == 2 and err.startswith(f"error: --set {item!r}: "), err
    assert "\n" not in err and "control character '\\n'" in err and not out.exists()


def test_a_clip_model_config_that_is_a_fifo_is_refused_not_read(tmp_path):
    import os

    from curate.config import model_config_problem

    os.mkfifo(tmp_path / "model.json")
    assert "not a regular file" in model_config_problem(str(tmp_path / "model.json"))


def test_a_job_whose_only_input_is_a_fifo_gives_a_valid_empty_result(tmp_path):
    """Everything rejected while listing (no shard to run): the result is still a manifest
    (0 kept, the FIFO rejected as not_a_file), not 'name a schema to read' after Ray."""
    import os

    from curate import merge
    from manifests import write_part
    from manifests.validate import validate_path

    os.mkfifo(tmp_path / "in.jpg")
    out = tmp_path / "out"
    row = {"uri": "file:///x/in.jpg", "stage": "list", "reason": "not_a_file", "detail": "FIFO"}
    write_part([row], out, "rejects", "list")
    merge.finalize(str(out), 0, 4)
    report = validate_path(out)
    assert report.ok and report.summary["real_photos"][1] == 0
