"""``python -m optics``: each command prints just the number on its last line."""

import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "optics", *args], capture_output=True, text=True, timeout=60
    )


def last_number(proc) -> float:
    assert proc.returncode == 0, proc.stderr
    return float(proc.stdout.strip().splitlines()[-1])


LENS = ["--focal-mm", "50", "--f-number", "1.8", "--sensor-mm", "36"]


def test_coc_cycles_and_thin_lens():
    args = [*LENS, "--focus-m", "2", "--depth-m", "1", "--width-px", "512"]
    assert last_number(run("coc", *args)) == pytest.approx(-9.877, rel=1e-3)
    assert last_number(run("coc", *args, "--thin-lens")) == pytest.approx(
        -9.877 * 2 / 1.95, rel=1e-3
    )


def test_k_exif_and_k_synthetic():
    k = run("k-exif", *LENS, "--focus-m", "2", "--long-edge-px", "6000")
    assert last_number(k) == pytest.approx(118.7, rel=1e-3)
    assert last_number(run("k-synthetic", *LENS, "--width-px", "512")) == pytest.approx(
        9.8765, rel=1e-4
    )


def test_bad_input_is_one_line_not_a_traceback():
    p = run(
        "coc",
        "--focal-mm",
        "-5",
        "--f-number",
        "2",
        "--focus-m",
        "2",
        "--depth-m",
        "1",
        "--sensor-mm",
        "36",
        "--width-px",
        "512",
    )
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and "--focal-mm" in p.stderr and "> 0" in p.stderr
    p = run("k-exif", *LENS, "--focus-m", "0.01", "--long-edge-px", "100")
    assert p.returncode == 2 and "inside the focal length" in p.stderr.strip().splitlines()[-1]


def test_help_shows_an_example():
    p = run("--help")
    assert p.returncode == 0 and "python -m optics coc --focal-mm 50" in p.stdout
