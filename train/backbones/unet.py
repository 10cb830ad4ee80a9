"""A small UNet denoiser with channel-concatenated conditions (CPU runs, learning tests).

Input: the noisy target latent and the condition latents stacked on channels; a sinusoidal
embedding of σ modulates every residual block (FiLM). With ``kernel_embedding`` the last
condition is an aperture kernel image (``train.conditions.kernel_image``): besides entering with
the others, its centred square pooled to ``KERNEL_GRID_PX``² is embedded and added to σ's, so the
shape reaches every block at every scale (a 3×3 network sees only the part of a frame-sized
kernel image next to each pixel). ``head="velocity"`` predicts v directly;
``head="residual"`` predicts ``x0 = cond[0] + r`` with a zero-initialised last layer (so an
untrained model is the identity baseline) and returns the implied velocity
``v = (z_t − x0) / σ`` (σ floored during training to keep the 1/σ² weight bounded).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from train.backbones.prior import centred_square


def sigma_embedding(sigma: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=sigma.device) / half)
    a = sigma.float()[:, None] * 1000.0 * freqs[None]
    return torch.cat([a.sin(), a.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb, 2 * cout)
        self.n2 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.c1(F.silu(self.n1(x)))
        scale, shift = self.film(e)[:, :, None, None].chunk(2, dim=1)
        h = self.n2(h) * (1 + scale) + shift
        return self.skip(x) + self.c2(F.silu(h))


KERNEL_GRID_PX = 16


def kernel_grid(kernel: torch.Tensor) -> torch.Tensor:
    """A kernel image [B, ≥1, h, w] as [B, KERNEL_GRID_PX²]: the square the prior reads
    (``train.backbones.prior.centred_square``), area-pooled."""
    square = centred_square(kernel)[:, None]
    return F.adaptive_avg_pool2d(square, KERNEL_GRID_PX).flatten(1)


class SmallUNet(nn.Module):
    def __init__(
        self,
        channels: int,
        n_conds: int,
        width: int = 32,
        levels: int = 2,
        head: str = "residual",
        kernel_embedding: bool = False,
    ):
        super().__init__()
        if head not in ("velocity", "residual"):
            raise ValueError(f"unet head {head!r}: expected velocity or residual")
        self.head, self.emb_dim = head, width * 4
        self.emb = nn.Sequential(
            nn.Linear(width, self.emb_dim), nn.SiLU(), nn.Linear(self.emb_dim, self.emb_dim)
        )
        self.width = width
        self.kernel_emb = None
        if kernel_embedding:  # zero-initialised: training starts from σ's embedding alone
            self.kernel_emb = nn.Sequential(
                nn.Linear(KERNEL_GRID_PX**2, self.emb_dim),
                nn.SiLU(),
                nn.Linear(self.emb_dim, self.emb_dim),
            )
            nn.init.zeros_(self.kernel_emb[-1].weight)
            nn.init.zeros_(self.kernel_emb[-1].bias)
        self.inp = nn.Conv2d(channels * (1 + n_conds), width, 3, padding=1)
        widths = [width * 2**i for i in range(levels + 1)]
        self.down = nn.ModuleList(
            ResBlock(widths[i], widths[i + 1], self.emb_dim) for i in range(levels)
        )
        self.mid = ResBlock(widths[-1], widths[-1], self.emb_dim)
        self.up = nn.ModuleList(
            ResBlock(widths[i + 1] * 2, widths[i], self.emb_dim) for i in reversed(range(levels))
        )
        self.out_norm = nn.GroupNorm(8, width)
        self.out = nn.Conv2d(width, channels, 3, padding=1)
        if head == "residual":
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def correction(self, z_t, conds, sigma) -> torch.Tensor:
        """The network's raw output: the velocity (velocity head) or the residual ``r``."""
        e = self.emb(sigma_embedding(sigma, self.width))
        if self.kernel_emb is not None:
            e = e + self.kernel_emb(kernel_grid(conds[-1]).to(e.dtype))
        h = self.inp(torch.cat([z_t, *conds], dim=1))
        skips = []
        for block in self.down:
            h = block(h, e)
            skips.append(h)
            h = F.avg_pool2d(h, 2)
        h = self.mid(h, e)
        for block in self.up:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = block(torch.cat([h, skips.pop()], dim=1), e)
        return self.out(F.silu(self.out_norm(h)))

    def forward(self, z_t, conds, sigma, sigma_floor: float = 1e-4):
        r = self.correction(z_t, conds, sigma)
        if self.head == "velocity":
            return r
        return velocity_from_x0(z_t, conds[0] + r, sigma, sigma_floor)


def velocity_from_x0(z_t, x0, sigma, sigma_floor: float = 1e-4) -> torch.Tensor:
    """The flow-matching velocity ``(x_t − x0) / σ`` of a clean-image prediction (σ floored)."""
    s = sigma.clamp(min=sigma_floor).view(-1, 1, 1, 1)
    return (z_t - x0) / s
