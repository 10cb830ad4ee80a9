"""FLUX.1 transformer as a conditional denoiser: local loading, tiny configs, LoRA, two modes.

* ``load_flux_transformer(path)``: FLUX.1-dev's transformer from a **local** diffusers folder
  (``path/transformer``), never from a hub; ``tiny_flux(in_channels)`` builds a random-init
  model with the same class and code path for CPU runs and tests.
* ``add_lora``: peft LoRA on the 343 modules the Genfocus release adapts
  (docs/architecture.md section 5b), with ``lora_alpha = rank`` (scale 1); ``stack_adapters``
  runs several (a frozen base BokehNet LoRA and a trainable shape LoRA) together.
* ``FluxDenoiser``: latents in, velocity out. ``seq`` mode appends condition tokens to the target
  sequence (told apart by the first position-id axis) and runs the stock diffusers forward;
  ``branch`` mode runs ``flux_branch.branch_forward`` (conditions at timestep 0, LoRA on
  condition tokens only, no condition-to-condition attention).
"""

from __future__ import annotations

import torch
from diffusers import FluxTransformer2DModel

from train.backbones.flux_branch import branch_forward
from train.codecs import pack, position_ids, unpack

LORA_TARGETS = (
    r"(transformer_blocks\.\d+\.(attn\.(to_q|to_k|to_v|to_out\.0)|norm1\.linear|ff\.net\.2))"
    r"|(single_transformer_blocks\.\d+\.(attn\.(to_q|to_k|to_v)|norm\.linear|proj_mlp|proj_out))"
    r"|x_embedder"
)


def tiny_flux(
    in_channels: int,
    layers: int = 1,
    single_layers: int = 1,
    heads: int = 2,
    head_dim: int = 16,
    text_dim: int = 32,
    pooled_dim: int = 32,
    guidance: bool = True,
) -> FluxTransformer2DModel:
    """A random-init FLUX transformer small enough for a CPU (same class as the real one)."""
    side = head_dim // 8 * 3  # rope axes must be even and sum to head_dim, as (16, 56, 56)
    axes = (head_dim - 2 * side, side, side)
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=in_channels,
        num_layers=layers,
        num_single_layers=single_layers,
        attention_head_dim=head_dim,
        num_attention_heads=heads,
        joint_attention_dim=text_dim,
        pooled_projection_dim=pooled_dim,
        guidance_embeds=guidance,
        axes_dims_rope=axes,
    )


def load_flux_transformer(path: str, dtype=torch.bfloat16) -> FluxTransformer2DModel:
    """FLUX.1-dev's transformer from a local diffusers folder (``path/transformer``)."""
    from pathlib import Path

    folder = Path(path).expanduser()
    if not (folder / "transformer" / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder}: no transformer/config.json; point model.path at a local FLUX.1-dev "
            "diffusers folder (weights are never downloaded)"
        )
    return FluxTransformer2DModel.from_pretrained(
        folder, subfolder="transformer", dtype=dtype, local_files_only=True
    )


def add_lora(transformer, rank: int, alpha: float | None = None, adapter: str = "default"):
    """Attach a peft LoRA (Genfocus targets); only LoRA parameters stay trainable, in fp32."""
    from peft import LoraConfig

    transformer.requires_grad_(False)
    config = LoraConfig(
        r=rank, lora_alpha=alpha or rank, target_modules=LORA_TARGETS, init_lora_weights=True
    )
    transformer.add_adapter(config, adapter_name=adapter)
    for p in transformer.parameters():  # fp32 master weights on a bf16 base (AdamW steps of
        if p.requires_grad:  # ~1e-4 relative size vanish in bf16's 8-bit mantissa)
            p.data = p.data.float()
    return transformer


def stack_adapters(transformer, names: list[str], trainable: str) -> None:
    """Make the adapters ``names`` all active (their deltas add up in every LoRA layer, so
    branch mode applies each to condition tokens only) with only ``trainable``'s parameters
    trainable: peft's ``set_adapter`` marks every active adapter trainable, so the rest are
    frozen again here."""
    transformer.set_adapter(names)
    for n, p in transformer.named_parameters():
        if "lora_" in n:
            p.requires_grad_(f".{trainable}." in n)


class FluxDenoiser(torch.nn.Module):
    """Velocity of the target latent given condition latents, via a FLUX transformer.

    ``prompt_embeds`` (1, T, D) and ``pooled`` (1, P) are the fixed prompt's cached embeddings;
    ``guidance`` is the distilled guidance value (3.5 DeblurNet, 1.0 BokehNet in the release).
    """

    def __init__(
        self, transformer, prompt_embeds, pooled, mode: str = "branch", guidance: float | None = 3.5
    ):
        super().__init__()
        if mode not in ("seq", "branch"):
            raise ValueError(f"conditioning mode {mode!r}: expected seq or branch")
        self.transformer = transformer
        self.mode = mode
        self.register_buffer("prompt_embeds", prompt_embeds, persistent=False)
        self.register_buffer("pooled", pooled, persistent=False)
        self.guidance = guidance if transformer.config.guidance_embeds else None

    def forward(self, z_t: torch.Tensor, conds: list[torch.Tensor], sigma: torch.Tensor):
        b, _, h, w = z_t.shape
        dt = self.transformer.proj_out.weight.dtype  # the frozen base's (bf16 for FLUX.1-dev)
        x = pack(z_t.to(dt))
        cs = [pack(c.to(dt)) for c in conds]
        dev = z_t.device
        img_ids = position_ids(h, w, 0, device=dev)
        cond_ids = [position_ids(h, w, i + 1, device=dev) for i in range(len(cs))]
        txt = self.prompt_embeds.expand(b, -1, -1).to(dt)
        pooled = self.pooled.expand(b, -1).to(dt)
        txt_ids = torch.zeros(txt.shape[1], 3, device=dev)
        guidance = (
            torch.full((b,), self.guidance, device=dev) if self.guidance is not None else None
        )
        if self.mode == "seq":
            out = self.transformer(
                hidden_states=torch.cat([x, *cs], dim=1),
                encoder_hidden_states=txt,
                pooled_projections=pooled,
                timestep=sigma,
                img_ids=torch.cat([img_ids, *cond_ids]),
                txt_ids=txt_ids,
                guidance=guidance,
                return_dict=False,
            )[0][:, : x.shape[1]]
        else:
            out = branch_forward(
                self.transformer, x, cs, txt, pooled, sigma, img_ids, cond_ids, txt_ids, guidance
            )
        return unpack(out.to(z_t.dtype), h, w)
