"""The synth config: typed sections loaded from a checked-in TOML file, validated before any render.

``load_config(path, overrides)`` refuses unknown keys, wrong types and impossible ranges with a
one-line :class:`ConfigError` naming the file, the key and the reason (the shared mechanism of
``infra.config_file``). Ranges are ``[lo, hi]`` lists. The default config is
``synth/configs/default.toml``; every key is documented there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from infra.config_file import (
    ConfigError,
    ConfigModel,
    ConfigRule,
    load_config_file,
    parse_override,
)
from infra.numbers import Int, Probability, Real, span
from optics.aperture import KernelError, parse_shape
from synth.kernels import is_kernel_file
from synth.spec import OBJECT_KINDS, SCENE_KINDS, TEXTURE_KINDS

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.toml"

# Sensor widths (long side, mm) by name; height follows the render's aspect ratio.
SENSORS_MM = {"full_frame": 36.0, "aps_c": 23.5, "mft": 17.3, "one_inch": 13.2}
PROCEDURAL_TEXTURES = tuple(t for t in TEXTURE_KINDS if t not in ("image", "photo"))

__all__ = ["DEFAULT_CONFIG", "SENSORS_MM", "ConfigError", "SynthConfig", "load_config"]

# Every number has a lower and an upper bound a real run can use (reliability round 2, item 9):
# a value far outside them is a one-line error before any scene is sampled, not an hour-long
# render, a scene Blender cannot hold or a crash. The bounds are generous next to the defaults.
MAX_RESOLUTION_PX = 8192  # render width (8K); K and CoC labels are in these pixels
MAX_SAMPLES = 65_536  # Cycles samples per pixel (16-32 with the denoiser are close to converged)
MAX_SEED = 2**63 - 1  # numpy seeds are >= 0; manifests store the seed as int64
MAX_OBJECTS = 1000  # objects per scene (default 8-24)
MAX_HIGHLIGHTS = 10_000  # highlight emitters per scene (default 10-200)
MAX_RENDERS = 256  # DoF renders per scene (default 3), each one a full Cycles render
MAX_DISTANCE_M = 10_000.0  # depths, heights and tile sizes in metres (default depths 0.6-25 m)
MAX_WEIGHT = 1e6  # relative weights
MAX_PROCESSES = 1024  # --workers (render processes, Ray Data workers) and --threads


def _check_shape(label: str) -> str:
    """A built-in aperture shape name (``optics.aperture.parse_shape``), or a PNG kernel file
    (``synth.kernels``: read, and checked, before any scene is sampled)."""
    if not is_kernel_file(label):
        try:
            parse_shape(label)
        except KernelError as e:  # its message names the PNG option too, which configs take
            raise ValueError(str(e)) from None
    return label


ShapeLabel = Annotated[str, AfterValidator(_check_shape)]


class RenderConfig(ConfigModel):
    # render width; K, CoC refer to it
    resolution_px: Int(8, MAX_RESOLUTION_PX) = 256
    aspect: Real(0.1, 10) = 1.0  # height / width
    samples: Int(1, MAX_SAMPLES) = 32  # AIF and DoF renders
    # the K sweep's renders ([aperture] sweep_k / sweep_f_numbers) at their own samples; 0: the
    # samples above. A benchmark set's controllability truth: 32 spp moves its LV by 10-40 %
    sweep_samples: Int(0, MAX_SAMPLES) = 0
    denoise: bool = True  # OpenImageDenoise on AIF and DoF renders
    # Cycles' pixel filter for AIF and DoF renders (the depth pass takes one sample per pixel)
    pixel_filter: Literal["blackman_harris", "box", "gaussian"] = "box"
    filter_width_px: Real(0.01, 10.0) = 1.0
    # day frames: the exposure is capped so that at most this % of pixels clip (100: off)
    day_clip_percent: Real(0.0, 100.0) = 100.0
    light_tree: bool = False  # off is ~40 % faster on highlight-heavy scenes
    device: Literal["auto", "cpu", "gpu"] = "auto"
    exr: bool = False  # also write linear half-float EXR for AIF and DoF renders
    # DoF renders: the highlight emitters' bokeh discs computed exactly (synth.highlight_splat)
    # instead of path traced; needs the box pixel filter of width 1 px
    exact_highlights: bool = False

    @model_validator(mode="after")
    def _exact_needs_box(self):
        if self.exact_highlights and (self.pixel_filter != "box" or self.filter_width_px != 1.0):
            raise ConfigRule(
                "render.exact_highlights", 'needs pixel_filter = "box" and filter_width_px = 1'
            )
        return self

    jpeg_quality: Int(1, 100) = 95


class CameraConfig(ConfigModel):
    focal_length_mm: span(1.0, 2000.0) = Field(default_factory=lambda: [18.0, 135.0])
    sensors: Annotated[list[Literal[tuple(SENSORS_MM)]], Field(min_length=1)] = Field(
        default_factory=lambda: list(SENSORS_MM)
    )
    height_m: span(0.0, MAX_DISTANCE_M) = Field(default_factory=lambda: [0.25, 1.6])


class ApertureConfig(ConfigModel):
    renders_per_scene: Int(1, MAX_RENDERS) = 3
    f_number: span(0.5, 128.0) = Field(default_factory=lambda: [1.2, 8.0])  # log-uniform
    # largest disc in view, px (at most the widest render)
    disc_px: span(0.0, MAX_RESOLUTION_PX) = Field(default_factory=lambda: [2.0, 60.0])
    blades: Annotated[list[Int(3, 16)], Field(min_length=1)] = Field(
        default_factory=lambda: [5, 6, 7, 8, 9]
    )
    round_probability: Probability = 0.5  # blades = 0
    rotation_deg: span(-360.0, 720.0) = Field(default_factory=lambda: [0.0, 360.0])
    anamorphic_probability: Probability = 0.1
    anamorphic_ratio: span(1.0, 4.0) = Field(default_factory=lambda: [1.2, 2.0])
    # shaped scenes: every DoF render through a shaped occluder (blades 0, ratio 1)
    shaped_scene_probability: Probability = 0.25
    shapes: Annotated[list[ShapeLabel], Field(min_length=1)] = Field(
        default_factory=lambda: ["triangle", "star", "heart"]
    )
    shape_rotation_deg: span(-360.0, 720.0) = Field(default_factory=lambda: [-20.0, 20.0])
    shape_order: Literal["random", "cycle"] = "random"  # cycle: render k takes shapes[k % n]
    # the shape shows in their discs
    shaped_min_highlights: Int(0, MAX_HIGHLIGHTS) = 6
    # disc_px, shaped
    shaped_disc_px: span(0.0, MAX_RESOLUTION_PX) = Field(default_factory=lambda: [16.0, 60.0])
    # a K sweep: after the regular renders, one render per f-number (in this order) at the
    # first render's focus and aperture, nothing drawn, disc_px not applied (_check_sweep)
    sweep_f_numbers: Annotated[list[Real(0.5, 128.0)], Field(max_length=MAX_RENDERS)] = Field(
        default_factory=list
    )
    # or the same sweep on a fixed K grid (K at the frame's width, the same for every scene):
    # each render's f-number is the one that gives that K with the scene's lens and sensor
    sweep_k: Annotated[list[Real(0.05, 500.0)], Field(max_length=MAX_RENDERS)] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _disc_upper_bound(self):
        for key in ("disc_px", "shaped_disc_px"):
            if getattr(self, key)[1] <= 0:
                raise ConfigRule(key, "upper bound must be > 0")
        return self

    @model_validator(mode="after")
    def _check_sweep(self):
        """Sweep f-numbers: no wider than the lens of the regular renders (``f_number``'s low
        bound: a sweep never blurs more than that lens can), stopped down as far as 128, at
        most 4 decimals (a spec stores N so: the render takes exactly the listed N), no
        duplicates, and at most ``MAX_RENDERS`` DoF renders per scene in all."""
        if self.sweep_f_numbers and self.sweep_k:
            raise ConfigRule("sweep_k", "set sweep_f_numbers or sweep_k, not both")
        key, sweep = "sweep_f_numbers", self.sweep_f_numbers
        for i, n in enumerate(sweep):
            if n < self.f_number[0]:
                reason = f"{n:g} is wider than the f_number range's low bound {self.f_number[0]:g}"
                raise ConfigRule(f"{key}[{i}]", reason)
            if round(n, 4) != n:
                raise ConfigRule(f"{key}[{i}]", f"{n!r} has more than 4 decimals")
            if n in sweep[:i]:
                raise ConfigRule(f"{key}[{i}]", f"{n:g} is listed twice")
        if self.sweep_k:
            key, sweep = "sweep_k", self.sweep_k
            for i, k in enumerate(sweep):
                if i and k <= sweep[i - 1]:
                    raise ConfigRule(f"{key}[{i}]", f"{k:g} is not above {sweep[i - 1]:g}")
        total = self.renders_per_scene + len(sweep)
        if total > MAX_RENDERS:
            raise ConfigRule(key, f"renders_per_scene + sweep: {total} renders, over {MAX_RENDERS}")
        return self


NonNegative = Real(0.0, MAX_WEIGHT)


class KindWeights(ConfigModel):
    """Relative weights of the scene kinds (any non-negative numbers, not all zero)."""

    procedural: NonNegative = 0.2  # primitives with procedural textures
    cards: NonNegative = 0.4  # layered photo cards before a photo backdrop
    textured: NonNegative = 0.4  # primitives with photo-crop albedo on a photo ground

    @model_validator(mode="after")
    def _some(self):
        if self.procedural + self.cards + self.textured <= 0:
            raise ConfigRule("procedural", "at least one scene kind needs a weight > 0")
        return self

    def normalised(self) -> dict[str, float]:
        total = self.procedural + self.cards + self.textured
        return {k: getattr(self, k) / total for k in SCENE_KINDS}

    @property
    def needs_photos(self) -> bool:
        return self.cards > 0 or self.textured > 0


class SceneConfig(ConfigModel):
    kinds: KindWeights = Field(default_factory=KindWeights)
    objects: span(0, MAX_OBJECTS, kind=int) = Field(default_factory=lambda: [8, 24])
    object_kinds: Annotated[list[Literal[OBJECT_KINDS]], Field(min_length=1)] = Field(
        default_factory=lambda: list(OBJECT_KINDS)
    )
    # procedural only: image textures come from --textures DIR
    textures: Annotated[list[Literal[PROCEDURAL_TEXTURES]], Field(min_length=1)] = Field(
        default_factory=lambda: list(PROCEDURAL_TEXTURES)
    )
    image_texture_probability: Probability = 0.5  # when --textures DIR is given
    depth_m: span(0.05, MAX_DISTANCE_M) = Field(default_factory=lambda: [0.6, 25.0])  # log-uniform
    angular_size: span(0.001, 2.0) = Field(default_factory=lambda: [0.04, 0.25])  # size / depth
    highlights: span(0, MAX_HIGHLIGHTS, kind=int) = Field(default_factory=lambda: [10, 200])
    # emission strength (x 3 by day); default 20-200
    highlight_strength: span(0.0, 1e6) = Field(default_factory=lambda: [20.0, 200.0])
    no_highlights_probability: Probability = 0.2  # scenes without any highlight emitter
    night_probability: Probability = 0.3  # dark world, bright highlights
    backdrop: bool = True  # a far wall so the background is not empty
    # layered cards (kind "cards"): photo crops on planes before a photo backdrop
    cards: span(1, 64, kind=int) = Field(default_factory=lambda: [2, 6])
    card_width: span(0.02, 2.0) = Field(default_factory=lambda: [0.2, 0.7])  # / view width
    card_tilt_deg: Real(0.0, 80.0) = 20.0  # largest tilt, each axis
    silhouette_probability: Probability = 0.5  # cut-out outline instead of a rectangle
    # textured
    photo_ground_tile_m: span(0.05, MAX_DISTANCE_M) = Field(default_factory=lambda: [1.0, 4.0])


class PhotosConfig(ConfigModel):
    """The 2.5-D route (``python -m synth photos``, ``synth.photo_pairs``)."""

    pairs_per_photo: Int(1, MAX_RENDERS) = 3
    # sources are shrunk to this long edge (never enlarged); K and CoC refer to the output width
    long_edge_px: Int(8, MAX_RESOLUTION_PX) = 512
    min_short_side_px: Int(8, MAX_RESOLUTION_PX) = 64  # smaller sources: too_small
    # K (blur radius in px per 1/m of disparity) at k_width_px, log-uniform; scaled to the width
    k: span(0.05, 1000.0) = Field(default_factory=lambda: [2.0, 30.0])
    k_width_px: Int(8, MAX_RESOLUTION_PX) = 512
    # linear light: pixels whose brightest channel exceeds the threshold are brightened, white
    # by highlight_gain (1: off), before the blur (an 8-bit AIF clips light sources to white).
    # Off by default: on the demo's renders a gain of 3 puts the twins 1.6 dB further from
    # Cycles (it boosts bright skies as much as lights; docs/synth.md)
    highlight_threshold: Real(0.0, 0.999) = 0.9
    highlight_gain: Real(1.0, 1000.0) = 1.0
    layer_step_px: Real(0.05, 10.0) = 0.5  # the renderer's layer grid (optics.render_bokeh)
    depth_png_scale_m: Real(1e-9, 1e3, above=True) = 0.001  # metres per unit of a 16-bit PNG
    # a synthetic_pairs source keeps its renders' focus, K and aperture (only the renderer
    # differs); false: drawn like a photo's
    reuse_render_params: bool = True
    # photos: at least this share of the detailed frame must be sharp (infra.allinfocus)
    aif_min_sharp_fraction: Real(0.0, 1.0) = 0.7

    @model_validator(mode="after")
    def _positive_k(self):
        if self.k[0] <= 0:
            raise ConfigRule("photos.k", "K must be > 0 (log-uniform)")
        return self


class SplitConfig(ConfigModel):
    val: Real(0.0, 1.0) = 0.05
    test: Real(0.0, 1.0) = 0.05


class SynthConfig(ConfigModel):
    dataset_id: str = "synth-default"
    dataset_seed: Int(0, MAX_SEED) = 0
    render: RenderConfig = Field(default_factory=RenderConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    aperture: ApertureConfig = Field(default_factory=ApertureConfig)
    scene: SceneConfig = Field(default_factory=SceneConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    photos: PhotosConfig = Field(default_factory=PhotosConfig)

    @model_validator(mode="after")
    def _sweep_samples_need_a_sweep(self):
        if self.render.sweep_samples and not (
            self.aperture.sweep_k or self.aperture.sweep_f_numbers
        ):
            raise ConfigRule(
                "render.sweep_samples", "needs a sweep ([aperture] sweep_k or sweep_f_numbers)"
            )
        return self

    @model_validator(mode="after")
    def _split_fractions(self):
        if self.split.val + self.split.test >= 1:
            raise ConfigRule("split.test", "split.val + split.test must be in [0, 1)")
        return self


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, **render
) -> SynthConfig:
    """Load and validate a TOML config (default ``synth/configs/default.toml``).

    ``overrides`` are ``section.key=value`` strings (``--set``); keyword arguments like
    ``resolution_px=64, samples=4`` replace ``[render]`` values (``--resolution``, ``--samples``).
    """
    sets = {f"render.{k}": v for k, v in render.items() if v is not None}
    pairs = dict(parse_override(item) for item in overrides or ())
    return load_config_file(SynthConfig, path or DEFAULT_CONFIG, {**pairs, **sets})
