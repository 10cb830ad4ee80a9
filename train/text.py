"""The fixed prompts' text embeddings, computed once and cached, so no text encoder trains or runs
in the loop.

FLUX: T5 (``prompt_embeds``, 1×512×4096) and CLIP pooled (``pooled``, 1×768) from the local
FLUX.1-dev folder through ``FluxPipeline.encode_prompt``, cached as safetensors keyed by the
prompt and the model folder. Tiny backbones: a fixed random embedding per prompt (seeded by a
hash of the prompt), since a random-init model has no text encoder to agree with.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from infra.files import atomic_write


def tiny_prompt_embeddings(prompt: str, tokens: int, dim: int, pooled_dim: int):
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big") % 2**63
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, tokens, dim, generator=g), torch.randn(1, pooled_dim, generator=g)


def flux_prompt_embeddings(prompt: str, model_path: str, cache_dir: str | Path, device="cpu"):
    """Cached (prompt_embeds, pooled) for FLUX.1-dev in ``model_path`` (local folder only).

    The text encoders load (bf16) and run on ``device`` once per prompt and model folder; later
    calls read ``cache_dir/prompt-<key>.safetensors`` and load no encoder at all.
    """
    key = hashlib.sha256(f"{Path(model_path).resolve()}|{prompt}".encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"prompt-{key}.safetensors"
    if cache.is_file():
        t = load_file(str(cache))
        return t["prompt_embeds"], t["pooled"]
    from diffusers import FluxPipeline

    pipe = FluxPipeline.from_pretrained(
        model_path, transformer=None, vae=None, local_files_only=True, dtype=torch.bfloat16
    ).to(device)
    with torch.no_grad():
        prompt_embeds, pooled, _ = pipe.encode_prompt(
            prompt=prompt, prompt_2=prompt, max_sequence_length=512
        )
    del pipe
    tensors = {
        "prompt_embeds": prompt_embeds.float().contiguous().cpu(),
        "pooled": pooled.float().contiguous().cpu(),
    }
    atomic_write(cache, lambda tmp: save_file(tensors, tmp))
    return prompt_embeds.float().cpu(), pooled.float().cpu()
