"""Weight-free quality signals rank a bokeh photo, a flat sharp one and a blurred one apart."""

import numpy as np
from PIL import Image, ImageFilter

from curate.quality import exposure_clipping, laplacian, luma, quality_signals


def test_laplacian_of_a_linear_ramp_is_zero():
    yy, xx = np.mgrid[0:20, 0:30].astype(np.float32)
    assert np.allclose(laplacian(3 * xx + 2 * yy), 0)


def test_bokeh_photo_has_more_evidence_than_uniform_ones(pixels):
    bokeh = quality_signals(pixels(1, 512, 384, bokeh=True))
    sharp = quality_signals(pixels(1, 512, 384, bokeh=False))
    blurred_img = Image.fromarray(pixels(1, 512, 384, bokeh=False)).filter(
        ImageFilter.GaussianBlur(6)
    )
    blurred = quality_signals(np.asarray(blurred_img))
    assert bokeh["bokeh_evidence"] > 1.0
    assert abs(sharp["bokeh_evidence"]) < 0.2 and abs(blurred["bokeh_evidence"]) < 0.5
    assert sharp["sharpness"] > 100 * blurred["sharpness"]
    assert bokeh["quality_score"] > blurred["quality_score"]


def test_exposure_clipping_fraction():
    rgb = np.full((10, 10, 3), 128, np.uint8)
    rgb[:2] = 255
    rgb[2:3] = 0
    assert exposure_clipping(luma(rgb)) == 0.3
    assert quality_signals(rgb)["exposure_clipping"] == 0.3
