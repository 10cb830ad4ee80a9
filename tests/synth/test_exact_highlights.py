"""Computed highlight discs against brute-force Cycles, and ``[render] exact_highlights`` end to
end (real Blender): the disc of one emitter, half hidden by a black card, through a 5-bladed
lens, equals Cycles' long render to within Cycles' own noise; Blender's "Standard" 8-bit save is
:func:`synth.blender.splat.srgb8` of its linear EXR."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy")

import bpy  # noqa: E402,F401  (bmesh needs bpy first)
from PIL import Image  # noqa: E402

from infra.config_file import ConfigError  # noqa: E402
from synth.blender import render as R  # noqa: E402
from synth.blender.build import build_scene  # noqa: E402
from synth.blender.splat import cycles_mask, highlight_layer, read_linear_exr, srgb8  # noqa: E402
from synth.config import load_config  # noqa: E402
from synth.settings import RenderSettings  # noqa: E402
from synth.spec import (  # noqa: E402
    CameraSpec,
    DofSpec,
    HighlightSpec,
    LightSpec,
    MaterialSpec,
    ObjectSpec,
    SceneSpec,
)
from synth.worker import EXACT_ENGINE, render_scene_to_disk  # noqa: E402

BLACK = MaterialSpec("noise", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 1.0, 1.0)
W = 48


def _spec(objects, highlights, dof, world=0.0, lights=()):
    return SceneSpec(
        "t", 0, 0, W, W, CameraSpec(100.0, 24.0, "test", 100), (world,) * 3, 1.0,
        list(objects), list(lights), list(highlights), list(dof), "val",
    )  # fmt: skip


def _render_linear(scene, cam, tmp: Path, samples: int, seed: int, dof) -> np.ndarray:
    scene.cycles.seed = seed
    R._set_pass(scene, cam, samples, 1.0, False, dof)
    R._render(scene, {}, "x", None)
    R._save(scene, tmp / "x.exr", "EXR_FLOAT")
    return read_linear_exr(tmp / "x.exr")


def _psnr(a, b, peak):
    return 10 * np.log10(peak**2 / np.mean((a - b) ** 2))


def test_splat_equals_brute_force_cycles(tmp_path):
    """An emitter in front of the focus plane (its disc turned by 180°), half hidden by a
    black card between it and the lens: two 2,048-spp Cycles renders differ from each other by
    their noise; the computed disc differs from their mean by no more than that noise allows,
    and carries the same energy."""
    card = ObjectSpec("plane", (0.03, 0.0, -0.5), (0.0, 0.0, 0.0), (0.06, 0.4, 0.0), BLACK)
    emitter = HighlightSpec((0.004, 0.003, -1.0), 0.006, 2.0, (1.0, 0.5, 0.25))
    dof = DofSpec(1.0, 4.0, 5, 10.0, 1.0)
    spec = _spec([card], [emitter], [dof])
    scene, cam = build_scene(spec)
    R._configure(scene, RenderSettings(adaptive_sampling=False))
    bf = [_render_linear(scene, cam, tmp_path, 2048, s, dof) for s in (1, 2)]

    layer, cast = highlight_layer(scene, spec, dof, cycles_mask(dof))
    assert cast == 1  # the card is in the cone: visibility was ray cast
    peak = layer.max()
    noise_db = _psnr(bf[0], bf[1], peak)  # 2 σ² apart
    mean = (bf[0] + bf[1]) / 2  # σ² / 2 from the truth
    # exact: MSE(layer, mean) = σ²/2, i.e. noise_db + 6 dB (measured: + 4.8 dB; rays to the
    # emitter's centre alone, the penumbra left out, gave + 0.3 dB)
    assert _psnr(layer, mean, peak) >= noise_db + 3.5
    energy = [b[..., 0].sum() for b in bf]
    assert layer[..., 0].sum() == pytest.approx(np.mean(energy), rel=0.03)
    assert abs(energy[0] - energy[1]) / np.mean(energy) < 0.03
    # half of the lens sees the emitter: about half of an unhidden disc's energy
    scene.objects["plane_000"].hide_render = True  # the card away: nothing to cast for
    free_layer, cast = highlight_layer(scene, spec, dof, cycles_mask(dof))
    assert cast == 0
    assert 0.2 < layer.sum() / free_layer.sum() < 0.8


def test_standard_view_transform_is_srgb8(tmp_path):
    """Blender's 8-bit PNG through "Standard" at three exposures is ``srgb8`` of the linear EXR
    (up to Blender's dither: one level, unbiased)."""
    mat = MaterialSpec("checker", (0.9, 0.2, 0.1), (0.05, 0.3, 0.8), 4.0, 0.5)
    sphere = ObjectSpec("sphere", (0.0, 0.0, -3.0), (0.0, 0.0, 0.0), (1.5, 1.5, 1.5), mat)
    lamp = LightSpec("point", (1.0, 1.0, 0.0), (0.0, 0.0, 0.0), 200.0, (1.0, 1.0, 1.0))
    spec = _spec([sphere], [], [DofSpec(2.8, 3.0, 0, 0.0, 1.0)], world=0.6, lights=[lamp])
    scene, cam = build_scene(spec)
    R._configure(scene, RenderSettings())
    R._set_pass(scene, cam, 8, 1.0, True, spec.dof[0])
    R._render(scene, {}, "x", None)
    for ev in (0.0, 0.7, -1.3):
        scene.view_settings.exposure = ev
        R._save(scene, tmp_path / "x.png", "PNG")
        R._save(scene, tmp_path / "x.exr", "EXR_FLOAT")
        png = np.asarray(Image.open(tmp_path / "x.png").convert("RGB")).astype(int)
        ours = srgb8(read_linear_exr(tmp_path / "x.exr"), ev).astype(int)
        assert np.abs(png - ours).max() <= 1
        assert abs((png - ours).mean()) < 0.1


def test_exact_render_end_to_end(tmp_path):
    """``render_scene_to_disk`` with ``exact_highlights``: the rows say so, the disc is in the
    8-bit frame and in its EXR, and it is the emitter's computed disc (the frame is black
    elsewhere: no other light)."""
    emitter = HighlightSpec((0.0, 0.0, -1.0), 0.006, 2.0, (1.0, 1.0, 1.0))
    spec = _spec([], [emitter], [DofSpec(1.0, 4.0, 0, 0.0, 1.0)])
    settings = RenderSettings(samples=4, exact_highlights=True, exr=True)
    meta = render_scene_to_disk(spec, tmp_path, settings)
    row = meta["rows"][0]
    assert row["render_engine"] == EXACT_ENGINE
    img = np.asarray(Image.open(tmp_path / row["bokeh_path"]).convert("RGB")).astype(float)
    lit = img[..., 0] > 10
    assert 0.2 * W * W > lit.sum() > 50  # a disc of about 18 px radius
    exr = read_linear_exr(tmp_path / row["bokeh_exr_path"])
    assert exr.sum() > 0 and np.isfinite(exr).all()
    plain = render_scene_to_disk(spec, tmp_path / "plain", RenderSettings(samples=4))
    assert plain["rows"][0]["render_engine"] == "CYCLES"


def test_exact_highlights_needs_the_box_filter():
    with pytest.raises(ConfigError, match="exact_highlights"):
        load_config(overrides=["render.exact_highlights=true", "render.pixel_filter=gaussian"])
    cfg = load_config(overrides=["render.exact_highlights=true"])
    assert cfg.render.exact_highlights


def test_a_hidden_emitter_leaves_nothing():
    """An emitter behind a card that covers the whole cone from the lens: no disc, not even a
    ring at the disc's edge (the lens grid's edge once interpolated to 0 there)."""
    card = ObjectSpec("plane", (0.0, 0.0, -0.5), (0.0, 0.0, 0.0), (0.5, 0.5, 0.0), BLACK)
    emitter = HighlightSpec((0.004, 0.003, -1.0), 0.006, 2.0, (1.0, 1.0, 1.0))
    dof = DofSpec(1.0, 4.0, 0, 0.0, 1.0)
    spec = _spec([card], [emitter], [dof])
    scene, _ = build_scene(spec)
    layer, cast = highlight_layer(scene, spec, dof, cycles_mask(dof))
    assert cast == 1
    assert layer.max() < 1e-12
