"""Shared train fixtures: a real synthetic manifest rendered once with Blender (64², 4 spp)."""

import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def synth_manifest(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("train_synth") / "synth"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "synth",
            "render",
            "--out",
            str(out),
            "--scenes",
            "10",
            "--resolution",
            "64",
            "--samples",
            "4",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return str(out)


@pytest.fixture
def tiny_cfg():
    """A loader for the checked-in tiny configs with test-sized settings."""
    from train.config import load_train_config

    def load(name: str, **eval_overrides):
        cfg = load_train_config(name)
        cfg.eval.batches, cfg.eval.batch_size, cfg.eval.sample_steps = 1, 2, 2
        cfg.eval.lvcorr_images = 1
        for k, v in eval_overrides.items():
            setattr(cfg.eval, k, v)
        return cfg

    return load
