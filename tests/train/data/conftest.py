"""Fixtures for train.data tests: a real 4-scene synth render at 64² and tiny local HF models."""

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _flush_denormals():
    """Random-init models run 10-50x slower on denormals; scoped to each test because the flag is
    process-wide and would break other packages' hypothesis tests (subnormal floats)."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory, render_synth) -> str:
    """``python -m synth render`` of 4 scenes (3 DoF renders each) at 64², 4 spp (~10 s)."""
    return str(render_synth(tmp_path_factory.mktemp("synth") / "run", 4, 64, 4))


@pytest.fixture(scope="session")
def synth_rows(synth_root) -> list[dict]:
    from train.data.build import load_rows

    return load_rows([synth_root], "synthetic_pairs")


@pytest.fixture(scope="session")
def tiny_segmentation_model(tmp_path_factory, segformer_like) -> str:
    """A random-init SegFormer with 3 classes saved to a local directory."""
    from transformers import (
        SegformerConfig,
        SegformerForSemanticSegmentation,
        SegformerImageProcessor,
    )

    path = tmp_path_factory.mktemp("segformer") / "tiny-segformer"
    torch.manual_seed(0)
    cfg = SegformerConfig(**segformer_like, decoder_hidden_size=8, num_labels=3)
    SegformerForSemanticSegmentation(cfg).save_pretrained(path)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(path)
    return str(path)
