"""Every bench script runs at its smallest size (the default tier), so a refactor cannot break
one silently: two did (``curate_throughput.py`` still passed a list where the job now reads a
spilled listing; ``synth_overhead.py`` and ``cycles_k_sweep.py`` rendered photographic scenes
without a photo pool). Each asserts its script's summary line; the numbers are not checked,
since at this size they measure nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_set(tmp_path_factory, render_synth):
    """Two rendered scenes (32 px, 1 spp) of the default kinds, photographic ones included."""
    return render_synth(tmp_path_factory.mktemp("bench") / "set", 2, 32, 1)


def bench(script: str, *args, timeout: int = 600) -> str:
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return p.stdout


def test_synth_overhead():
    out = bench("synth_overhead.py", "--scenes", 1, "--resolution", 32, "--samples", 1)
    assert "Cycles share of wall time" in out and "scenes failed                        0" in out


def test_curate_throughput():
    out = bench("curate_throughput.py", "--files", 20, "--repeats", 1, "--clip-images", 0)
    assert "pass-1 ratio (Ray job / plain loop files/s):" in out


def test_curate_scale():
    out = bench("curate_scale.py", "--sizes", 200, "--base-files", 5, "--num-cpus", 1)
    assert "200 inputs:" in out and "counts_ok True" in out


def test_train_step(small_set):
    out = bench("train_step.py", "--manifest", small_set, "--steps", 12)
    assert "DDP / 1 process: x" in out and "params identical: True" in out


def test_reference_renderer(small_set, tmp_path):
    out = bench("reference_renderer.py", "--data", small_set, "--out", tmp_path / "r.json")
    assert "LVCorr over K" in out and (tmp_path / "r.json").is_file()


def test_flux_gpu_tiny_on_the_cpu(tmp_path):
    args = ["--preset", "tiny", "--device", "cpu", "--steps", 1, "--warmup", 0]
    out = bench("flux_gpu.py", *args, "--resolution", 32, "--out", tmp_path / "f.json")
    assert "summary: tiny deblurnet:" in out


def test_cycles_k_sweep(small_set, tmp_path):
    args = ["--data", small_set, "--scenes", 1, "--samples", 1, "--out", tmp_path / "k.json"]
    assert "reference PSNR vs Cycles per f-number" in bench("cycles_k_sweep.py", *args)


def test_truth_convergence(small_set, tmp_path):
    args = ["--data", small_set, "--scenes", 1, "--samples", 1, "--renders", "0,1"]
    out = bench(
        "truth_convergence.py", *args, "--out", tmp_path / "t.json", "--strip", tmp_path / "t.png"
    )
    assert "worst frame (whole):" in out and (tmp_path / "t.png").is_file()


def test_sweep_convergence(render_synth, tmp_path):
    """One scene of the small tier's config with a K sweep (32 px, 1 spp), its sweep again at 2."""
    grid = "aperture.sweep_k=[0.125, 0.25, 0.5, 1, 2, 4]"  # the small tier's grid at 32 px
    config = REPO / "synth" / "configs" / "benchmark_small.toml"
    data = render_synth(tmp_path / "set", 1, 32, 1, "--config", config, "--set", grid)
    out = bench(
        "sweep_convergence.py", "--data", data, "--samples", 2, "--out", tmp_path / "s.json"
    )
    assert "means: reference vs set" in out and (tmp_path / "s.json").is_file()


def test_synth_denoise_fidelity():
    args = ["--scenes", 1, "--samples", 1, "--reference-samples", 4]
    assert "top octave" in bench("synth_denoise_fidelity.py", *args)


def test_synth_kinds():
    assert "targets:" in bench("synth_kinds.py", "--scenes", 3)


def test_synth_transfer(tmp_path):
    args = ["--out", tmp_path / "t", "--scenes", 2, "--heldout-scenes", 1, "--steps", 2]
    args += ["--seeds", 0, "--resolution", 32, "--samples", 1]
    assert "transfer.json" in bench("synth_transfer.py", *args)


@pytest.mark.parametrize("script", ["demo_seeds.py", "route_2p5d.py"])
def test_demo_benches_need_a_finished_demo(tmp_path, script):
    """Their smallest size is a finished demo (``make demo``, minutes): here, only that they
    refuse a folder that is not one, in one line (the slow demo test builds a real one)."""
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--demo", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and "not a finished demo (run make demo first)" in p.stderr


def test_photos_throughput():
    out = bench("photos_throughput.py", "--photos", 1, "--long-edge", 64, "--workers", 0)
    assert "job / bare: x" in out and "pairs per CPU-second" in out


def test_train_feed():
    args = ["--feed", 64, "--feed-samples", 20, "--frames", 2, "--preset", "tiny"]
    out = bench("train_step.py", *args)
    assert "feed from the latent cache" in out and "samples/CPU-s" in out and "end: load" in out
