"""A classical bokeh prior computed from BokehNet's own conditions (tiny models, pixel space).

BokehMe's design (a classical renderer plus a network that corrects it) for the tiny CPU
BokehNet: from the all-in-focus image and the GenRefocus defocus map ``D`` alone (no extra
information), the CoC radius is ``r = 100 · D`` px (``D = clip(K·|disp − disp_focus|/100, 0, 1)``,
so ``100 · D = K·|Δdisp|`` clipped at 100 px). Pixels are quantised into layers by radius; each
layer's premultiplied colour and coverage are blurred with an anti-aliased disc of its radius
(FFT convolution, any radius, so the blur is never limited by the network's receptive field),
and layers are composited sharp over blurred (the map is unsigned: near and far are not told
apart, so in-focus content stays crisp over defocused content), then normalised by the
accumulated coverage. The network then learns a correction (``model.bokeh_prior``): added to
the prior (``classical``), or made to the AIF before this blur (``classical_edit``, which then
carries gradients to the edit).

With an aperture kernel image (BokehNet's ``model.shape_condition``: [B, ≥1, h, w], the kernel
in the centred ``min(h, w)`` square, ``train.conditions.kernel_image``) each sample's layers are
blurred with ``optics.bokeh.aperture_kernel(r, kernel_b)`` (the mean over channels, scaled to the
layer's CoC, sum 1) instead of the disc, so the prior follows the shape by construction. The map
is unsigned, so layers in front of the focus plane cannot be rotated by 180° as a thin lens
shows them: the prior uses the behind-focus orientation everywhere.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from optics.bokeh import aperture_kernel, fast_fft_len

MAX_RADIUS_PX = 100.0  # the defocus map's clip


def disc_kernel(radius_px: float) -> torch.Tensor:
    """The reference renderer's anti-aliased disc (``optics.bokeh.aperture_kernel``, sum 1; a
    radius under 0.5 px is the identity) as a float64 tensor."""
    return torch.from_numpy(aperture_kernel(radius_px))


def fft_blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``x`` [B, C, H, W] convolved with a centred ``kernel``, [k, k] for every sample or
    [B, 1, k, k] one per sample (one batched FFT either way), zero outside the frame. Padded to
    at least ``H + k − 1`` (no wrap-around), up to a 2-3-5 length (``optics.bokeh.fast_fft_len``:
    327 = 3 · 109 is several times slower)."""
    k = kernel.shape[-1]
    if k == 1:
        return x
    h, w = x.shape[-2:]
    ph, pw = fast_fft_len(h + k - 1), fast_fft_len(w + k - 1)
    fx = torch.fft.rfft2(x.double(), s=(ph, pw))
    fk = torch.fft.rfft2(kernel.to(x.device), s=(ph, pw))
    y = torch.fft.irfft2(fx * fk, s=(ph, pw))
    c = k // 2
    return y[..., c : c + h, c : c + w].to(x.dtype)


def centred_square(kernel: torch.Tensor) -> torch.Tensor:
    """The kernel of a kernel image [B, ≥1, h, w] (``train.conditions.kernel_image``): the mean
    over channels of its centred ``min(h, w)`` square, [B, side, side]."""
    h, w = kernel.shape[-2:]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return kernel[:, :, y0 : y0 + side, x0 : x0 + side].mean(1)


def square_kernels(kernel: torch.Tensor) -> list:
    """Per sample of a kernel image [B, ≥1, h, w], the numpy kernel (float64, square,
    :func:`centred_square`)."""
    return [k.detach().double().cpu().numpy() for k in centred_square(kernel)]


@functools.lru_cache(maxsize=1024)
def _shaped_kernel(radius_px: float, kernel_bytes: bytes, side: int) -> torch.Tensor:
    """``aperture_kernel(radius_px, kernel)`` for a kernel given by its float64 bytes, cached:
    a forward resamples the same kernels twice (prior and edit) and batches repeat shapes."""
    kernel = np.frombuffer(kernel_bytes, dtype=np.float64).reshape(side, side)
    return torch.from_numpy(aperture_kernel(radius_px, kernel))


def _layer_kernel(radius_px: float, shapes) -> torch.Tensor:
    """The disc of ``radius_px`` ([k, k]), or each sample's shape scaled to it ([B, 1, k, k]:
    ``aperture_kernel`` gives every kernel of one radius the same size)."""
    if shapes is None:
        return disc_kernel(radius_px)
    return torch.stack([_shaped_kernel(radius_px, s.tobytes(), s.shape[0]) for s in shapes])[
        :, None
    ]


@torch.no_grad()
def classical_bokeh(
    image: torch.Tensor, dmap: torch.Tensor, max_layers: int = 24, *, kernel=None
) -> torch.Tensor:
    """The prior for ``image`` [B, 3, H, W] (any range) and ``dmap`` [B, ≥1, H, W] in [0, 1];
    ``kernel`` (optional) an aperture kernel image [B, ≥1, h, w] in [0, 1]."""
    return layered_blur(image, dmap, max_layers, kernel=kernel)


def layered_blur(
    image: torch.Tensor, dmap: torch.Tensor, max_layers: int = 24, *, kernel=None
) -> torch.Tensor:
    """:func:`classical_bokeh` with gradients to ``image`` (the layers come from ``dmap``).

    Layer ``v`` (radius ``r_v = v · step``, ``step = max(1, max r / max_layers)``) with mask
    ``m_v`` is composited as ``colour ← K_v * (x · m_v) + (1 − a_v) · colour``,
    ``alpha ← a_v + (1 − a_v) · alpha`` with ``a_v = clip(K_v * m_v, 0, 1)``, largest ``r_v``
    first; output ``colour / alpha``. ``K_v``: the disc of radius ``r_v``, or with ``kernel``
    sample b's ``aperture_kernel(r_v, kernel_b)``."""
    radius = dmap[:, :1].clamp(0, 1) * MAX_RADIUS_PX
    top = float(radius.max())
    if top < 0.5:
        return image.clone()
    step = max(1.0, top / max_layers)
    level = torch.round(radius / step)
    colour = torch.zeros_like(image, dtype=torch.float64)
    alpha = torch.zeros_like(radius, dtype=torch.float64)
    shapes = None if kernel is None else square_kernels(kernel)
    for v in torch.unique(level).flip(0).tolist():  # largest blur first, sharpest on top
        mask = (level == v).double()
        k = _layer_kernel(v * step, shapes)
        both = fft_blur(torch.cat([image.double() * mask, mask], 1), k)  # one FFT per layer
        c, a = both[:, :-1], both[:, -1:].clamp(0, 1)
        colour = c + (1 - a) * colour
        alpha = a + (1 - a) * alpha
    return (colour / alpha.clamp_min(1e-6)).to(image.dtype)
