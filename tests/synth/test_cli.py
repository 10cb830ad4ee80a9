"""``python -m synth``: bad input is refused before any render, in one line naming the cause."""

import os
import subprocess
import sys

import pytest


def refused(proc, needle, out):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and needle in last, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "scenes").exists()  # nothing rendered


def test_missing_texture_folder(tmp_path, spec_tools):
    out = tmp_path / "out"
    p = spec_tools.run_synth(
        "render", "--out", str(out), "--scenes", "1", "--textures", str(tmp_path / "nope")
    )
    refused(p, "no such folder", out)


def test_empty_texture_folder(tmp_path, spec_tools):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    p = spec_tools.run_synth(
        "render", "--out", str(out), "--scenes", "1", "--textures", str(tmp_path / "empty")
    )
    refused(p, "no images", out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder; covered by the check below")
def test_unreadable_texture_folder(tmp_path, spec_tools):
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0)
    out = tmp_path / "out"
    refused(
        spec_tools.run_synth("render", "--out", str(out), "--scenes", "1", "--textures", str(d)),
        "not readable",
        out,
    )


def test_unreadable_texture_check_itself(tmp_path, monkeypatch):
    from synth.cli import PreflightError, list_textures

    d = tmp_path / "locked"
    d.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as a non-root user sees it
    with pytest.raises(PreflightError, match="not readable"):
        list_textures(str(d))


def test_bad_config(tmp_path, spec_tools):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[camera]\nfocal_length_mm = [50, 10]\n")
    out = tmp_path / "out"
    refused(
        spec_tools.run_synth("render", "--config", str(cfg), "--out", str(out), "--scenes", "1"),
        "camera.focal_length_mm",
        out,
    )


def test_bad_shard(tmp_path, spec_tools):
    out = tmp_path / "out"
    refused(
        spec_tools.run_synth("render", "--out", str(out), "--scenes", "4", "--shard", "4/4"),
        "0 <= k < n",
        out,
    )


