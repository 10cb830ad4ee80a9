"""Test-wide settings: offline model hubs, no Ray usage stats, the ``slow`` marker, fixtures."""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CAMERA_EXIF = SHARED / "data" / "camera-exif"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long tests (renders, Ray clusters, learning runs); `make test-slow`"
    )


@pytest.fixture(scope="session")
def camera_exif_dir() -> Path:
    if not (CAMERA_EXIF / "exiftool-reference.json").exists():
        pytest.fail(f"shared camera files missing: {CAMERA_EXIF} (the repo expects ../shared)")
    return CAMERA_EXIF
