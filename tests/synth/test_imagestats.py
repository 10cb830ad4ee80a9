"""Natural-image statistics on images with known statistics, and on real photographs."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synth import imagestats as ist
from synth.pool import EMBEDDED_PHOTOS
from synth.stats_report import format_table, write_natural_stats

SKIMAGE_PHOTOS = list(EMBEDDED_PHOTOS)


def power_law_noise(h, w, power_slope, seed):
    """Random-phase noise, power |F|^2 = f^power_slope exactly (f in cycles/pixel), in [0, 1]."""
    rng = np.random.default_rng(seed)
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    f[0, 0] = 1.0
    amplitude = f ** (power_slope / 2)
    amplitude[0, 0] = 0.0
    phase = np.exp(1j * np.angle(np.fft.fft2(rng.standard_normal((h, w)))))  # Hermitian
    img = np.fft.ifft2(phase * amplitude).real
    return (img - img.min()) / (img.max() - img.min())


def box_blur(img, radius_px):
    """Separable box blur with wrap-around (the noise above is periodic)."""
    out = img
    for axis in (0, 1):
        out = sum(np.roll(out, k, axis=axis) for k in range(-radius_px, radius_px + 1))
        out = out / (2 * radius_px + 1)
    return out


def as_rgb_uint8(gray):
    return np.repeat((np.clip(gray, 0, 1) * 255).round().astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize("power_slope", [-2.0, -3.0, 0.0])
@pytest.mark.parametrize("shape", [(128, 128), (96, 128), (128, 80)])
def test_spectral_slope_recovers_power_law_noise(power_slope, shape):
    slopes = [ist.spectral_slope(power_law_noise(*shape, power_slope, s)) for s in range(4)]
    assert abs(np.mean(slopes) - power_slope) < 0.15, slopes
    assert max(abs(s - power_slope) for s in slopes) < 0.3, slopes


def test_to_gray_and_resize_long_edge():
    rgb = np.zeros((10, 20, 4), np.uint8)
    rgb[..., 1] = 255
    assert np.allclose(ist.to_gray(rgb), 0.7152)
    assert ist.to_gray(np.full((4, 4), 0.5)).dtype == np.float64
    img = np.random.default_rng(0).random((300, 451, 3))
    small = ist.resize_long_edge(img, 128)
    assert small.shape == (85, 128, 3)
    assert abs(small.mean() - img.mean()) < 1e-3  # area average keeps the mean
    assert ist.resize_long_edge(img[:50, :60], 128).shape == (50, 60, 3)  # never upscales


def gradient_histogram(values: np.ndarray) -> np.ndarray:
    """``histogram_fractions`` of log10 gradient magnitudes on the fixed ``GRADIENT_EDGES``."""
    return ist.histogram_fractions(values, ist.GRADIENT_EDGES)


def test_constant_image_has_an_all_eps_gradient_histogram():
    values = ist.log_gradient_magnitudes(np.full((32, 48), 0.3))
    assert values.shape == (31 * 47,)
    assert np.allclose(values, np.log10(ist.GRADIENT_EPS))
    hist = gradient_histogram(values)
    assert hist.sum() == pytest.approx(1.0)
    assert hist.max() == 1.0
    assert ist.GRADIENT_EDGES[hist.argmax()] <= np.log10(ist.GRADIENT_EPS)


def test_wasserstein_1d():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(1000)
    assert ist.wasserstein_1d(a, a) == 0.0
    assert ist.wasserstein_1d(a, a + 0.7) == pytest.approx(0.7)
    assert ist.wasserstein_1d([0.0], [0.0, 1.0]) == pytest.approx(0.5)
    b = rng.random(333)
    q = (np.arange(100_000) + 0.5) / 100_000  # against the quantile-function integral
    qa, qb = (np.quantile(x, q, method="inverted_cdf") for x in (a, b))
    assert ist.wasserstein_1d(a, b) == pytest.approx(np.abs(qa - qb).mean(), abs=1e-4)


def test_saturation_brightness():
    s, v = ist.saturation_brightness(np.full((4, 5, 3), 128, np.uint8))
    assert np.all(s == 0) and np.allclose(v, 128 / 255)
    s, v = ist.saturation_brightness(np.zeros((2, 2, 3)))
    assert np.all(s == 0) and np.all(v == 0)
    s, v = ist.saturation_brightness(np.array([[[1.0, 0.5, 0.0]]]))
    assert s[0, 0] == 1.0 and v[0, 0] == 1.0


def test_image_stats_subsamples_deterministically():
    img = power_law_noise(256, 256, -2.0, 0)
    st = ist.image_stats(as_rgb_uint8(img), long_edge_px=256)
    assert st["log_gradient"].size == ist.MAX_SAMPLES_PER_IMAGE
    again = ist.image_stats(as_rgb_uint8(img), long_edge_px=256)
    assert np.array_equal(st["log_gradient"], again["log_gradient"])
    assert st["saturation_mean"] == 0.0
    assert abs(st["spectral_slope"] + 2.0) < 0.3


def _groups():
    def pink(seeds):
        return [as_rgb_uint8(power_law_noise(96, 128, -2.0, s)) for s in seeds]

    smooth = [as_rgb_uint8(box_blur(power_law_noise(96, 128, -2.0, s), 3)) for s in (6, 7, 8)]
    return {"photos": pink((0, 1, 2)), "same": pink((3, 4, 5)), "smooth": smooth}


def test_group_table_ranks_the_same_statistics_closer():
    rows = ist.group_table(_groups())
    assert [r["name"] for r in rows] == ["photos", "same", "smooth"]
    ref, same, smooth = rows
    assert ref["images"] == 3
    assert ref["slope_gap_to_reference"] == ref["gradient_w1_to_reference"] == 0.0
    assert ref["saturation_w1"] == ref["brightness_w1"] == 0.0
    assert same["slope_gap_to_reference"] < smooth["slope_gap_to_reference"]
    assert same["gradient_w1_to_reference"] < smooth["gradient_w1_to_reference"] / 2
    assert smooth["spectral_slope_mean"] < -2.5  # blurring steepens the spectrum
    for r in rows:  # the steepest and flattest image bracket the mean
        assert r["spectral_slope_min"] <= r["spectral_slope_mean"] <= r["spectral_slope_max"]
    assert same["spectral_slope_max"] - same["spectral_slope_min"] < 0.3  # one kind of image
    with pytest.raises(KeyError):
        ist.group_table(_groups(), reference="missing")


def test_write_natural_stats(tmp_path):
    report = write_natural_stats(_groups(), tmp_path / "stats", long_edge_px=64)
    names = {p.name for p in (tmp_path / "stats").iterdir()}
    assert names == {"natural_stats.json", "natural_stats.md", "natural_stats.png"}
    assert json.loads((tmp_path / "stats" / "natural_stats.json").read_text()) == report
    assert report["settings"]["long_edge_px"] == 64
    assert [r["name"] for r in report["rows"]] == ["photos", "same", "smooth"]
    md = (tmp_path / "stats" / "natural_stats.md").read_text()
    assert md.count("\n") == 5 and "| smooth |" in md
    assert Image.open(tmp_path / "stats" / "natural_stats.png").size[0] > 0


def test_real_photographs_have_natural_slopes():
    skimage = pytest.importorskip("skimage")
    data = Path(skimage.__file__).parent / "data"
    photos = {
        name.split(".")[0]: np.asarray(Image.open(data / name).convert("RGB"))
        for name in SKIMAGE_PHOTOS
        if (data / name).exists()
    }
    if len(photos) < 3:
        pytest.skip("scikit-image ships too few of the sample photographs")
    groups = {"photos": list(photos.values())} | {k: [v] for k, v in photos.items()}
    rows = ist.group_table(groups, long_edge_px=128)
    print("\n" + format_table(rows))
    assert -3.0 <= rows[0]["spectral_slope_mean"] <= -1.5
