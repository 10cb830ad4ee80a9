"""The sampler's objects and materials: procedural and photo materials, photo crops, silhouettes,
the photo cards of kind "cards" and the objects, ground and backdrop of the other kinds. Part of
``synth.sampling`` and under its rule: every float comes from the scene's generator through
IEEE-exact operations or ``synth.detmath``, so a scene id gives the same objects on every CPU
(docs/synth.md, "What a rerun reproduces"). Lengths are metres in the camera frame (camera at the
origin looking down −Z, +Y up); ``tan_h`` / ``tan_v`` are the tangents of the half view angles.
"""

from __future__ import annotations

import math

from synth import detmath
from synth.config import SynthConfig
from synth.pool import PoolPhoto
from synth.spec import MaterialSpec, ObjectSpec


def loguniform(rng, lo: float, hi: float) -> float:
    """A log-uniform draw in ``[lo, hi]`` (one ``rng.uniform``, logs and exp by detmath)."""
    return detmath.exp(float(rng.uniform(detmath.log(lo), detmath.log(hi))))


def _colour(rng, night: bool) -> tuple[float, float, float]:
    hue = rng.uniform(0, 1)
    sat = rng.uniform(0.2, 0.9)
    val = rng.uniform(0.15, 0.9) * (0.7 if night else 1.0)
    i = int(hue * 6) % 6
    f = hue * 6 - int(hue * 6)
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    rgb = [(val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q)][i]
    return tuple(float(c) for c in rgb)


def _material(rng, cfg: SynthConfig, textures: list[str], night: bool) -> MaterialSpec:
    s = cfg.scene
    if textures and rng.random() < s.image_texture_probability:
        return MaterialSpec(
            texture="image",
            color_a=(1.0, 1.0, 1.0),
            color_b=(1.0, 1.0, 1.0),
            scale=float(rng.uniform(0.5, 3.0)),
            roughness=float(rng.uniform(0.2, 0.9)),
            metallic=0.0,
            image=str(textures[rng.integers(len(textures))]),
        )
    return MaterialSpec(
        texture=str(s.textures[rng.integers(len(s.textures))]),
        color_a=_colour(rng, night),
        color_b=_colour(rng, night),
        scale=float(loguniform(rng, 1.0, 30.0)),
        roughness=float(rng.uniform(0.05, 0.95)),
        metallic=float(rng.random() < 0.2),
    )


def _crop(rng, photo: PoolPhoto, aspect: float, smallest: float = 0.4) -> tuple:
    """A crop of ``photo`` with width / height = ``aspect`` (in pixels), between ``smallest``
    and all of the largest such crop, at a random place; fractions (x0, y0, x1, y1)."""
    w, h = photo.width_px, photo.height_px
    full_w, full_h = (aspect * h, h) if aspect * h <= w else (w, w / aspect)
    scale = float(rng.uniform(smallest, 1.0))
    cw, ch = full_w * scale, full_h * scale
    x0, y0 = float(rng.uniform(0, w - cw)), float(rng.uniform(0, h - ch))
    return (x0 / w, y0 / h, (x0 + cw) / w, (y0 + ch) / h)


def _photo_material(rng, photos, dims, flat_aspect=None, tile_m=None) -> MaterialSpec:
    """A pool photo crop as albedo. ``flat_aspect``: one crop across a flat surface of that
    width / height (cards, walls), the largest such crop at a random place (a card shows as
    much of its photo as its shape allows, as sharp as the photo: smaller crops are magnified,
    and their gradients drift from photos' (docs/synth.md)); ``tile_m``: a square crop every
    ``tile_m`` metres, mirrored (grounds); else a square crop across the object's largest
    side, box-projected so that no face stretches it (texture coordinates scale with the
    object's metric size)."""
    photo = photos[int(rng.integers(len(photos)))]
    sx, sy, sz = (float(v) for v in dims)
    if flat_aspect is not None:
        crop, projection, tile = _crop(rng, photo, flat_aspect, 1.0), "flat", (1.0, 1.0, 1.0)
    elif tile_m is not None:
        crop, projection = _crop(rng, photo, 1.0, 0.6), "flat"
        tile = (sx / tile_m, sy / tile_m, 1.0)
    else:
        side = max(sx, sy, sz, 1e-6)
        crop, projection = _crop(rng, photo, 1.0), "box"
        tile = (sx / side, sy / side, (sz or side) / side)
    return MaterialSpec(
        texture="photo",
        color_a=(1.0, 1.0, 1.0),
        color_b=(1.0, 1.0, 1.0),
        scale=1.0,
        roughness=float(rng.uniform(0.35, 0.9)),
        metallic=0.0,
        photo_id=photo.photo_id,
        crop=tuple(round(v, 6) for v in crop),
        projection=projection,
        tile_scale=tile,
    )


def _outline(rng, vertices: int = 48) -> tuple:
    """A random star-shaped silhouette filling the unit square centred on 0, counter-clockwise:
    r(θ) = 1 + Σ_k a_k cos(kθ + φ_k), k = 2..5, Σ a_k < 1 (so r > 0: never self-intersecting).
    Summed in a fixed order with ``synth.detmath``: the same outline on every CPU."""
    k = range(2, 6)
    amp = [float(a) / math.sqrt(kk - 1) for a, kk in zip(rng.uniform(0.0, 0.22, 4), k, strict=True)]
    phase = [float(p) for p in rng.uniform(0.0, 2 * math.pi, 4)]
    xs, ys = [], []
    for i in range(vertices):
        theta = 2 * math.pi * i / vertices
        radius = 1.0
        for a, kk, p in zip(amp, k, phase, strict=True):
            radius += a * detmath.cos(kk * theta + p)
        xs.append(radius * detmath.cos(theta))
        ys.append(radius * detmath.sin(theta))
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return tuple(
        (round((x - (x1 + x0) / 2) / (x1 - x0), 6), round((y - (y1 + y0) / 2) / (y1 - y0), 6))
        for x, y in zip(xs, ys, strict=True)
    )


