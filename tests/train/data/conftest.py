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


_SEGFORMER_LIKE = dict(
    num_encoder_blocks=4,
    depths=[1, 1, 1, 1],
    sr_ratios=[8, 4, 2, 1],
    hidden_sizes=[8, 8, 16, 16],
    num_attention_heads=[1, 1, 1, 1],
    patch_sizes=[7, 3, 3, 3],
    strides=[4, 2, 2, 2],
    mlp_ratios=[2, 2, 2, 2],
)


@pytest.fixture(scope="session")
def tiny_depth_model(tmp_path_factory) -> str:
    """A random-init GLPN (metric head: sigmoid · max_depth) saved to a local directory."""
    from transformers import GLPNConfig, GLPNForDepthEstimation, GLPNImageProcessor

    path = tmp_path_factory.mktemp("glpn") / "tiny-glpn"
    torch.manual_seed(0)
    cfg = GLPNConfig(**_SEGFORMER_LIKE, decoder_hidden_size=8, head_in_index=-1, max_depth=10)
    GLPNForDepthEstimation(cfg).save_pretrained(path)
    GLPNImageProcessor().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_segmentation_model(tmp_path_factory) -> str:
    """A random-init SegFormer with 3 classes saved to a local directory."""
    from transformers import (
        SegformerConfig,
        SegformerForSemanticSegmentation,
        SegformerImageProcessor,
    )

    path = tmp_path_factory.mktemp("segformer") / "tiny-segformer"
    torch.manual_seed(0)
    cfg = SegformerConfig(**_SEGFORMER_LIKE, decoder_hidden_size=8, num_labels=3)
    SegformerForSemanticSegmentation(cfg).save_pretrained(path)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(path)
    return str(path)
