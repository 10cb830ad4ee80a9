"""Test-wide settings: offline model hubs, no Ray usage stats, the ``slow`` marker, fixtures."""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

REPO = Path(__file__).resolve().parents[1]
# The team's shared folder lies beside the checkout (as CI lays it); REFOCUS_SHARED overrides it
# for a clone made elsewhere.
SHARED = Path(os.environ.get("REFOCUS_SHARED", REPO.parent / "shared"))
CAMERA_EXIF = SHARED / "data" / "camera-exif"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long tests (renders, Ray clusters, learning runs); `make test-slow`"
    )


@pytest.fixture(scope="session")
def camera_exif_dir() -> Path:
    if not (CAMERA_EXIF / "exiftool-reference.json").exists():
        pytest.fail(
            f"shared camera files missing: {CAMERA_EXIF} "
            "(the repo expects ../shared; set REFOCUS_SHARED to its path)"
        )
    return CAMERA_EXIF


def synth_cli(*args: str, timeout: int = 1800):
    """``python -m synth ARGS`` in a subprocess; returns the CompletedProcess (text output)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "synth", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _render_synth(out: Path, scenes: int, resolution: int, samples: int, *extra: str) -> Path:
    """Render ``scenes`` scenes into ``out`` with Blender; fails the test on error."""
    p = synth_cli(
        "render",
        "--out",
        out,
        "--scenes",
        scenes,
        "--resolution",
        resolution,
        "--samples",
        samples,
        "--quiet",
        *extra,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def render_synth():
    """``render_synth(out, scenes, resolution, samples, *extra_flags) -> out``."""
    return _render_synth


@pytest.fixture(scope="session")
def run_synth():
    """``run_synth(*args) -> CompletedProcess`` of ``python -m synth``."""
    return synth_cli
