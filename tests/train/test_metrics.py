"""Metrics against hand-computed values; plots and metric files read back."""

import csv
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from train.evaluate.metrics import laplacian_variance, lvcorr, psnr, ssim
from train.outputs import to_uint8, write_loss_curve, write_metrics, write_sample_grid


def test_psnr_identical_and_known_offsets():
    a = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2 - 1
    assert psnr(a, a) == math.inf
    # a constant error e gives MSE = e² exactly: PSNR = 10 log10(4 / e²)
    assert psnr(a, a + 0.1) == pytest.approx(10 * math.log10(4 / 0.01), abs=1e-9)
    # per-image mean: errors 0.1 and 0.2 -> the mean of the two PSNRs
    b = a.clone()
    b[0] += 0.1
    b[1] += 0.2
    want = (10 * math.log10(4 / 0.01) + 10 * math.log10(4 / 0.04)) / 2
    assert psnr(a, b) == pytest.approx(want, abs=1e-9)


def test_psnr_of_known_gaussian_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.zeros(4, 3, 128, 128)
    sigma = 0.05
    noise = torch.randn(a.shape, generator=g) * sigma
    mse = (noise.double() ** 2).flatten(1).mean(1)
    want = float((10 * torch.log10(4 / mse)).mean())
    assert psnr(a, a + noise) == pytest.approx(want, abs=1e-9)
    assert psnr(a, a + noise) == pytest.approx(10 * math.log10(4 / sigma**2), abs=0.01)


def test_ssim_hand_computed():
    a = torch.rand(3, 24, 24) * 2 - 1
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    # constant images: variances 0, so SSIM = (2 μa μb + C1) / (μa² + μb² + C1)
    x = torch.full((1, 1, 20, 20), 0.2, dtype=torch.float64)
    y = torch.full((1, 1, 20, 20), -0.3, dtype=torch.float64)
    c1 = (0.01 * 2) ** 2
    want = (2 * 0.2 * -0.3 + c1) / (0.2**2 + 0.3**2 + c1)
    assert ssim(x, y) == pytest.approx(want, rel=1e-9)
    # more noise, lower SSIM
    n = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1)) * 2 - 1
    e = torch.randn(n.shape, generator=torch.Generator().manual_seed(2))
    scores = [ssim(n, n + s * e) for s in (0.0, 0.05, 0.2, 0.5)]
    assert scores[0] == pytest.approx(1.0, abs=1e-6)
    assert scores[0] > scores[1] > scores[2] > scores[3] > 0.0