def test_machine_without_bpy(tmp_path):
    out = tmp_path / "out"
    code = (
        "import sys; sys.modules['bpy'] = None\n"  # what an interpreter without bpy sees
        "from synth.cli import main\n"
        f"raise SystemExit(main(['render', '--out', {str(out)!r}, '--scenes', '1']))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    refused(p, "bpy is not importable", out)
    assert "Python 3.11" in p.stderr and "pip install bpy==4.5.15" in p.stderr


def test_help_shows_examples(spec_tools):
    p = spec_tools.run_synth("render", "--help")
    assert p.returncode == 0 and "--shard 3/16" in p.stdout and "SHARD_INDEX" in p.stdout


def test_bad_set_value(tmp_path, spec_tools):
    out = tmp_path / "out"
    p = spec_tools.run_synth(
        "render", "--out", str(out), "--scenes", "1", "--set", "render.samples=lots"
    )
    refused(p, "default.toml: render.samples: must be an integer, got 'lots' (from --set)", out)
    assert len(p.stderr.strip().splitlines()) == 1


def test_set_and_ray_address_reach_the_job(tmp_path, monkeypatch):
    import synth.launch
    from synth.cli import main

    seen = {}
    stats = {"kept": 0, "rejected": 0, "rendered_now": 0, "skipped_done": 0, "renders": 0}
    stats.update(render_s=0.0, scene_wall_s=0.0, failed={}, shard="0-of-1")
    monkeypatch.setattr(
        synth.launch, "run_shard_local", lambda job, k, n, **kw: seen.update(job=job) or stats
    )
    monkeypatch.setattr(
        synth.launch, "run_ray", lambda job, shards, address: seen.update(ray=address) or [stats]
    )
    base = ["render", "--out", str(tmp_path / "out"), "--scenes", "2", "--quiet"]
    sets = ["--set", "render.samples=3", "--set", "scene.objects=[2, 4]", "--resolution", "32"]
    assert main([*base, *sets]) == 0
    cfg = seen["job"].cfg
    assert (cfg.render.samples, cfg.scene.objects, cfg.render.resolution_px) == (3, [2, 4], 32)
    for flag in ("--ray-address", "--ray"):  # --ray: the old spelling
        seen.pop("ray", None)
        other = ["render", "--out", str(tmp_path / flag), "--scenes", "2", "--quiet"]  # new sets
        assert main([*other, flag, "auto"]) == 0 and seen["ray"] == "auto"


# ---- numbers: every flag has a range; a refusal is one line, exit 2, before any work ----------


@pytest.fixture
def no_render(monkeypatch):
    """A value that is not refused must not start a render here: the launch fails the test."""
    import synth.launch

    def launched(*args, **kwargs):
        raise AssertionError("a render was launched")

    monkeypatch.setattr(synth.launch, "run_shard_local", launched)
    monkeypatch.setattr(synth.launch, "run_ray", launched)


def flag_refused(capsys, argv, needle):
    from synth.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    last = err.strip().splitlines()[-1]
    assert last == f"python -m synth {argv[0]}: error: {needle}", err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (
            ["--scenes", "1e20"],
            "argument --scenes: must be an integer in [1, 10000000], got '1e20'",
        ),
        (
            ["--scenes", "1" + "0" * 20],
            f"argument --scenes: must be in [1, 10000000], got '1{'0' * 20}'",
        ),
        (["--scenes", "0"], "argument --scenes: must be in [1, 10000000], got '0'"),
        (["--samples", "1e22"], "argument --samples: must be an integer in [1, 65536], got '1e22'"),
        (["--samples", "0"], "argument --samples: must be in [1, 65536], got '0'"),
        (["--samples", "100000"], "argument --samples: must be in [1, 65536], got '100000'"),
        (["--resolution", "4"], "argument --resolution: must be in [8, 8192], got '4'"),
        (["--resolution", "100000"], "argument --resolution: must be in [8, 8192], got '100000'"),
        (["--threads", "99999999"], "argument --threads: must be in [0, 1024], got '99999999'"),
        (["--threads", "-1"], "argument --threads: must be in [0, 1024], got '-1'"),
        (["--workers", "0"], "argument --workers: must be in [1, 1024], got '0'"),
        (["--workers", "100000"], "argument --workers: must be in [1, 1024], got '100000'"),
        (["--shards", "0"], "argument --shards: must be in [1, 10000000], got '0'"),
        (["--shards", "1e9"], "argument --shards: must be an integer in [1, 10000000], got '1e9'"),
    ],
)
def test_render_flags_outside_their_range(tmp_path, capsys, no_render, extra, needle):
    argv = [
        "render",
        "--out",
        str(tmp_path / "out"),
        *(["--scenes", "4"] if "--scenes" not in extra else []),
        *extra,
    ]
    flag_refused(capsys, argv, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "value, needle",
    [
        ("8", "argument --long-edge: must be in [16, 8192], got '8'"),
        ("100000", "argument --long-edge: must be in [16, 8192], got '100000'"),
        ("1e3", "argument --long-edge: must be an integer in [16, 8192], got '1e3'"),
    ],
)
def test_report_long_edge_outside_its_range(tmp_path, capsys, value, needle):
    flag_refused(capsys, ["report", str(tmp_path), "--long-edge", value], needle)


@pytest.mark.parametrize(
    "item, needle",
    [
        ("dataset_seed=-1", "dataset_seed: must be >= 0, got -1 (from --set)"),
        (
            "scene.objects=[1,100000]",
            "scene.objects: [1, 100000] is impossible (need 0 <= low <= high <= 1000) (from --set)",
        ),
        ("render.samples=100000", "render.samples: must be <= 65536, got 100000 (from --set)"),
    ],
)
def test_config_numbers_outside_their_range_are_one_line_exit_2(
    tmp_path, capsys, no_render, item, needle
):
    from synth.cli import main
    from synth.config import DEFAULT_CONFIG

    out = tmp_path / "out"
    assert main(["render", "--out", str(out), "--scenes", "4", "--set", item]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {DEFAULT_CONFIG}: {needle}\n"
    assert not out.exists()


def test_a_set_value_with_a_newline_is_refused_not_cut(tmp_path, capsys, no_render):
    from synth.cli import main

    out = tmp_path / "out"
    item = "render.samples=4\nrender.device=cpu"
    assert main(["render", "--out", str(out), "--scenes", "4", "--set", item]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --set {item!r}: ") and err.count("\n") == 1, err
    assert "control character '\\n'" in err and not out.exists()