def sample_cards(rng, cfg: SynthConfig, photos, tan_h, tan_v):
    """Kind "cards": a photo backdrop filling the view far away, then photo cards (some cut out
    along a silhouette) at log-uniform depths before it, slightly tilted; returns
    ``(objects, backdrop depth)`` with the backdrop first."""
    s = cfg.scene
    near, far = s.depth_m
    back_z = loguniform(rng, max(near * 4.0, far * 0.3), far)
    margin = 1.3  # the backdrop overfills the view: tilted cards and blur never show its edge
    size = (2 * margin * back_z * tan_h, 2 * margin * back_z * tan_v, 0.0)
    objects = [
        ObjectSpec(
            kind="plane",
            location_m=(0.0, 0.0, -back_z),
            rotation_deg=(0.0, 0.0, 0.0),
            size_m=size,
            material=_photo_material(rng, photos, size, flat_aspect=size[0] / size[1]),
        )
    ]
    tilt = s.card_tilt_deg
    for _ in range(int(rng.integers(s.cards[0], s.cards[1] + 1))):
        z = loguniform(rng, near, back_z * 0.8)
        w = 2 * z * tan_h * float(rng.uniform(*s.card_width))
        h = w / float(rng.uniform(0.6, 1.6))
        outline = _outline(rng) if rng.random() < s.silhouette_probability else None
        objects.append(
            ObjectSpec(
                kind="plane",
                location_m=(
                    float(rng.uniform(-0.9, 0.9)) * z * tan_h,
                    float(rng.uniform(-0.9, 0.9)) * z * tan_v,
                    -z,
                ),
                rotation_deg=(
                    float(rng.uniform(-tilt, tilt)),
                    float(rng.uniform(-tilt, tilt)),
                    float(rng.uniform(-tilt, tilt) / 2),
                ),
                size_m=(w, h, 0.0),
                material=_photo_material(rng, photos, (w, h, 0.0), flat_aspect=w / h),
                outline_xy=outline,
            )
        )
    return objects, back_z


def sample_objects(rng, cfg: SynthConfig, textures, photos, night, tan_h, tan_v, cam_h):
    """Procedural or photo-textured objects, a ground and a backdrop (kinds "procedural" and
    "textured"); returns ``(objects, backdrop depth)``, the objects first, then ground and wall."""
    s = cfg.scene
    near, far = s.depth_m

    def material(dims, flat_aspect=None, ground=False):
        if not photos:
            return _material(rng, cfg, textures, night)
        tile_m = loguniform(rng, *s.photo_ground_tile_m) if ground else None
        return _photo_material(rng, photos, dims, flat_aspect, tile_m)

    objects: list[ObjectSpec] = []
    for _ in range(int(rng.integers(s.objects[0], s.objects[1] + 1))):
        kind = str(s.object_kinds[rng.integers(len(s.object_kinds))])
        z = loguniform(rng, near, far)
        size = z * float(rng.uniform(*s.angular_size))
        x = float(rng.uniform(-1.1, 1.1)) * z * tan_h
        grounded = rng.random() < 0.7
        y = -cam_h + size / 2 if grounded else float(rng.uniform(-1, 1)) * z * tan_v
        dims = {
            "box": tuple(size * float(v) for v in rng.uniform(0.4, 1.0, 3)),
            "sphere": (size, size, size),
            "torus": (size, size, size * 0.3),
            "plane": (size * float(rng.uniform(0.6, 1.5)), size, 0.0),
            "displaced": (size, size, size),
        }[kind]
        objects.append(
            ObjectSpec(
                kind=kind,
                location_m=(x, y, -z),
                rotation_deg=tuple(float(v) for v in rng.uniform(0, 360, 3)),
                size_m=dims,
                material=material(dims),
                displacement=float(rng.uniform(0.1, 0.4)) if kind == "displaced" else 0.0,
            )
        )

    # Ground and backdrop, large enough to fill the view.
    ground_len = far * 1.3
    ground_size = (2.6 * ground_len * tan_h + 2.0, ground_len, 0.0)
    objects.append(
        ObjectSpec(
            kind="plane",
            location_m=(0.0, -cam_h, -ground_len / 2),
            rotation_deg=(-90.0, 0.0, 0.0),
            size_m=ground_size,
            material=material(ground_size, ground=True),
        )
    )
    back_z = far * 1.2
    if s.backdrop:
        wall = (2.6 * back_z * tan_h, 2.6 * back_z * tan_v + cam_h, 0.0)
        objects.append(
            ObjectSpec(
                kind="plane",
                location_m=(0.0, back_z * tan_v * 0.5, -back_z),
                rotation_deg=(0.0, 0.0, 0.0),
                size_m=wall,
                material=material(wall, flat_aspect=wall[0] / wall[1]),
            )
        )

    return objects, back_z
