"""Flow matching: the interpolation, the velocity target, logit-normal σ, the Euler sampler."""

import torch

from train.objectives import euler_sample, flow_matching_loss, noisy, sample_sigmas, velocity_target


def test_interpolation_and_velocity():
    x0, eps = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    s = torch.tensor([0.0, 0.5, 1.0])
    xt = noisy(x0, eps, s)
    assert torch.allclose(xt[0], x0[0]) and torch.allclose(xt[2], eps[2])
    assert torch.allclose(xt[1], 0.5 * (x0[1] + eps[1]))
    # moving along v from x_t by -σ lands on x0
    v = velocity_target(x0, eps)
    assert torch.allclose(xt - s.view(-1, 1, 1, 1) * v, x0, atol=1e-6)
    assert flow_matching_loss(v, x0, eps) == 0


def test_sigmas_are_logit_normal():
    g = torch.Generator().manual_seed(0)
    s = sample_sigmas(20000, g)
    logit = torch.log(s / (1 - s))
    assert 0 < s.min() and s.max() < 1
    assert abs(logit.mean()) < 0.03 and abs(logit.std() - 1) < 0.03


def test_euler_with_the_exact_velocity_reaches_the_data():
    x0 = torch.randn(2, 3, 8, 8)
    out = euler_sample(
        lambda x, s: (x - x0) / s.view(-1, 1, 1, 1),
        x0.shape,
        steps=7,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.allclose(out, x0, atol=1e-5)
