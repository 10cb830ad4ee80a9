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
        assert main([*base, flag, "auto"]) == 0 and seen["ray"] == "auto"
