"""The worker loop end to end on a real rendered manifest: outputs, checkpoints, resume, DDP."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from train.launch.local import train_local


def test_fit_writes_metrics_plots_logs_and_checkpoints(synth_manifest, tiny_cfg, tmp_path):
    cfg = tiny_cfg("deblurnet_tiny.toml")
    cfg.checkpoint.every = 2
    run = tmp_path / "run"
    metrics = train_local(cfg, [synth_manifest], run, steps=4, show_progress=False)
    assert {"psnr", "psnr_identity", "ssim"} <= set(metrics) and metrics["step"] == 4
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["psnr"] == pytest.approx(metrics["psnr"])
    assert (run / "metrics.csv").exists() and (run / "loss.png").exists()
    assert (run / "samples.png").exists() and any((run / "tb").iterdir())
    lines = (run / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 4]
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("step"))
    assert ckpts == ["step-000002", "step-000004"]
    assert (run / "checkpoints" / "LATEST").read_text() == "step-000004"
    assert (run / "checkpoints" / "step-000004" / "trainable.safetensors").exists()


def test_bokehnet_reports_psnr_ssim_and_lvcorr(synth_manifest, tiny_cfg, tmp_path):
    cfg = tiny_cfg("bokehnet_tiny.toml", k_sweep=[0.0, 40.0, 80.0])
    metrics = train_local(cfg, [synth_manifest], tmp_path / "bokeh", steps=2, show_progress=False)
    assert {"psnr", "ssim", "lvcorr"} <= set(metrics)
    assert -1.0 <= metrics["lvcorr"] <= 1.0
    assert (tmp_path / "bokeh" / "k_sweep.png").exists()


def test_tiny_flux_lora_checkpoint_is_diffusers_format(synth_manifest, tiny_cfg, tmp_path):
    from diffusers import FluxPipeline

    cfg = tiny_cfg("deblurnet_tinyflux.toml")
    train_local(cfg, [synth_manifest], tmp_path / "flux", steps=2, show_progress=False)
    ckpt = tmp_path / "flux" / "checkpoints" / "step-000002"
    sd = load_file(str(ckpt / "pytorch_lora_weights.safetensors"))
    assert sd and all(k.startswith("transformer.") for k in sd)
    assert any(".lora_A." in k for k in sd) and any(".lora_B." in k for k in sd)
    assert not (ckpt / "trainable.safetensors").exists()  # only the LoRA trains
    loaded = FluxPipeline.lora_state_dict(str(ckpt))
    state = loaded[0] if isinstance(loaded, tuple) else loaded
    assert set(state) == set(sd)
    # a fresh model with the checkpoint reproduces the trained one's output
    from train.runs import load_run

    _, a = load_run(tmp_path / "flux")
    _, b = load_run(ckpt)
    z = torch.randn(1, 48, 8, 8)
    with torch.no_grad():
        va = a.denoiser(z, [z], torch.tensor([0.5]))
        vb = b.denoiser(z, [z], torch.tensor([0.5]))
    assert torch.equal(va, vb)
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in a.denoiser.named_parameters())


def _losses(run: Path) -> dict[int, float]:
    return {
        json.loads(x)["step"]: json.loads(x)["loss"]
        for x in (run / "log.jsonl").read_text().splitlines()
    }


def test_a_killed_run_resumes_exactly(synth_manifest, tmp_path):
    """SIGKILL after the step-3 checkpoint, --resume, and the losses continue as if unbroken; the
    weight average resumes too, and a loaded run carries the averaged weights."""
    cfg_path = tmp_path / "cfg.toml"
    text = (Path(__file__).parents[2] / "train/configs/deblurnet_tiny.toml").read_text()
    text = text.replace("every = 100", "every = 3").replace("sample_steps = 8", "sample_steps = 2")
    text = re.sub(r"(?m)^ema_decay = .*\n", "", text).replace(
        "[optim]\n", "[optim]\nema_decay = 0.5\n"
    )
    cfg_path.write_text(text.replace("batches = 2", "batches = 1"))
    base = [
        sys.executable,
        "-m",
        "train",
        "fit",
        "--config",
        str(cfg_path),
        "--manifest",
        synth_manifest,
        "--steps",
        "6",
        "--quiet",
    ]
    ref = tmp_path / "ref"
    p = subprocess.run([*base, "--out", str(ref)], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        [*base, "--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    marker = run / "checkpoints" / "LATEST"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not marker.exists():
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = json.loads((run / "checkpoints" / "step-000003" / "state.json").read_text())
    assert state["step"] == 3
    p = subprocess.run(
        [*base, "--out", str(run), "--resume"], capture_output=True, text=True, timeout=900
    )
    assert p.returncode == 0, p.stderr[-2000:]
    got, want = _losses(run), _losses(ref)
    assert max(got) == 6 and json.loads((run / "metrics.json").read_text())["step"] == 6
    for step in (4, 5, 6):  # continuity: the resumed steps repeat the uninterrupted ones
        assert got[step] == pytest.approx(want[step], rel=1e-5, abs=1e-7)
    last = "checkpoints/step-000006"
    ema, ema_ref = (load_file(str(r / last / "ema.safetensors")) for r in (run, ref))
    raw = load_file(str(run / last / "trainable.safetensors"))
    assert set(ema) == set(raw) == set(ema_ref)
    for name in ema:  # the resumed average is the unbroken run's, not a restart from step 3
        torch.testing.assert_close(ema[name], ema_ref[name], rtol=1e-5, atol=1e-7)
    assert any(not torch.equal(ema[n], raw[n]) for n in ema)  # an average, not the last weights
    from train.runs import load_run

    _, built = load_run(run)
    for name, param in built.denoiser.named_parameters():
        assert torch.equal(param.detach(), ema[name]), name


def test_two_process_gloo_ddp_keeps_parameters_identical(synth_manifest, tmp_path, monkeypatch):
    """Also: with compute_threads on auto, the two ranks share the node's usable cores
    (LOCAL_WORLD_SIZE = 2) and rank 0 states the count it used."""
    from train.threads import machine_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    run = tmp_path / "ddp"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "fit",
            "--config",
            "deblurnet_tiny.toml",
            "--manifest",
            synth_manifest,
            "--out",
            str(run),
            "--steps",
            "4",
            "--launcher",
            "torchrun",
            "--num-workers",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    m = json.loads((run / "metrics.json").read_text())
    assert m["world_size"] == 2 and m["ddp_param_max_diff"] == 0.0
    assert "Setting OMP_NUM_THREADS" not in p.stderr  # torchrun's default is not announced
    usable, _ = machine_cores()
    assert 1 <= m["compute_threads"] <= max(1, usable // 2), m
    rule = m["compute_threads_rule"]
    assert rule.startswith(f"auto: {usable} usable cores, "), rule
    assert rule.endswith("2 processes on this node"), rule
    first = json.loads((run / "log.jsonl").read_text().splitlines()[0])
    assert first["compute_threads"] == m["compute_threads"]


def test_heldout_evaluation_takes_large_crops_of_every_heldout_row(synth_manifest, tiny_cfg):
    from train.data.feed import TrainData
    from train.dist import DistContext
    from train.evaluate.heldout import evaluate_held_out
    from train.model import build_model

    cfg = tiny_cfg("deblurnet_tiny.toml", batches=0, batch_size=3, resolution_px=48, sample_steps=1)
    ctx = DistContext()
    data = TrainData.load(cfg, [synth_manifest])
    batches = data.eval_batches()
    assert sum(len(b["id"]) for b in batches) == len(data.eval_rows) > 0
    assert all(b["target"].shape[-2:] == b["cond"][0].shape[-2:] == (48, 48) for b in batches)
    held = {i.split("/")[0] for b in batches for i in b["id"]}
    assert not held & {str(r["scene_id"]) for r in data.train_rows}  # whole scenes held out
    m, _ = evaluate_held_out(build_model(cfg), data, cfg, ctx.device)
    # an untrained residual head is the identity: it scores exactly the blurry input's PSNR
    assert m["eval_images"] == len(data.eval_rows)
    assert m["psnr"] == pytest.approx(m["psnr_identity"], abs=1e-3)
    # 64 px frames at the mean training scale 0.8 hold a 48 px crop: a larger request is clamped
    cfg.eval.resolution_px = 96
    assert {b["target"].shape[-1] for b in data.eval_batches()} == {48}


def test_a_dataloader_worker_builds_the_same_batches_as_the_main_process(
    synth_manifest, tiny_cfg, tmp_path
):
    """``data_workers`` is a speed setting only: batches are a pure function of the step."""
    losses = {}
    for workers in (0, 1):
        cfg = tiny_cfg("deblurnet_tiny.toml")
        cfg.data_workers = workers
        cfg.checkpoint.every = 10**9
        train_local(cfg, [synth_manifest], tmp_path / f"w{workers}", steps=4, show_progress=False)
        log = (tmp_path / f"w{workers}" / "log.jsonl").read_text().splitlines()
        losses[workers] = [json.loads(line)["loss"] for line in log]
    assert len(losses[0]) == 4 and losses[0] == losses[1]
