"""Hostile values the trainer refuses with one line (issue 14): CLI numbers, config ranges, and
damaged checkpoints (deleted, empty, truncated, NaN, wrong names or shapes). No manifest needed:
runs are made from the checked-in tiny configs with an untrained, saved model."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from train.checkpoint import CheckpointError, latest_checkpoint
from train.cli import main
from train.config import TrainConfigError, load_train_config
from train.runs import load_run
from train.state import TrainState

REPO = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")


def make_run(folder: Path, config: str, *overrides: str) -> Path:
    """A run folder (config.json and one checkpoint) of an untrained model, as training leaves
    it; the weights are moved off their initialisation so a fall-back would show."""
    cfg = load_train_config(config, list(overrides))
    state = TrainState.create(cfg, CPU, steps=1)
    with torch.no_grad():
        for p in state.built.trainable:
            p.add_(0.01)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
    state.save(folder, cursor={}, keep=2)
    return folder


def ckpt_of(run: Path) -> Path:
    return latest_checkpoint(run)


def forget_record(ckpt: Path) -> None:
    """Drop the file record from state.json (a checkpoint written before it existed), so the
    content checks are what must catch the damage."""
    state = json.loads((ckpt / "state.json").read_text())
    del state["files"]
    (ckpt / "state.json").write_text(json.dumps(state))


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ---- 1. CLI numbers -----------------------------------------------------------------------


def refocus_args(tmp_path: Path, deblur="d", bokeh="b") -> list[str]:
    return [
        "refocus",
        *("--deblur", str(deblur), "--bokeh", str(bokeh)),
        *("--image", str(tmp_path / "x.png"), "--depth", str(tmp_path / "d.npy")),
        *("--out", str(tmp_path / "o.png")),
    ]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--focus", "0.5,0.5", "--k", "nan"], "argument --k: must be a finite number, got 'nan'"),
        (["--focus", "0.5,0.5", "--k", "inf"], "argument --k: must be a finite number, got 'inf'"),
        (["--focus", "0.5,0.5", "--k", "-1"], "argument --k: must be in [0, 1000], got '-1'"),
        (["--focus", "0.5,0.5", "--k", "1e9"], "argument --k: must be in [0, 1000], got '1e9'"),
        (["--focus", "0.5,0.5", "--k", "fast"], "argument --k: must be a number, got 'fast'"),
        (["--focus", "1.5,0.5", "--k", "30"], "argument --focus: x,y: each must be in [0, 1]"),
        (["--focus", "0.5,-0.1", "--k", "30"], "argument --focus: x,y: each must be in [0, 1]"),
        (["--focus", "nan,0.5", "--k", "30"], "argument --focus: x,y: each must be a finite"),
        (["--focus", "0.5", "--k", "30"], "argument --focus: must be x,y (two numbers in [0, 1])"),
        (["--focus", "0.5,0.5", "--k", "3", "--steps", "-1"], "argument --steps: must be in [0, "),
    ],
)
def test_refocus_refuses_bad_numbers(tmp_path, capsys, extra, needle):
    with pytest.raises(SystemExit) as e:
        main([*refocus_args(tmp_path), *extra])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--steps", "0"], "argument --steps: must be in [1, 10000000], got '0'"),
        (["--steps", "-5"], "argument --steps: must be in [1, 10000000], got '-5'"),
        (["--num-workers", "0"], "argument --num-workers: must be in [1, 4096], got '0'"),
        (["--gpus-per-worker", "nan"], "argument --gpus-per-worker: must be a finite number"),
        (["--gpus-per-worker", "-1"], "argument --gpus-per-worker: must be in [0, 64], got '-1'"),
        (["--max-failures", "-2"], "argument --max-failures: must be in [-1, 1000], got '-2'"),
        (["--placement-strategy", "spread"], "argument --placement-strategy: invalid choice"),
        (["--steps", "1e20"], "argument --steps: must be an integer in [1, 10000000], got '1e20'"),
        (["--steps", "1" + "0" * 20], "argument --steps: must be in [1, 10000000], got '1000"),
        (["--num-workers", "100000"], "argument --num-workers: must be in [1, 4096], got '100000'"),
        (["--gpus-per-worker", "1e9"], "argument --gpus-per-worker: must be in [0, 64], got '1e9'"),
        (["--max-failures", "100000"], "argument --max-failures: must be in [-1, 1000], got '1000"),
    ],
)
def test_fit_refuses_bad_numbers(tmp_path, capsys, extra, needle):
    base = ["fit", "--config", "deblurnet_tiny.toml", "--manifest", "m", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as e:
        main([*base, *extra])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--max-scenes", "-1"], "argument --max-scenes: must be in [0, 10000000], got '-1'"),
        (["--focus-k", "nan"], "argument --focus-k: must be a finite number, got 'nan'"),
        (["--focus-k", "5000"], "argument --focus-k: must be in [0, 1000], got '5000'"),
        (["--steps", "1001"], "argument --steps: must be in [0, 1000], got '1001'"),
        (["--steps", "1e8"], "argument --steps: must be an integer in [0, 1000], got '1e8'"),
        (["--max-scenes", "1e20"], "argument --max-scenes: must be an integer in [0, 10000000]"),
        (["--max-scenes", "1" + "0" * 20], "argument --max-scenes: must be in [0, 10000000], got"),
    ],
)
def test_benchmark_refuses_bad_numbers(tmp_path, capsys, extra, needle):
    base = ["benchmark", "--deblur", "d", "--bokeh", "b", "--manifest", "m", "--out", "o"]
    with pytest.raises(SystemExit) as e:
        main([*base, *extra])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


def test_fit_steps_zero_is_an_error_not_the_configs_steps(tmp_path):
    from train.loop import fit

    cfg = load_train_config("deblurnet_tiny.toml")
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        fit(cfg, tmp_path / "run", None, None, steps=0)
    assert not (tmp_path / "run").exists()


def test_refocus_api_refuses_nan_k_and_outside_points(tmp_path):
    from train.refocus import refocus

    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="K must be a finite number >= 0, got nan"):
        refocus("d", "b", img, [(0.5, 0.5)], float("nan"))
    with pytest.raises(ValueError, match=r"focus point \(1.5, 0.5\): x and y must be in \[0, 1\]"):
        refocus("d", "b", img, [(1.5, 0.5)], 30.0)


# ---- 2. config types and ranges -----------------------------------------------------------


@pytest.mark.parametrize(
    "override, needle",
    [
        ("checkpoint.every=0", "checkpoint.every: must be >= 1, got 0"),
        ("checkpoint.keep=0", "checkpoint.keep: must be >= 1, got 0"),
        ("eval.every=0", "eval.every: must be >= 1, got 0"),
        ("eval.sample_steps=0", "eval.sample_steps: must be >= 1, got 0"),
        ("eval.lvcorr_images=0", "eval.lvcorr_images: must be >= 1, got 0"),
        ("optim.steps=0", "optim.steps: must be >= 1, got 0"),
        ("optim.batch_size=-2", "optim.batch_size: must be >= 1, got -2"),
        ("optim.warmup_steps=-1", "optim.warmup_steps: must be >= 0, got -1"),
        ("optim.lr=nan", "optim.lr: must be a finite number, got nan"),
        ("optim.lr=inf", "optim.lr: must be a finite number, got inf"),
        ("optim.lr=0", "optim.lr: must be > 0.0, got 0"),
        ("optim.weight_decay=-0.1", "optim.weight_decay: must be >= 0.0, got -0.1"),
        ("optim.grad_clip=nan", "optim.grad_clip: must be a finite number, got nan"),
        ("optim.sigma_logit_mean=inf", "optim.sigma_logit_mean: must be a finite number"),
        ("optim.sigma_floor=0", "optim.sigma_floor: must be > 0.0, got 0"),
        ("optim.ema_decay=nan", "optim.ema_decay: must be a finite number, got nan"),
        ("data.sharp_fraction=1.5", "data.sharp_fraction: must be <= 1.0, got 1.5"),
        ("data.sharp_fraction=nan", "data.sharp_fraction: must be a finite number, got nan"),
        ("data.resize_range=[0.5, inf]", "data.resize_range[1]: must be a finite number"),
        ("data.resize_range=[0.5, 100.0]", "data.resize_range: must be 0 < lo <= hi <= 4"),
        ("data.resolution_px=34", "data.resolution_px: 34 is not a multiple of 4"),
        ("data.decode_cache_mb=-1", "data.decode_cache_mb: must be >= 0, got -1"),
        ("eval.k_sweep=[0.0, nan]", "eval.k_sweep[1]: must be a finite number, got nan"),
        ("eval.k_sweep=[0.0, -5.0]", "eval.k_sweep[1]: must be >= 0.0, got -5.0"),
        ("eval.k_sweep=[20.0]", "eval.k_sweep: needs at least two different K values"),
        ("seed=-1", "seed: must be >= 0, got -1"),
        ("seed=99999999999", "seed: must be < 4294967296, got 99999999999"),
        ("data_workers=-1", "data_workers: must be >= 0, got -1"),
        ("model.unet_width=12", "model.unet_width: must be a multiple of 8, got 12"),
        ("model.tiny_head_dim=24", "model.tiny_head_dim: must be a multiple of 16, got 24"),
        ("model.lora_alpha=-1.0", "model.lora_alpha: must be >= 0.0, got -1.0"),
        ("real.max_photos=-1", "real.max_photos: must be >= 0, got -1"),
        # upper bounds (reliability round 2, item 9): the values of the issue, as integers ...
        ("model.unet_width=100000000", "model.unet_width: must be <= 1024, got 100000000"),
        ("data.resolution_px=100000", "data.resolution_px: must be <= 4096, got 100000"),
        ("optim.batch_size=100000000", "optim.batch_size: must be <= 4096, got 100000000"),
        ("data_workers=100000", "data_workers: must be <= 256, got 100000"),
        ("eval.sample_steps=100000000", "eval.sample_steps: must be <= 1000, got 100000000"),
        # ... and as written there (a TOML float is not an integer)
        ("model.unet_width=1e8", "model.unet_width: must be an integer, got 100000000.0"),
        ("data.resolution_px=1e5", "data.resolution_px: must be an integer, got 100000.0"),
        ("optim.batch_size=1e8", "optim.batch_size: must be an integer, got 100000000.0"),
        ("data_workers=1e5", "data_workers: must be an integer, got 100000.0"),
        ("eval.sample_steps=1e8", "eval.sample_steps: must be an integer, got 100000000.0"),
        ("optim.steps=100000000", "optim.steps: must be <= 10000000, got 100000000"),
        ("optim.lr=1e31", "optim.lr: must be <= 1e+30, got 1e+31"),
        ("eval.every=2000000000", "eval.every: must be <= 1000000000, got 2000000000"),
        ("checkpoint.keep=100000", "checkpoint.keep: must be <= 1000, got 100000"),
        ("eval.resolution_px=100000", "eval.resolution_px: must be <= 4096, got 100000"),
        ("eval.k_sweep=[0.0, 1e9]", "eval.k_sweep[1]: must be <= 1000.0, got 1000000000.0"),
        ("real.deblur_steps=100000", "real.deblur_steps: must be <= 1000, got 100000"),
        ("model.lora_rank=100000", "model.lora_rank: must be <= 4096, got 100000"),
        ("model.tiny_layers=100000", "model.tiny_layers: must be <= 64, got 100000"),
        ("data.real_work_short_px=100000", "data.real_work_short_px: must be <= 8192, got 100000"),
    ],
)
def test_config_ranges_are_one_line_errors(override, needle):
    with pytest.raises(TrainConfigError) as e:
        load_train_config("deblurnet_tiny.toml", [override])
    assert needle in one_line(e)


@pytest.mark.parametrize(
    "override, needle",
    [
        ("data_workers=100000", "data_workers: must be <= 256, got 100000 (from --set)"),
        ("optim.batch_size=100000000", "optim.batch_size: must be <= 4096, got 100000000"),
        ("eval.sample_steps=1e8", "eval.sample_steps: must be an integer, got 100000000.0"),
    ],
)
def test_fit_refuses_config_numbers_in_one_line_exit_2(
    tmp_path, capsys, monkeypatch, override, needle
):
    import train.launch.local

    def trained(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train.launch.local, "train_local", trained)
    cfg = REPO / "train/configs/deblurnet_tiny.toml"
    argv = ["fit", "--config", str(cfg), "--manifest", "m", "--out", str(tmp_path / "run")]
    assert main([*argv, "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {cfg}: {needle}") and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_checkpoint_every_zero_in_a_file_is_exit_2_before_training(tmp_path, capsys):
    text = (REPO / "train/configs/deblurnet_tiny.toml").read_text()
    cfg = tmp_path / "c.toml"
    cfg.write_text(text.replace("[checkpoint]\nevery = 100", "[checkpoint]\nevery = 0"))
    argv = ["fit", "--config", str(cfg), "--manifest", "m", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"error: {cfg}: checkpoint.every: must be >= 1, got 0\n"
    assert not (tmp_path / "run").exists()


def test_a_large_seed_trains_its_generator():
    from train.loop import step_generator

    assert torch.randn(1, generator=step_generator(2**32 - 1, 3, 10**6, 7)).isfinite().all()


# ---- 3. weights ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Pristine runs, copied by each test before it damages them."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "unet": make_run(root / "unet", "deblurnet_tiny.toml"),
        "ema": make_run(root / "ema", "deblurnet_tiny.toml", "optim.ema_decay=0.5"),
        "bokeh": make_run(root / "bokeh", "bokehnet_tiny.toml"),
        "lora": make_run(root / "lora", "deblurnet_tinyflux.toml"),
    }


@pytest.fixture
def runs(tiny_runs, tmp_path):
    import shutil

    return {k: Path(shutil.copytree(v, tmp_path / k)) for k, v in tiny_runs.items()}


def test_intact_runs_load_with_their_weights(runs):
    for kind, run in runs.items():
        ckpt = ckpt_of(run)
        _, built = load_run(run)
        file = "pytorch_lora_weights.safetensors" if kind == "lora" else "trainable.safetensors"
        file = "ema.safetensors" if kind == "ema" else file
        saved = {k.removeprefix("transformer."): v for k, v in load_file(str(ckpt / file)).items()}
        params = dict(built.denoiser.named_parameters())
        if kind == "lora":
            assert not (ckpt / "trainable.safetensors").exists()
            lora = {n: p for n, p in params.items() if "lora_" in n}
            assert len(lora) == len(saved) > 0
            assert all(float(p.detach().abs().sum()) > 0 for n, p in lora.items() if "lora_B" in n)
        else:
            assert set(saved) == {n for n, p in params.items() if p.requires_grad}
            assert all(torch.equal(params[n].detach(), t) for n, t in saved.items())


def test_deleted_weights_are_an_error_not_untrained_weights(runs):
    for kind, file in (("unet", "trainable.safetensors"), ("ema", "ema.safetensors")):
        ckpt = ckpt_of(runs[kind])
        (ckpt / file).unlink()
        with pytest.raises(CheckpointError) as e:
            load_run(runs[kind])
        assert one_line(e) == f"{ckpt / file}: missing (state.json lists it)"
    ckpt = ckpt_of(runs["lora"])
    (ckpt / "pytorch_lora_weights.safetensors").unlink()
    forget_record(ckpt)  # without the record the model's own tensors say what must be there
    with pytest.raises(CheckpointError, match="pytorch_lora_weights.safetensors: missing$"):
        load_run(runs["lora"])
    ckpt = ckpt_of(runs["bokeh"])
    (ckpt / "trainable.safetensors").unlink()
    forget_record(ckpt)
    with pytest.raises(CheckpointError, match="trainable.safetensors: missing$"):
        load_run(runs["bokeh"])


@pytest.mark.parametrize("kind", ["unet", "lora"])
@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_empty_or_truncated_weights_name_the_file(runs, kind, keep):
    ckpt = ckpt_of(runs[kind])
    f = ckpt / ("trainable.safetensors" if kind == "unet" else "pytorch_lora_weights.safetensors")
    data = f.read_bytes()
    f.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError) as e:
        load_run(runs[kind])
    assert one_line(e).startswith(f"{f}: ") and "truncated" in str(e.value)
    forget_record(ckpt)
    with pytest.raises(CheckpointError) as e:
        load_run(runs[kind])
    assert one_line(e).startswith(f"{f}: unreadable (")


def test_weights_changed_in_place_fail_the_hash(runs):
    f = ckpt_of(runs["unet"]) / "trainable.safetensors"
    data = bytearray(f.read_bytes())
    data[-4:] = b"\0\0\0\0"  # same size, another value
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="contents differ from what was written"):
        load_run(runs["unet"])


def _rewrite(ckpt: Path, name: str, change) -> Path:
    f = ckpt / name
    sd = load_file(str(f))
    change(sd)
    save_file(sd, str(f))
    forget_record(ckpt)
    return f


def test_nan_weights_are_refused(runs):
    for kind, name, value in (
        ("unet", "trainable.safetensors", float("nan")),
        ("ema", "ema.safetensors", float("inf")),
        ("lora", "pytorch_lora_weights.safetensors", float("nan")),
    ):
        first = lambda sd: sd[sorted(sd)[0]].fill_(value)  # noqa: E731, B023
        f = _rewrite(ckpt_of(runs[kind]), name, first)
        with pytest.raises(CheckpointError) as e:
            load_run(runs[kind])
        assert one_line(e).startswith(f"{f}: non-finite values (NaN or inf) in [")


def test_missing_extra_and_misshapen_tensors_are_refused(runs):
    ckpt = ckpt_of(runs["unet"])
    f = _rewrite(ckpt, "trainable.safetensors", lambda sd: sd.pop(sorted(sd)[0]))
    with pytest.raises(CheckpointError, match=r"1 tensor\(s\) of the model missing: \['"):
        load_run(runs["unet"])
    ckpt = ckpt_of(runs["bokeh"])
    f = _rewrite(ckpt, "trainable.safetensors", lambda sd: sd.update(extra=torch.zeros(2)))
    with pytest.raises(CheckpointError) as e:
        load_run(runs["bokeh"])
    assert one_line(e) == f"{f}: 1 tensor(s) not in the model: ['extra']"
    ckpt = ckpt_of(runs["lora"])
    f = _rewrite(
        ckpt,
        "pytorch_lora_weights.safetensors",
        lambda sd: sd.update({k: torch.zeros(3, 3) for k in sorted(sd)[:1]}),
    )
    with pytest.raises(CheckpointError, match=r"has shape \(3, 3\), the model's is \("):
        load_run(runs["lora"])


def test_a_config_that_does_not_fit_the_weights_is_refused(runs):
    run = runs["unet"]
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["unet_width"] = 24
    (run / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="trainable.safetensors: .* has shape"):
        load_run(run)


def test_resume_and_init_from_are_strict(runs):
    cfg = load_train_config("deblurnet_tiny.toml")
    ckpt = ckpt_of(runs["unet"])
    (ckpt / "optimizer.pt").write_bytes((ckpt / "optimizer.pt").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="optimizer.pt: 100 bytes, .* were written"):
        TrainState.create(cfg, CPU, 1).start(ckpt, None)
    forget_record(ckpt)
    with pytest.raises(CheckpointError, match="optimizer.pt: unreadable"):
        TrainState.create(cfg, CPU, 1).start(ckpt, None)
    (ckpt / "trainable.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="trainable.safetensors: unreadable"):
        TrainState.create(cfg, CPU, 1).start(None, runs["unet"])  # --init-from RUN
    ema_cfg = load_train_config("deblurnet_tiny.toml", ["optim.ema_decay=0.5"])
    intact = TrainState.create(ema_cfg, CPU, 1)
    assert intact.start(ckpt_of(runs["ema"]), None) == {}  # the cursor; a real resume works


def test_a_latest_marker_without_its_checkpoint_is_an_error(runs):
    ckpt = ckpt_of(runs["unet"])
    (ckpt / "state.json").unlink()
    with pytest.raises(CheckpointError, match="LATEST: names 'step-000000', which has no state"):
        load_run(runs["unet"])


def test_refocus_cli_with_nan_weights_is_exit_2_and_writes_nothing(runs, tmp_path):
    Image.new("RGB", (16, 16), (90, 120, 30)).save(tmp_path / "x.png")
    np.save(tmp_path / "d.npy", np.linspace(1, 5, 256, dtype=np.float32).reshape(16, 16))
    args = [*refocus_args(tmp_path, runs["unet"], runs["bokeh"]), "--focus", "0.5,0.5"]
    args += ["--k", "30", "--steps", "1", "--beyond-training"]
    assert main(args) == 0 and (tmp_path / "o.png").exists()  # intact runs refocus
    (tmp_path / "o.png").unlink()
    f = _rewrite(
        ckpt_of(runs["bokeh"]),
        "trainable.safetensors",
        lambda sd: [t.fill_(float("nan")) for t in sd.values()],
    )
    p = subprocess.run(
        [sys.executable, "-m", "train", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith(f"error: {f}: non-finite values") and p.stderr.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_the_ray_driver_checks_checkpoints_before_starting_workers(runs):
    from train.launch.ray import check_init_from, checkpoint_step

    assert checkpoint_step(str(runs["unet"])) == 0  # intact: the step it holds
    check_init_from(str(runs["lora"]))
    for kind, name in (("ema", "rng.pt"), ("lora", "rng.pt"), ("bokeh", "trainable.safetensors")):
        f = ckpt_of(runs[kind]) / name
        f.write_bytes(f.read_bytes()[:10])
    with pytest.raises(CheckpointError, match="rng.pt: 10 bytes, .* were written"):
        checkpoint_step(str(runs["ema"]))  # --resume reads every file
    check_init_from(str(runs["lora"]))  # --init-from reads the weights only
    with pytest.raises(CheckpointError, match="trainable.safetensors: 10 bytes"):
        check_init_from(str(runs["bokeh"]))


def test_a_diverging_run_stops_and_keeps_only_finite_checkpoints(synth_manifest, tmp_path, capsys):
    """``optim.lr=1e30`` is finite, so the config takes it; the weights blow up within a few
    steps. Training stops with one line (exit 1) instead of writing NaN checkpoints and exit 0."""
    out = tmp_path / "run"
    fast = ["--set", "eval.batches=1", "--set", "eval.sample_steps=1", "--set", "eval.every=100"]
    args = ["fit", "--config", "deblurnet_tiny.toml", "--manifest", synth_manifest]
    args += ["--out", str(out), "--steps", "12", "--quiet", *fast]
    args += ["--set", "optim.lr=1e30", "--set", "optim.warmup_steps=1"]
    args += ["--set", "checkpoint.every=1", "--set", "optim.grad_clip=0"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert "training stopped at step" in err and "\n" not in err, err
    assert "not finite" in err and "lower optim.lr" in err
    saved = sorted((out / "checkpoints").glob("step-*"))
    for ckpt in saved:
        weights = load_file(str(ckpt / "trainable.safetensors"))
        assert all(torch.isfinite(w).all() for w in weights.values()), ckpt.name
    assert not (out / "metrics.json").exists()
    # one tolerated non-finite loss is skipped, not trained on: the same stop, later or equal
    assert (
        main([*args, "--out", str(tmp_path / "tolerant"), "--set", "optim.max_nonfinite_steps=1"])
        == 1
    )


def test_an_all_nan_depth_map_is_one_line_not_nan_metrics(synth_manifest, tmp_path, capsys):
    """A render set whose depth.npy is all NaN trained and benchmarked with exit 0 before."""
    import shutil

    from manifests import read_table

    data = tmp_path / "set"
    shutil.copytree(synth_manifest, data)
    rows = read_table(data, "synthetic_pairs").to_pylist()
    for row in rows:
        np.save(data / row["depth_path"], np.full((64, 64), np.nan, np.float32))
    out = tmp_path / "run"
    fast = ["--set", "eval.batches=1", "--set", "eval.sample_steps=1"]
    args = ["fit", "--config", "deblurnet_tiny.toml", "--manifest", str(data), "--out", str(out)]
    assert main([*args, "--steps", "2", "--quiet", *fast]) == 2
    err = capsys.readouterr().err.strip()
    assert "depth.npy: depths must be > 0 metres" in err and "\n" not in err, err


def test_a_resume_with_other_settings_is_refused(synth_manifest, tmp_path, capsys):
    """``--resume`` used the checkpoint's learning rate while config.json recorded the new one;
    now the run keeps its settings (steps, evaluation, checkpoints and threads may change)."""
    out = tmp_path / "run"
    fast = ["--set", "eval.batches=1", "--set", "eval.sample_steps=1", "--quiet"]
    args = [
        "fit",
        "--config",
        "deblurnet_tiny.toml",
        "--manifest",
        synth_manifest,
        "--out",
        str(out),
    ]
    assert main([*args, "--steps", "2", *fast]) == 0
    capsys.readouterr()
    assert main([*args, "--steps", "3", "--resume", *fast, "--set", "optim.lr=1e30"]) == 2
    err = capsys.readouterr().err.strip()
    assert "a resumed run keeps its settings (optim.lr: 0.0001 -> 1e+30)" in err, err
    assert json.loads((out / "config.json").read_text())["optim"]["lr"] == 0.0001
    assert main([*args, "--steps", "3", "--resume", *fast, "--set", "eval.every=1"]) == 0
    (out / "config.json").write_text("{broken")
    assert main([*args, "--steps", "4", "--resume", *fast]) == 2
    assert "config.json: not a readable run config" in capsys.readouterr().err