def test_ssim_matches_scikit_image_gaussian_ssim():
    """The separable window gives Wang et al.'s SSIM as scikit-image computes it (11-tap Gaussian,
    σ 1.5, population covariances, the border that the window does not cover left out)."""
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(3)
    a = torch.rand(3, 40, 52, generator=g, dtype=torch.float64) * 2 - 1
    b = (a + 0.3 * torch.randn(a.shape, generator=g, dtype=torch.float64)).clamp(-1, 1)
    want = structural_similarity(
        a.numpy(),
        b.numpy(),
        channel_axis=0,
        data_range=2.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(a, b) == pytest.approx(want, rel=1e-9)


def test_laplacian_variance_hand_computed():
    img = torch.zeros(3, 5, 5)
    img[:, 2, 2] = 1.0  # a single bright pixel: Laplacian -4 at the centre, 1 at 4 neighbours
    vals = torch.tensor([-4.0, 1, 1, 1, 1, 0, 0, 0, 0], dtype=torch.float64)
    assert laplacian_variance(img) == pytest.approx(float(vals.var(unbiased=False)), rel=1e-12)
    batch = torch.stack([img, img * 2])
    np.testing.assert_allclose(
        laplacian_variance(batch).numpy(), [vals.var(unbiased=False), 4 * vals.var(unbiased=False)]
    )


def _gaussian_blur(x, sigma):
    r = int(math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(
        F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c
    )
    return F.conv2d(
        F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c
    )


def test_lvcorr_exactly_one_when_variance_is_linear_in_k():
    base = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    k = np.array([1.0, 2.5, 4.0, 5.5, 7.0])  # evenly spaced, so reversing stays linear
    scales = np.sqrt(1.0 - k / 10.0)  # LV(a·x) = a² LV(x): LV = LV(base)·(1 − K/10), linear in K
    images = torch.cat([base * float(s) for s in scales])
    assert lvcorr(k, images) == pytest.approx(1.0, abs=1e-9)
    assert lvcorr(k[::-1].copy(), images) == pytest.approx(-1.0, abs=1e-9)


def test_lvcorr_of_a_blur_sweep_is_near_one():
    sharp = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    k = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    images = [_gaussian_blur(sharp, s)[0] for s in k]  # a list of [C, H, W] also works
    # Pearson sees the convex decay of LV with blur (≈ σ⁻⁴): monotone, but far from linear
    assert 0.5 < lvcorr(k, images) < 0.9
    assert lvcorr(k, images, method="spearman") == pytest.approx(1.0, abs=1e-12)
    assert lvcorr(k[3:], images[3:]) > 0.9  # over a narrower sweep it is nearly linear
    shuffled = [images[i] for i in (3, 0, 6, 1, 5, 2, 4)]
    assert lvcorr(k, shuffled, method="spearman") < 0.5  # no control -> low score


def test_sample_grid_places_tiles(tmp_path):
    g = torch.Generator().manual_seed(4)
    rows = [[torch.rand(3, 8, 10, generator=g) * 2 - 1 for _ in range(3)] for _ in range(2)]
    rows[1][2] = torch.rand(1, 8, 10, generator=g) * 2 - 1  # grey maps are replicated
    path = write_sample_grid(rows, ["blurry", "output", "target"], str(tmp_path / "grid.png"))
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (14 + 2 + 2 * 10, 2 + 3 * 12, 3)
    for r in range(2):
        for c in range(3):
            y, x = 14 + 2 + r * 10, 2 + c * 12
            np.testing.assert_array_equal(img[y : y + 8, x : x + 10], to_uint8(rows[r][c]))
    assert (img[:14] < 128).any()  # the labels were drawn
    with pytest.raises(ValueError, match="2 labels for 3 columns"):
        write_sample_grid(rows, ["a", "b"], str(tmp_path / "bad.png"))


def test_loss_curve_png(tmp_path):
    steps = np.arange(200)
    losses = 1.0 / (1 + steps / 20) + 0.01 * np.sin(steps)
    path = write_loss_curve(steps, losses, str(tmp_path / "loss.png"))
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (600, 350)
        a = np.asarray(im.convert("RGB"))
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 10  # lines, axes and text, not blank
    with pytest.raises(ValueError, match="equal-length"):
        write_loss_curve([1, 2], [1.0], str(tmp_path / "x.png"))


def test_write_metrics_json_and_csv(tmp_path):
    metrics = {
        "psnr": 24.5,
        "psnr_identity": np.float64(22.0),
        "ssim": torch.tensor(0.8),
        "steps": 300,
        "perfect": math.inf,
        "per_task": {"lvcorr": 0.93},
    }
    jp, cp = write_metrics(metrics, str(tmp_path / "run"))
    data = json.loads(open(jp).read())
    assert data["psnr"] == 24.5 and data["psnr_identity"] == 22.0 and data["steps"] == 300
    assert data["ssim"] == pytest.approx(0.8) and data["per_task"]["lvcorr"] == 0.93
    assert float(data["perfect"]) == math.inf
    with open(cp) as f:
        table = {r["metric"]: r["value"] for r in csv.DictReader(f)}
    assert float(table["psnr"]) == 24.5 and float(table["per_task.lvcorr"]) == 0.93
    assert float(table["perfect"]) == math.inf and float(table["ssim"]) == pytest.approx(0.8)
