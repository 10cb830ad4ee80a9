"""Rectified-flow (flow-matching) objective as FLUX trains, and the Euler sampler.

``x_t = (1 − σ) x0 + σ ε`` with ``ε ~ N(0, I)``; the network predicts the velocity
``v = ε − x0``; σ is drawn logit-normal (``σ = sigmoid(m + s·z)``, z ~ N(0, 1)). The loss is the
mean squared velocity error over *target* tokens only. Sampling integrates ``dx/dσ = v`` with
Euler steps from σ = 1 (noise) to σ = 0 (the image).
"""

from __future__ import annotations

import torch


def sample_sigmas(
    batch: int,
    generator: torch.Generator | None = None,
    mean: float = 0.0,
    std: float = 1.0,
    device=None,
) -> torch.Tensor:
    """Logit-normal σ in (0, 1), one per sample."""
    z = torch.randn(batch, generator=generator, device=device)
    return torch.sigmoid(mean + std * z)


def noisy(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``x_t = (1 − σ) x0 + σ ε`` with σ broadcast over the trailing dimensions."""
    s = sigma.view(-1, *([1] * (x0.dim() - 1)))
    return (1 - s) * x0 + s * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def flow_matching_loss(
    v_pred: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared velocity error (the prediction covers target tokens only), optionally
    weighted per sample (``weight = σ²`` turns it into the MSE of the implied clean image,
    since ``x0_pred − x0 = −σ (v_pred − v)``)."""
    err = (v_pred.float() - velocity_target(x0, noise).float()) ** 2
    if weight is not None:
        err = err * weight.view(-1, *([1] * (err.dim() - 1)))
    return torch.mean(err)


@torch.no_grad()
def euler_sample(
    velocity_fn,
    shape,
    steps: int = 28,
    generator: torch.Generator | None = None,
    device=None,
    dtype=torch.float32,
) -> torch.Tensor:
    """Integrate from noise (σ = 1) to σ = 0 in ``steps`` uniform Euler steps.

    ``velocity_fn(x_t, sigma[B]) -> v`` with the same shape as ``x_t``.
    """
    x = torch.randn(shape, generator=generator, dtype=dtype).to(device)  # CPU noise: reproducible
    sigmas = torch.linspace(1.0, 0.0, steps + 1, device=device)
    for i in range(steps):
        s, s_next = sigmas[i], sigmas[i + 1]
        v = velocity_fn(x, s.expand(shape[0]))
        x = x + (s_next - s) * v
    return x


@torch.no_grad()
def generate(denoiser, codec, cond_images: list[torch.Tensor], steps: int, seed: int):
    """A network's images in [-1, 1] for a batch of condition images (``train.conditions``):
    the conditions encoded by ``codec``, :func:`euler_sample` of ``denoiser`` from CPU noise
    seeded by ``seed``, decoded."""
    conds = [codec.encode(c) for c in cond_images]
    shape = conds[0].shape
    g = torch.Generator(device="cpu").manual_seed(seed)

    def v(x, s):
        return denoiser(x, conds, s.to(x.device))

    x = euler_sample(v, shape, steps=steps, generator=g, device=conds[0].device)
    return codec.decode(x).clamp(-1, 1)
