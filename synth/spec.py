"""Scene specs as plain data: dataclasses with a JSON round trip and a content hash.

A ``SceneSpec`` says everything needed to render one scene: camera, objects with materials,
lights, highlight emitters, world, and the depth-of-field settings of each DoF render (with its
aperture: Cycles' round or bladed one, or a shaped occluder named by an ``optics.aperture``
label); its ``kind`` and, for photographic scenes, the pool hash and each photo material's photo
(by content hash) and crop, so that a spec plus its pool renders the same scene anywhere.
Positions are in the *camera frame*: the camera sits at the origin looking down −Z with +Y up
(Blender's default camera orientation), so the planar depth of a point is ``−z``. The spec hash
(16 hex digits of the SHA-256 of the canonical JSON) names a dataset version: two specs with the
same hash render the same scene up to Monte Carlo noise.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

# 2: scene kinds, photo materials, card outlines, the pool hash; 3: shaped apertures
# (DofSpec.aperture, an optics.aperture label; older specs read as None)
SPEC_VERSION = 3

OBJECT_KINDS = ("plane", "box", "sphere", "torus", "displaced")
TEXTURE_KINDS = ("noise", "voronoi", "wave", "checker", "brick", "magic", "image", "photo")
SCENE_KINDS = ("procedural", "cards", "textured")
LIGHT_KINDS = ("area", "point", "spot", "sun")


@dataclass
class MaterialSpec:
    texture: str  # one of TEXTURE_KINDS
    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    scale: float  # procedural texture scale (or image tiling)
    roughness: float
    metallic: float = 0.0
    image: str | None = None  # file name inside the --textures folder, for texture == "image"
    # texture == "photo": a crop of a pool photo (x0, y0, x1, y1 as fractions of the upright
    # photo), placed by object coordinates: tex = object_xyz * tile_scale + 0.5, projected
    # "flat" (local XY) or "box"; the crop is mirrored beyond [0, 1].
    photo_id: str | None = None
    crop: tuple[float, float, float, float] | None = None
    projection: str = "box"
    tile_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass
class ObjectSpec:
    kind: str  # one of OBJECT_KINDS
    location_m: tuple[float, float, float]  # camera frame
    rotation_deg: tuple[float, float, float]
    size_m: tuple[float, float, float]  # full extents along the object's local axes
    material: MaterialSpec
    displacement: float = 0.0  # for "displaced": strength relative to the size
    # "plane" only: a cut-out outline (x, y in the unit square centred on 0, counter-clockwise,
    # not self-intersecting) instead of the full square; its edges are real depth edges
    outline_xy: tuple[tuple[float, float], ...] | None = None


@dataclass
class LightSpec:
    kind: str  # one of LIGHT_KINDS
    location_m: tuple[float, float, float]
    rotation_deg: tuple[float, float, float]
    energy_w: float
    color: tuple[float, float, float]
    size_m: float = 0.5


@dataclass
class HighlightSpec:
    """A small emissive sphere: it shows in the depth pass and makes real bokeh discs."""

    location_m: tuple[float, float, float]
    radius_m: float
    strength: float
    color: tuple[float, float, float]


@dataclass
class DofSpec:
    """One DoF render's lens. ``aperture`` is None for Cycles' own aperture (round, or
    ``blades`` straight blades turned by ``rotation_deg``, squeezed by ``ratio``), else the
    ``optics.aperture`` label of a shaped occluder at the lens (``star5``, ``polygon3@-30``,
    ``heart@12.5``): then ``blades = 0``, ``ratio = 1`` and ``rotation_deg`` is the shape's
    rotation, which the label carries too (``parse_shape(aperture).rotation_deg``)."""

    f_number: float
    focus_distance_m: float  # planar
    blades: int  # 0 = round
    rotation_deg: float
    ratio: float  # anamorphic: > 1 narrows the horizontal disc to CoC / ratio
    aperture: str | None = None  # an optics.aperture label; None: Cycles' own aperture


@dataclass
class CameraSpec:
    focal_length_mm: float
    sensor_width_mm: float
    sensor_name: str
    focal_length_35mm: int  # integer, as EXIF stores it; focal_length_mm is derived from it


@dataclass
class SceneSpec:
    dataset_id: str
    dataset_seed: int
    scene_id: int
    width_px: int
    height_px: int
    camera: CameraSpec
    world_color: tuple[float, float, float]
    world_strength: float
    objects: list[ObjectSpec]
    lights: list[LightSpec]
    highlights: list[HighlightSpec]
    dof: list[DofSpec]
    split: str
    kind: str = "procedural"  # one of SCENE_KINDS
    pool_hash: str | None = None  # the photo pool's content (synth.pool), when photos are used
    spec_version: int = SPEC_VERSION
    notes: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @property
    def photo_ids(self) -> list[str]:
        """The pool photos this scene uses (sorted, once each): its provenance."""
        return sorted({o.material.photo_id for o in self.objects if o.material.photo_id})

    @property
    def spec_hash(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict) -> SceneSpec:
        d = dict(d)
        d["camera"] = CameraSpec(**d["camera"])
        d["world_color"] = tuple(d["world_color"])
        d["objects"] = [_object(o) for o in d["objects"]]
        d["lights"] = [_light(x) for x in d["lights"]]
        d["highlights"] = [_highlight(h) for h in d["highlights"]]
        d["dof"] = [DofSpec(**x) for x in d["dof"]]
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> SceneSpec:
        return cls.from_dict(json.loads(text))


def _t(x) -> tuple:
    return tuple(float(v) for v in x)


def _object(o: dict) -> ObjectSpec:
    m = dict(o["material"])
    m["color_a"], m["color_b"] = _t(m["color_a"]), _t(m["color_b"])
    for key in ("crop", "tile_scale"):
        if m.get(key) is not None:
            m[key] = _t(m[key])
    outline = o.get("outline_xy")
    return ObjectSpec(
        kind=o["kind"],
        location_m=_t(o["location_m"]),
        rotation_deg=_t(o["rotation_deg"]),
        size_m=_t(o["size_m"]),
        material=MaterialSpec(**m),
        displacement=o.get("displacement", 0.0),
        outline_xy=tuple(_t(p) for p in outline) if outline is not None else None,
    )


def _light(x: dict) -> LightSpec:
    return LightSpec(
        **{
            **x,
            "location_m": _t(x["location_m"]),
            "rotation_deg": _t(x["rotation_deg"]),
            "color": _t(x["color"]),
        }
    )


def _highlight(h: dict) -> HighlightSpec:
    return HighlightSpec(**{**h, "location_m": _t(h["location_m"]), "color": _t(h["color"])})
