"""Image <-> latent codecs and FLUX token packing with position ids.

* ``PixelCodec(factor)``: space-to-depth of the [-1, 1] image by ``factor`` (no weights), for
  tiny CPU models; ``VaeCodec``: the FLUX VAE from a local path, ``(z − shift) · scale`` on a
  latent *sample* (as the release encodes conditions).
* ``pack``/``unpack``: 2×2 latent patches to tokens (B, H/2·W/2, 4C) as FLUX does, and
  ``position_ids(h, w, index)``: (h/2·w/2, 3) ids ``[index, row, col]``. Spatially aligned
  conditions share the target's grid; ``index`` (0 for the target, i+1 for condition i) tells
  them apart in ``seq`` mode, ``width_offset`` shifts an extra image (+32 tokens in the release).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class PixelCodec(torch.nn.Module):
    """Weight-free: the image itself, folded ``factor``× smaller (3·factor² channels)."""

    def __init__(self, factor: int = 4):
        super().__init__()
        self.factor = factor
        self.latent_channels = 3 * factor * factor
        self.downsample = factor

    def encode(self, img: torch.Tensor, generator=None) -> torch.Tensor:
        return F.pixel_unshuffle(img, self.factor)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(z, self.factor)

    def moments(self, img: torch.Tensor) -> torch.Tensor:
        """What the latent cache stores: the latent itself (the codec draws nothing)."""
        return self.encode(img)

    def sample(self, moments: torch.Tensor, generator=None) -> torch.Tensor:
        """:meth:`encode`'s result from :meth:`moments`'."""
        return moments


class VaeCodec(torch.nn.Module):
    """A diffusers ``AutoencoderKL`` (FLUX: 16 channels, 8× down) with its shift and scale."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae.requires_grad_(False).eval()
        self.latent_channels = vae.config.latent_channels
        self.downsample = 2 ** (len(vae.config.block_out_channels) - 1)
        self.scale = float(vae.config.scaling_factor)
        self.shift = float(getattr(vae.config, "shift_factor", None) or 0.0)

    @torch.no_grad()
    def encode(self, img: torch.Tensor, generator=None) -> torch.Tensor:
        dist = self.vae.encode(img.to(self.vae.dtype)).latent_dist
        return (dist.sample(generator=generator) - self.shift) * self.scale

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode((z / self.scale + self.shift).to(self.vae.dtype)).sample

    @torch.no_grad()
    def moments(self, img: torch.Tensor) -> torch.Tensor:
        """What the latent cache stores: the latent distribution's mean and standard deviation,
        concatenated on the channel axis (2C channels)."""
        dist = self.vae.encode(img.to(self.vae.dtype)).latent_dist
        return torch.cat([dist.mean, dist.std], dim=1)

    def sample(self, moments: torch.Tensor, generator=None) -> torch.Tensor:
        """:meth:`encode`'s result from :meth:`moments`': the same draw from the same generator
        as diffusers' ``DiagonalGaussianDistribution.sample``, then the shift and scale."""
        from diffusers.utils.torch_utils import randn_tensor

        mean, std = moments.chunk(2, dim=1)
        eps = randn_tensor(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return (mean + std * eps - self.shift) * self.scale


def make_codec(model_cfg) -> torch.nn.Module:
    """The codec of a ``model`` config section: the FLUX VAE from ``path`` (local files only) or
    the pixel codec."""
    if model_cfg.codec == "vae":
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(model_cfg.path, subfolder="vae", local_files_only=True)
        return VaeCodec(vae)
    return PixelCodec(model_cfg.pixel_factor)


def pack(z: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H/2·W/2, 4C): 2×2 patches to tokens, FLUX's layout."""
    b, c, h, w = z.shape
    z = z.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return z.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`pack` for a latent of height ``h`` and width ``w``."""
    b, n, d = tokens.shape
    c = d // 4
    z = tokens.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return z.reshape(b, c, h, w)


def position_ids(h: int, w: int, index: int = 0, width_offset: int = 0, device=None):
    """(h/2·w/2, 3) FLUX image ids ``[index, row, col + width_offset]`` for a packed latent."""
    rows = torch.arange(h // 2, device=device).view(-1, 1).expand(h // 2, w // 2)
    cols = torch.arange(w // 2, device=device).view(1, -1).expand(h // 2, w // 2) + width_offset
    ids = torch.stack([torch.full_like(rows, index), rows, cols], dim=-1)
    return ids.reshape(-1, 3).float()
