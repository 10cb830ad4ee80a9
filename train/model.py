"""One factory for the denoiser and its codec: ``build_model(cfg) -> Built``.

``Built.denoiser(z_t, conds, sigma, sigma_floor) -> velocity`` hides the backbone (UNet, tiny
FLUX or FLUX.1-dev with LoRA); ``Built.codec`` maps images to latents and back;
``Built.trainable`` lists what the optimiser updates; ``Built.lora_module`` is the peft-wrapped
transformer whose LoRA (adapter ``Built.lora_adapter``) is saved in diffusers format (None
without LoRA). With ``model.base_lora`` the transformer carries two adapters: the base
BokehNet LoRA ("default", loaded and frozen; ``Built.base_lora`` records its file and SHA-256)
and the trainable shape LoRA ("shape"), both active.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import torch

from train.base_lora import BaseLora, resolve_base_lora
from train.codecs import make_codec
from train.config import TrainConfig


@dataclass
class Built:
    denoiser: torch.nn.Module
    codec: torch.nn.Module
    trainable: list[torch.nn.Parameter]
    lora_module: torch.nn.Module | None
    n_conds: int
    lora_adapter: str = "default"  # the adapter checkpoints save and load
    base_lora: dict | None = None  # {"path", "sha256"} of the frozen base LoRA (model.base_lora)
    trained_blur_max_px: float | None = None  # a loaded run's record (state.json blur_max_px)


class UNetDenoiser(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, z_t, conds, sigma, sigma_floor: float = 1e-4):
        return self.unet(z_t, conds, sigma, sigma_floor)


class PriorUNetDenoiser(torch.nn.Module):
    """BokehNet as a correction of the classical prior: the UNet sees ``[prior, AIF, map]`` and
    its residual head starts from the prior (``train.backbones.prior``)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, z_t, conds, sigma, sigma_floor: float = 1e-4):
        from train.backbones.prior import classical_bokeh

        kernel = conds[2] if len(conds) > 2 else None  # model.shape_condition
        base = classical_bokeh(conds[0], conds[1], kernel=kernel)
        return self.unet(z_t, [base, *conds], sigma, sigma_floor)


class PriorEditDenoiser(torch.nn.Module):
    """BokehNet as an edit of the AIF before the classical blur: the UNet sees ``[prior, AIF,
    map]`` (as :class:`PriorUNetDenoiser`) and its residual ``r`` is added to the AIF, which
    ``train.backbones.prior.layered_blur`` then blurs with the map's layers. The network can
    change what is blurred (brighten clipped highlights, fix colours) but not how much: defocused
    regions stay as smooth as the map says, so the output follows the map by construction. With
    ``model.shape_condition`` the third condition (the aperture kernel image) shapes the blur.
    With ``edit_level`` > 0 the edit applies only where the AIF's brightest channel (in [0, 1])
    reaches it (``model.edit_level``: a highlight's edit stays on its own pixels)."""

    def __init__(self, unet, edit_level: float = 0.0):
        super().__init__()
        self.unet = unet
        self.edit_level = edit_level

    def forward(self, z_t, conds, sigma, sigma_floor: float = 1e-4):
        from train.backbones.prior import classical_bokeh, layered_blur
        from train.backbones.unet import velocity_from_x0

        kernel = conds[2] if len(conds) > 2 else None  # model.shape_condition
        base = classical_bokeh(conds[0], conds[1], kernel=kernel)
        r = self.unet.correction(z_t, [base, *conds], sigma)
        if self.edit_level > 0:
            r = r * (conds[0].amax(1, keepdim=True) >= 2.0 * self.edit_level - 1.0)
        out = layered_blur(conds[0] + r, conds[1], kernel=kernel)
        return velocity_from_x0(z_t, out, sigma, sigma_floor)


class FluxWrap(torch.nn.Module):
    def __init__(self, flux_denoiser):
        super().__init__()
        self.inner = flux_denoiser

    def forward(self, z_t, conds, sigma, sigma_floor: float = 1e-4):
        return self.inner(z_t, conds, sigma)


