"""The classical prior of the tiny BokehNet (train.backbones.prior) on constructed images."""

import math

import torch

from train.backbones.prior import classical_bokeh, disc_kernel


def _edge(width=64):
    img = -torch.ones(1, 3, width, width, dtype=torch.float64)
    img[..., width // 2 :] = 1.0
    return img


def test_zero_defocus_is_the_input_and_a_disc_sums_to_one():
    img = torch.rand(2, 3, 24, 24) * 2 - 1
    assert torch.equal(classical_bokeh(img, torch.zeros(2, 3, 24, 24)), img)
    for r in (0.3, 1.0, 2.5, 7.0):
        k = disc_kernel(r)
        side = 1 if r < 0.5 else 2 * math.floor(r + 0.5) + 1
        assert abs(float(k.sum()) - 1) < 1e-12 and k.shape[0] == side


def test_uniform_blur_keeps_the_mean_and_widens_with_the_radius():
    img = _edge()
    widths = []
    for d in (0.02, 0.05, 0.1):  # radius 2, 5, 10 px
        out = classical_bokeh(img, torch.full((1, 3, 64, 64), d))
        assert abs(float(out.mean() - img.mean())) < 1e-9  # normalised by the coverage
        row = out[0, 0, 32]
        widths.append(int(((row > -0.8) & (row < 0.8)).sum()))
    assert widths[0] < widths[1] < widths[2], widths
    assert abs(widths[2] - 16) <= 3  # a 10 px disc spreads a step over ~0.8 of its diameter


def test_sharp_content_stays_on_top_of_blurred_content():
    img = _edge()
    dmap = torch.full((1, 3, 64, 64), 0.1)
    dmap[..., 32:] = 0.0  # the right half in focus
    out = classical_bokeh(img, dmap)
    assert torch.allclose(out[..., 33:], img[..., 33:], atol=1e-9)  # nothing bleeds over it
    # the blurred dark half keeps its own colour up to the sharp edge: a defocused background
    # seen past a sharp foreground edge holds only background
    assert torch.allclose(out[..., :32], img[..., :32], atol=1e-9)
    both = classical_bokeh(img, torch.full((1, 3, 64, 64), 0.1))
    assert float(both[0, 0, 32, 28]) > -0.9  # blurred on both sides: the bright side spreads


def test_an_edit_of_a_defocused_region_is_blurred_with_it_and_carries_gradients():
    from train.backbones.prior import layered_blur

    torch.manual_seed(0)
    img = torch.zeros(1, 3, 48, 48, dtype=torch.float64)
    dmap = torch.zeros(1, 3, 48, 48, dtype=torch.float64)
    dmap[..., :24] = 0.06  # the left half defocused (6 px radius), the right half in focus
    edit = (torch.rand(1, 3, 48, 48, dtype=torch.float64) - 0.5).requires_grad_()
    out = layered_blur(img + edit, dmap)
    assert torch.allclose(out[..., 25:], edit[..., 25:])  # in focus: the edit as it is

    def lap(x):
        c = x[..., 1:-1, 1:-1] * 4 - x[..., :-2, 1:-1] - x[..., 2:, 1:-1]
        return c - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]

    # defocused: the noise edit comes out smooth (a network cannot add texture there)
    d, e = out.detach(), edit.detach()
    assert float(lap(d[..., 8:40, 4:18]).std()) < 0.1 * float(lap(e[..., 8:40, 4:18]).std())
    out.sum().backward()
    assert edit.grad is not None and float(edit.grad.abs().sum()) > 0


def test_the_edit_bokehnet_starts_as_its_prior():
    from train.backbones.prior import classical_bokeh
    from train.config import load_train_config
    from train.model import PriorEditDenoiser, build_model
    from train.objectives import generate

    cfg = load_train_config("bokehnet_tiny.toml")
    built = build_model(cfg)
    assert isinstance(built.denoiser, PriorEditDenoiser)
    aif = torch.rand(1, 3, 32, 32) * 2 - 1
    dmap = torch.full((1, 3, 32, 32), 0.03)
    with torch.no_grad():
        out = generate(built.denoiser, built.codec, [aif, dmap], steps=1, seed=0)
    assert torch.allclose(out, classical_bokeh(aif, dmap).clamp(-1, 1), atol=1e-5)


def test_an_edit_level_keeps_the_edit_on_the_highlights_pixels():
    """``model.edit_level``: a BokehNet whose edit spreads around a clipped highlight draws a
    round blob whatever the kernel; gated, the edit stays on the highlight's own pixels."""
    import pytest

    from train.backbones.prior import layered_blur
    from train.config import load_train_config
    from train.model import build_model

    cfg = load_train_config("bokehnet_tiny.toml")
    cfg.model.edit_level = 0.9
    built = build_model(cfg)
    assert built.denoiser.edit_level == 0.9
    for p in built.denoiser.unet.parameters():  # an edit of +0.1 everywhere
        torch.nn.init.zeros_(p)
    head = built.denoiser.unet.correction
    built.denoiser.unet.correction = lambda z, conds, sigma: head(z, conds, sigma) + 0.1
    aif = -torch.ones(1, 3, 16, 16)
    aif[..., 8, 8] = 1.0  # one white (clipped) pixel on black
    aif[..., 2, 2] = 0.7  # a grey one (0.85 in [0, 1]): below the level
    dmap = torch.zeros(1, 3, 16, 16)  # in focus: the output is the edited AIF itself
    z = torch.zeros(1, 3, 16, 16)
    with torch.no_grad():
        v = built.denoiser(z, [aif, dmap], torch.full((1,), 1.0), 1.0)
    x0 = z - v  # velocity_from_x0 at sigma 1 with floor 1: v = z - x0
    assert torch.allclose(x0, layered_blur(aif + 0.1 * (aif >= 0.8), dmap), atol=1e-6)
    assert float(x0[0, 0, 8, 8]) == pytest.approx(1.1)  # the white pixel edited
    assert float(x0[0, 0, 2, 2]) == pytest.approx(0.7)  # the grey one not


def test_fft_blur_is_the_zero_padded_convolution_at_fast_fft_lengths():
    import torch.nn.functional as F

    from optics.bokeh import fast_fft_len
    from train.backbones.prior import fft_blur

    assert [fast_fft_len(n) for n in (1, 7, 11, 127, 327, 1025)] == [1, 8, 12, 128, 360, 1080]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4, 37, 29, generator=g, dtype=torch.float64)  # 37 + 15 - 1 = 51 -> 54
    k = torch.rand(15, 15, generator=g, dtype=torch.float64)
    want = F.conv2d(x.reshape(8, 1, 37, 29), k.flip(0, 1)[None, None], padding=7)
    assert torch.allclose(fft_blur(x, k), want.reshape(2, 4, 37, 29), atol=1e-12)
    per_sample = torch.stack([k, k.flip(1)])[:, None]  # [B, 1, k, k]: one kernel per sample
    got = fft_blur(x, per_sample)
    want1 = F.conv2d(x[1:].reshape(4, 1, 37, 29), k.flip(1).flip(0, 1)[None, None], padding=7)
    assert torch.allclose(got[1], want1.reshape(4, 37, 29), atol=1e-12)
