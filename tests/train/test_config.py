"""Train configs: typed, one-line errors, ``data.task`` from ``network``, ``--set`` on the CLI."""

import subprocess
import sys
from pathlib import Path

import pytest

from train.config import CONFIG_DIR, TrainConfigError, load_train_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, body: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(body)
    return path


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIG_DIR.glob("*.toml")))
def test_checked_in_configs_load(name):
    cfg = load_train_config(name)
    assert cfg.data.task == {"deblurnet": "deblur", "bokehnet": "bokeh"}[cfg.network]


def test_string_for_a_float_names_file_and_key(tmp_path):
    path = write(tmp_path, '[optim]\nlr = "1e-3"\n')
    with pytest.raises(TrainConfigError) as e:
        load_train_config(path)
    msg = str(e.value)
    assert msg == f"{path}: optim.lr: must be a number, got '1e-3'"


def test_task_follows_network_and_a_contradiction_is_refused(tmp_path):
    assert load_train_config(write(tmp_path, 'network = "bokehnet"\n')).data.task == "bokeh"
    same = 'network = "bokehnet"\n[data]\ntask = "bokeh"\n'
    assert load_train_config(write(tmp_path, same)).data.task == "bokeh"
    with pytest.raises(TrainConfigError, match="data.task: 'deblur' contradicts network"):
        load_train_config(write(tmp_path, 'network = "bokehnet"\n[data]\ntask = "deblur"\n'))


@pytest.mark.parametrize(
    "body, needle",
    [
        ('[model]\nbackbone = "flux"\nlora_rank = 8\n', "model.path: backbone = flux needs"),
        ('[model]\ncodec = "vae"\n', "model.codec: vae needs model.path"),
        ('[optim]\nschedule = "linear"\n', "optim.schedule: must be 'constant' or 'cosine'"),
        ("[optim]\nema_decay = 1.0\n", "optim.ema_decay: must be < 1.0"),
        ("[eval]\nresolution_px = 6\n", "eval.resolution_px: 6 is not a multiple of 4"),
        ("[data]\nresize_range = [1.0, 0.5]\n", "data.resize_range: must be 0 < lo <= hi"),
        ('[data]\naugment = ["rotate"]\n', "data.augment[0]: must be 'flip' or 'rgb'"),
        ("[model]\nedit_level = 0.5\n", "model.edit_level: needs bokeh_prior = classical_edit"),
        ("[model]\nedit_level = 1.0\n", "model.edit_level: must be < 1.0"),
    ],
)
def test_rules_are_one_line_errors(tmp_path, body, needle):
    with pytest.raises(TrainConfigError) as e:
        load_train_config(write(tmp_path, body))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_overrides_apply_after_the_file():
    cfg = load_train_config("deblurnet_tiny.toml", ["optim.lr=3e-4", "data.resolution_px=48"])
    assert cfg.optim.lr == 3e-4 and cfg.data.resolution_px == 48 and cfg.optim.steps == 300


def fit_cli(*args: str):
    return subprocess.run(
        [sys.executable, "-m", "train", "fit", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_bad_set_is_one_line_exit_2(tmp_path):
    p = fit_cli("--config", "deblurnet_tiny.toml", "--manifest", str(tmp_path), "--out",
                str(tmp_path / "run"), "--set", "optim.lr=fast")  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip() == (
        f"error: {CONFIG_DIR / 'deblurnet_tiny.toml'}: optim.lr: must be a number, got 'fast' "
        "(from --set)"
    )
    assert not (tmp_path / "run").exists()


def test_cli_set_reaches_fit_and_the_ray_launcher(monkeypatch, tmp_path):
    import train.launch.local
    import train.launch.ray
    from train.cli import main

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # it would add compute_threads
    seen = {}
    fake_train = lambda cfg, *a, **k: seen.update(cfg=cfg) or {}  # noqa: E731
    monkeypatch.setattr(train.launch.local, "train_local", fake_train)
    base = ["fit", "--config", "deblurnet_tiny.toml", "--manifest", "m", "--out", str(tmp_path)]
    assert main([*base, "--set", "optim.lr=3e-4", "--set", "data.resolution_px=48"]) == 0
    assert seen["cfg"].optim.lr == 3e-4 and seen["cfg"].data.resolution_px == 48

    def fake_run_ray(*args, overrides=None, init_from=None, **kwargs):
        seen.update(args=args, overrides=overrides, init_from=init_from, kwargs=kwargs)
        return {}

    monkeypatch.setattr(train.launch.ray, "run_ray", fake_run_ray)
    argv = [*base, "--launcher", "ray", "--ray-address", "auto", "--set", "optim.steps=2"]
    assert main(argv) == 0
    assert seen["overrides"] == ["optim.steps=2"] and seen["args"][-1] == "auto"
    assert seen["init_from"] is None
    assert seen["kwargs"] == {"max_failures": 2, "placement_strategy": "PACK"}  # the defaults
    assert main([*argv, "--max-failures", "-1", "--placement-strategy", "SPREAD"]) == 0
    assert seen["kwargs"] == {"max_failures": -1, "placement_strategy": "SPREAD"}


def test_every_number_has_a_lower_and_an_upper_bound(config_numbers):
    """Reliability round 2, item 9: a number far outside what a run can use is a one-line
    error naming its key, never a crash, a hang or a run that cannot finish."""
    numeric_keys, huge = config_numbers
    cfg = load_train_config("deblurnet_tiny.toml")
    keys = list(numeric_keys(cfg))
    assert len(keys) >= 40
    accepted = []
    for key, default in keys:
        for sign in (1, -1):
            item = f"{key}={huge(default, sign)}"
            try:
                load_train_config("deblurnet_tiny.toml", [item])
                accepted.append(item)
            except TrainConfigError as e:
                assert f": {key}" in str(e) and "\n" not in str(e), (item, str(e))
    assert not accepted, accepted


@pytest.mark.parametrize(
    "override",
    [
        "model.unet_width=1024",
        "data.resolution_px=4096",
        "optim.batch_size=4096",
        "data_workers=256",
        "eval.sample_steps=1000",
        "optim.steps=10000000",
        "seed=4294967295",
        "eval.every=1000000000",
        "checkpoint.every=1000000000",
        "optim.lr=1e30",
    ],
)
def test_the_ends_of_the_ranges_are_accepted(override):
    load_train_config("deblurnet_tiny.toml", [override])