def build_model(cfg: TrainConfig, device="cpu", transformer=None, base_lora=None) -> Built:
    """Build the denoiser; random-init parts are seeded by ``cfg.seed`` (a tiny model's frozen
    base must be the same at training and at inference, since checkpoints hold only the LoRA).

    ``transformer``: an already built FLUX transformer used instead of ``model.path``'s (the GPU
    bench makes a random-init one at FLUX.1-dev's full size directly on the device); the VAE and
    the prompt embeddings still come from ``model.path``. ``base_lora``: ``model.base_lora``
    already resolved (``train.base_lora.BaseLora``; resolved here when not given).
    """
    if cfg.model.base_lora is not None and base_lora is None:
        base_lora = resolve_base_lora(cfg.model.base_lora)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        return _build_model(cfg, device, transformer, base_lora)


def _build_model(cfg: TrainConfig, device="cpu", transformer=None, base=None) -> Built:
    m = cfg.model
    n_conds = 1 if cfg.network == "deblurnet" else 2 + bool(m.shape_condition)
    codec = make_codec(m)
    channels = codec.latent_channels
    lora_module, lora_adapter, base_lora = None, "default", None
    if m.backbone == "unet":
        from train.backbones.unet import SmallUNet

        prior = m.bokeh_prior != "none"
        unet = SmallUNet(
            channels,
            n_conds + prior,
            m.unet_width,
            m.unet_levels,
            m.unet_head,
            kernel_embedding=m.shape_condition,  # the kernel is the last condition
        )
        wrap = {
            "none": UNetDenoiser,
            "classical": PriorUNetDenoiser,
            "classical_edit": functools.partial(PriorEditDenoiser, edit_level=m.edit_level),
        }
        denoiser = wrap[m.bokeh_prior](unet)
    else:
        from train.backbones.flux import FluxDenoiser, add_lora, load_flux_transformer, tiny_flux
        from train.backbones.lowmem import load_dtype, quiet_int8_lora, set_base_weights
        from train.text import flux_prompt_embeddings, tiny_prompt_embeddings

        if m.backbone == "tiny_flux":
            transformer = tiny_flux(
                channels * 4, m.tiny_layers, m.tiny_single_layers, m.tiny_heads, m.tiny_head_dim
            )
            txt, pooled = tiny_prompt_embeddings(
                cfg.prompt,
                m.tiny_text_tokens,
                transformer.config.joint_attention_dim,
                transformer.config.pooled_projection_dim,
            )
        else:
            if transformer is None:
                transformer = load_flux_transformer(m.path, load_dtype(m.base_weights, m.dtype))
            txt, pooled = flux_prompt_embeddings(
                cfg.prompt, m.path, cfg.data.cache_dir or ".", device
            )
        set_base_weights(transformer, m.base_weights)  # model.base_weights, before the LoRA
        with quiet_int8_lora():
            if base is not None:
                base_lora = _add_base_and_shape_lora(transformer, m, base)
                lora_adapter, lora_module = "shape", transformer
            elif m.lora_rank > 0:
                add_lora(transformer, m.lora_rank, m.lora_alpha or m.lora_rank)
                lora_module = transformer
        if m.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
        denoiser = FluxWrap(FluxDenoiser(transformer, txt, pooled, m.mode, cfg.guidance))
    denoiser.to(device)
    codec.to(device)
    trainable = [p for p in denoiser.parameters() if p.requires_grad]
    return Built(denoiser, codec, trainable, lora_module, n_conds, lora_adapter, base_lora)


def _add_base_and_shape_lora(transformer, m, base: BaseLora) -> dict:
    """The frozen base LoRA ``base`` ("default", its own rank) and a trainable shape LoRA
    ("shape", ``m.lora_rank``), both active; returns the base's record."""
    from train.backbones.flux import add_lora, stack_adapters
    from train.checkpoint import load_lora

    add_lora(transformer, base.rank, base.alpha)
    load_lora(transformer, base.file)
    with warnings.catch_warnings():  # peft warns that a second adapter is one more adapter
        warnings.filterwarnings("ignore", "Already found a `peft_config`")
        add_lora(transformer, m.lora_rank, m.lora_alpha or m.lora_rank, adapter="shape")
    stack_adapters(transformer, ["default", "shape"], trainable="shape")
    return base.record
