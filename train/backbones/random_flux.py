"""A random-init FLUX.1 pipeline folder in diffusers layout, for tests and benches without weights.

``write_random_flux_folder(path, preset)`` writes what ``FluxPipeline.save_pretrained`` writes
(``model_index.json``, ``transformer/``, ``vae/``, ``text_encoder/`` + ``tokenizer/`` (CLIP),
``text_encoder_2/`` + ``tokenizer_2/`` (T5), ``scheduler/``), so the code that loads FLUX.1-dev
from a local path (transformer, VAE codec, cached prompt embeddings) runs unchanged on it.
Presets: ``tiny`` (every part a few thousand parameters: CPU tests) and ``small`` (FLUX.1-dev's
real widths, attention heads, text dimensions and VAE, but 2 double + 4 single blocks and
one-layer text encoders: GPU step time and memory per block at the real width). Tokenizers are
built from a small in-memory vocabulary (byte-level characters for CLIP, letters for T5): the
embeddings are meaningless but deterministic, shaped exactly as the real ones.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

# FLUX.1-dev's transformer (19 double + 38 single blocks) and VAE, as the release's configs.
DEV_TRANSFORMER = dict(
    patch_size=1,
    in_channels=64,
    num_attention_heads=24,
    attention_head_dim=128,
    joint_attention_dim=4096,
    pooled_projection_dim=768,
    guidance_embeds=True,
    axes_dims_rope=(16, 56, 56),
    num_layers=19,
    num_single_layers=38,
)
_DEV_VAE = dict(
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=16,
    norm_num_groups=32,
)
_VAE_SCALE = dict(scaling_factor=0.3611, shift_factor=0.1159)

PRESETS = {
    "tiny": dict(
        transformer=dict(
            DEV_TRANSFORMER,
            num_layers=1,
            num_single_layers=1,
            num_attention_heads=2,
            attention_head_dim=16,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            axes_dims_rope=(4, 6, 6),
        ),
        vae=dict(block_out_channels=(8, 8, 8, 8), layers_per_block=1, latent_channels=16),
        vae_groups=4,
        clip=dict(hidden_size=32, layers=1, heads=2, intermediate=37),
        t5=dict(layers=1, heads=2, d_kv=8, d_ff=37),
    ),
    "small": dict(
        transformer=dict(DEV_TRANSFORMER, num_layers=2, num_single_layers=4),
        vae=dict(_DEV_VAE),
        vae_groups=32,
        clip=dict(hidden_size=768, layers=1, heads=12, intermediate=3072),
        t5=dict(layers=1, heads=4, d_kv=64, d_ff=256),
    ),
}


def _clip_tokenizer():
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())  # the 256 byte-level characters
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _t5_tokenizer():
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -3.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    pieces += [("▁" + c, -2.5) for c in "abcdefghijklmnopqrstuvwxyz"]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


@contextlib.contextmanager
def _default_dtype(dtype):
    """Parameters are made in ``dtype`` (no fp32 copy of a large model first)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def random_flux_pipeline(preset: str = "tiny", seed: int = 0, dtype=torch.float32):
    """A ``FluxPipeline`` of random-init parts (see the module docstring for the presets)."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    if preset not in PRESETS:
        raise ValueError(f"random FLUX preset {preset!r}: expected one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    tok, tok2 = _clip_tokenizer(), _t5_tokenizer()
    with torch.random.fork_rng(), _default_dtype(dtype):
        torch.manual_seed(seed)
        transformer = FluxTransformer2DModel(**p["transformer"])
        n = len(p["vae"]["block_out_channels"])
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            norm_num_groups=p["vae_groups"],
            use_quant_conv=False,
            use_post_quant_conv=False,
            **{k: v for k, v in p["vae"].items() if k != "norm_num_groups"},
            **_VAE_SCALE,
        )
        c = p["clip"]
        clip = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tok),
                hidden_size=c["hidden_size"],
                intermediate_size=c["intermediate"],
                num_hidden_layers=c["layers"],
                num_attention_heads=c["heads"],
                max_position_embeddings=77,
                projection_dim=c["hidden_size"],
                bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
        )
        t = p["t5"]
        t5 = T5EncoderModel(
            T5Config(
                vocab_size=len(tok2),
                d_model=p["transformer"]["joint_attention_dim"],
                d_kv=t["d_kv"],
                d_ff=t["d_ff"],
                num_layers=t["layers"],
                num_heads=t["heads"],
                pad_token_id=tok2.pad_token_id,
                eos_token_id=tok2.eos_token_id,
            )
        )
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=clip,
        tokenizer=tok,
        text_encoder_2=t5,
        tokenizer_2=tok2,
        transformer=transformer,
    )
    return pipe


def write_random_flux_folder(path: str | Path, preset: str = "tiny", seed: int = 0, dtype=None):
    """Write a random-init FLUX.1 diffusers folder at ``path`` (see the module docstring)."""
    dtype = dtype or (torch.float32 if preset == "tiny" else torch.bfloat16)
    path = Path(path)
    random_flux_pipeline(preset, seed, dtype).save_pretrained(str(path))
    return path


def random_flux_transformer(
    num_layers: int = 19, num_single_layers: int = 38, device="cpu", dtype=torch.bfloat16, seed=0
):
    """FLUX.1-dev's transformer architecture (default: full size, 11.9 B parameters), random-init
    and made directly on ``device`` in ``dtype`` (a GPU bench needs no 24 GB folder)."""
    from diffusers import FluxTransformer2DModel

    config = dict(DEV_TRANSFORMER, num_layers=num_layers, num_single_layers=num_single_layers)
    with torch.random.fork_rng(devices=[]), _default_dtype(dtype), torch.device(device):
        torch.manual_seed(seed)
        return FluxTransformer2DModel(**config)
