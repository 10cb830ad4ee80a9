"""The checked-in default.toml matches the dataclass defaults; bad keys fail clearly."""

import pytest

from curate.config import DEFAULT_CONFIG, ConfigError, CurateConfig, load_config


def test_default_toml_equals_dataclass_defaults():
    assert load_config(DEFAULT_CONFIG).to_dict() == CurateConfig().to_dict()


def test_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[filters]\nmax_f_number = 4.0\n[listing]\nshard_size = 16\n")
    cfg = load_config(path, ["filters.min_short_side_px=100", "filters.require_sensor_width=true"])
    assert cfg.filters.max_f_number == 4.0 and cfg.listing.shard_size == 16
    assert cfg.filters.min_short_side_px == 100 and cfg.filters.require_sensor_width is True


@pytest.mark.parametrize(
    "text, message",
    [
        ("[filters]\nmax_fnumber = 4\n", "filters.max_fnumber: unknown key"),
        ("[filter]\nx = 1\n", "filter: unknown section"),
        (
            "[filters]\nmax_f_number = 'wide'\n",
            "filters.max_f_number: must be a number, got 'wide'",
        ),
        ("[clip]\ncheckpoint = '/no/such/weights.pt'\n", "no such local file"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        load_config(path)
    assert "\n" not in str(e.value)


def test_cli_bad_set_is_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, str(DEFAULT_CONFIG.parents[1] / "job.py"), "--input", str(tmp_path),
         "--out", str(tmp_path / "out"), "--set", "filters.max_f_number=wide"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip() == (
        f"error: {DEFAULT_CONFIG}: filters.max_f_number: must be a number, got 'wide' (from --set)"
    )
    assert not (tmp_path / "out").exists()


def test_cli_set_and_ray_address_reach_the_job(tmp_path, monkeypatch):
    import ray

    from curate import job

    seen = {}

    def fake_execute(out, listing, cfg, **kw):
        seen["cfg"] = cfg
        raise job.JobError("stopped by the test")

    monkeypatch.setattr(ray, "init", lambda **kw: seen.update(init=kw))
    monkeypatch.setattr(job, "execute", fake_execute)
    base = ["--input", str(tmp_path), "--out", str(tmp_path / "out")]
    for flag in ("--ray-address", "--address"):  # --address: the old spelling
        seen.clear()
        assert job.main([*base, flag, "auto", "--set", "filters.max_f_number=4"]) == 1
        assert seen["init"]["address"] == "auto" and seen["cfg"].filters.max_f_number == 4.0
