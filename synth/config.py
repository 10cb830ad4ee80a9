"""The synth config: dataclasses loaded from a checked-in TOML file, validated before any render.

``load_config(path)`` refuses unknown keys and impossible ranges with a one-line
:class:`ConfigError` naming the file, the key and the reason. Ranges are ``[lo, hi]`` lists.
The default config is ``synth/configs/default.toml``; every key is documented there.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from synth.spec import OBJECT_KINDS, TEXTURE_KINDS

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.toml"

# Sensor widths (long side, mm) by name; height follows the render's aspect ratio.
SENSORS_MM = {"full_frame": 36.0, "aps_c": 23.5, "mft": 17.3, "one_inch": 13.2}


class ConfigError(ValueError):
    """A bad config; ``str()`` is one line naming the file, the key and the reason."""


@dataclass
class RenderConfig:
    resolution_px: int = 256  # render width; K and CoC labels refer to it
    aspect: float = 1.0  # height / width
    samples: int = 32  # AIF and DoF renders
    denoise: bool = True  # OpenImageDenoise on AIF and DoF renders
    light_tree: bool = False  # off is ~40 % faster on highlight-heavy scenes
    device: str = "auto"  # auto | cpu | gpu
    exr: bool = False  # also write linear half-float EXR for AIF and DoF renders
    jpeg_quality: int = 95


@dataclass
class CameraConfig:
    focal_length_mm: list[float] = field(default_factory=lambda: [18.0, 135.0])
    sensors: list[str] = field(default_factory=lambda: list(SENSORS_MM))
    height_m: list[float] = field(default_factory=lambda: [0.25, 1.6])


@dataclass
class ApertureConfig:
    renders_per_scene: int = 3
    f_number: list[float] = field(default_factory=lambda: [1.2, 8.0])  # log-uniform
    disc_px: list[float] = field(default_factory=lambda: [2.0, 60.0])  # largest disc in view
    blades: list[int] = field(default_factory=lambda: [5, 6, 7, 8, 9])
    round_probability: float = 0.5  # blades = 0
    rotation_deg: list[float] = field(default_factory=lambda: [0.0, 360.0])
    anamorphic_probability: float = 0.1
    anamorphic_ratio: list[float] = field(default_factory=lambda: [1.2, 2.0])


@dataclass
class SceneConfig:
    objects: list[int] = field(default_factory=lambda: [8, 24])
    object_kinds: list[str] = field(default_factory=lambda: list(OBJECT_KINDS))
    textures: list[str] = field(default_factory=lambda: [t for t in TEXTURE_KINDS if t != "image"])
    image_texture_probability: float = 0.5  # when --textures DIR is given
    depth_m: list[float] = field(default_factory=lambda: [0.6, 25.0])  # log-uniform
    angular_size: list[float] = field(default_factory=lambda: [0.04, 0.25])  # size / depth
    highlights: list[int] = field(default_factory=lambda: [10, 200])
    highlight_strength: list[float] = field(default_factory=lambda: [20.0, 200.0])
    night_probability: float = 0.6  # dark world, bright highlights
    backdrop: bool = True  # a far wall so the background is not empty


@dataclass
class SplitConfig:
    val: float = 0.05
    test: float = 0.05


@dataclass
class SynthConfig:
    dataset_id: str = "synth-default"
    dataset_seed: int = 0
    render: RenderConfig = field(default_factory=RenderConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    aperture: ApertureConfig = field(default_factory=ApertureConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    split: SplitConfig = field(default_factory=SplitConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, data: dict, where: str, source: str):
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key {where}{key} (known: {', '.join(sorted(known))})"
            )
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [{where}{key}] must be a table")
            kwargs[key] = _build(type(default), value, f"{where}{key}.", source)
        else:
            kwargs[key] = _coerce(value, default, f"{where}{key}", source)
    return cls(**kwargs)


def _coerce(value, default, key: str, source: str):
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        return type(default)(value) if isinstance(default, float) else value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        return list(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
    return value


def _range(source: str, key: str, r, lo_bound: float, hi_bound: float = float("inf")) -> None:
    if len(r) != 2 or not all(isinstance(v, (int, float)) for v in r):
        raise ConfigError(f"{source}: {key} must be a [low, high] pair of numbers, got {r!r}")
    lo, hi = r
    if not (lo_bound <= lo <= hi <= hi_bound):
        raise ConfigError(
            f"{source}: {key} = {r!r} is impossible (need {lo_bound:g} <= low <= high"
            + (f" <= {hi_bound:g})" if hi_bound != float("inf") else ")")
        )


def _probability(source: str, key: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"{source}: {key} = {p!r} must be a probability in [0, 1]")


def validate(cfg: SynthConfig, source: str = "<config>") -> SynthConfig:
    """Check every range and choice; raise :class:`ConfigError` on the first bad one."""
    r, c, a, s = cfg.render, cfg.camera, cfg.aperture, cfg.scene
    if not 8 <= r.resolution_px <= 16384:
        raise ConfigError(f"{source}: render.resolution_px = {r.resolution_px} not in [8, 16384]")
    if not 0.1 <= r.aspect <= 10:
        raise ConfigError(f"{source}: render.aspect = {r.aspect} not in [0.1, 10]")
    if r.samples < 1:
        raise ConfigError(f"{source}: render.samples = {r.samples} must be >= 1")
    if r.device not in ("auto", "cpu", "gpu"):
        raise ConfigError(f"{source}: render.device = {r.device!r} must be auto, cpu or gpu")
    if not 1 <= r.jpeg_quality <= 100:
        raise ConfigError(f"{source}: render.jpeg_quality must be in [1, 100]")
    _range(source, "camera.focal_length_mm", c.focal_length_mm, 1.0, 2000.0)
    _range(source, "camera.height_m", c.height_m, 0.0)
    bad = [x for x in c.sensors if x not in SENSORS_MM]
    if not c.sensors or bad:
        raise ConfigError(
            f"{source}: camera.sensors {bad or 'is empty'}: choose from {', '.join(SENSORS_MM)}"
        )
    if a.renders_per_scene < 1:
        raise ConfigError(f"{source}: aperture.renders_per_scene must be >= 1")
    _range(source, "aperture.f_number", a.f_number, 0.5, 128.0)
    _range(source, "aperture.disc_px", a.disc_px, 0.0)
    if a.disc_px[1] <= 0:
        raise ConfigError(f"{source}: aperture.disc_px upper bound must be > 0")
    if not a.blades or any(not isinstance(b, int) or not 3 <= b <= 16 for b in a.blades):
        raise ConfigError(f"{source}: aperture.blades {a.blades!r} must be integers in [3, 16]")
    _probability(source, "aperture.round_probability", a.round_probability)
    _range(source, "aperture.rotation_deg", a.rotation_deg, -360.0, 720.0)
    _probability(source, "aperture.anamorphic_probability", a.anamorphic_probability)
    _range(source, "aperture.anamorphic_ratio", a.anamorphic_ratio, 1.0, 4.0)
    _range(source, "scene.objects", s.objects, 0)
    _range(source, "scene.depth_m", s.depth_m, 0.05)
    _range(source, "scene.angular_size", s.angular_size, 0.001, 2.0)
    _range(source, "scene.highlights", s.highlights, 0)
    _range(source, "scene.highlight_strength", s.highlight_strength, 0.0)
    bad = [k for k in s.object_kinds if k not in OBJECT_KINDS]
    if not s.object_kinds or bad:
        raise ConfigError(f"{source}: scene.object_kinds {bad}: choose from {OBJECT_KINDS}")
    bad = [t for t in s.textures if t not in TEXTURE_KINDS or t == "image"]
    if not s.textures or bad:
        raise ConfigError(
            f"{source}: scene.textures {bad}: choose procedural ones from "
            f"{TEXTURE_KINDS[:-1]} (image textures come from --textures DIR)"
        )
    _probability(source, "scene.image_texture_probability", s.image_texture_probability)
    _probability(source, "scene.night_probability", s.night_probability)
    sp = cfg.split
    if not (0 <= sp.val and 0 <= sp.test and sp.val + sp.test < 1):
        raise ConfigError(f"{source}: split.val + split.test must be in [0, 1)")
    return cfg


def load_config(path: str | Path | None = None, **overrides) -> SynthConfig:
    """Load and validate a TOML config (default ``synth/configs/default.toml``).

    ``overrides`` like ``resolution_px=64, samples=4`` replace ``[render]`` values (CLI flags).
    """
    path = Path(path) if path else DEFAULT_CONFIG
    source = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{source}: cannot read config ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e})") from None
    cfg = _build(SynthConfig, data, "", source)
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg.render, key, value)
    return validate(cfg, source)
