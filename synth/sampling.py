"""Pure-numpy scene sampler: ``sample_scene(config, scene_id)`` -> ``SceneSpec``.

Everything is drawn from ``numpy.random.default_rng([dataset_seed, scene_id])``, so a scene id
gives the same spec (and hash) on any machine, in any shard: numpy's generator is integer
arithmetic, and every float derived from its draws uses only IEEE-exact operations (``+ - * /``,
``sqrt``, element-wise numpy) or ``synth.detmath`` (no libm, no SIMD transcendental, no BLAS, whose
last bits depend on the CPU; docs/synth.md, "What a rerun reproduces"). With photographic kinds the
pool hash joins the seed (a changed pool is a new dataset). Geometry lives in the camera frame
(camera at the origin looking down −Z, +Y up). The real focal length is derived from an integer 35
mm equivalent, ``f = f35 · sensor_w / 36``, so that the EXIF of the renders round-trips exactly
through ``FocalLengthIn35mmFilm``. Each DoF render focuses on an object's depth and keeps the
largest CoC in view inside ``aperture.disc_px`` by adjusting N (CoC ∝ 1/N, so exactly). In a
*shaped* scene (``aperture.shaped_scene_probability``, drawn from a random stream of its own, so
that the scenes that are not shaped are the same whatever the share, and 0 samples the very scenes
of a config without shapes) every DoF render looks through a shape of ``aperture.shapes`` turned by
``shape_rotation_deg`` (``blades = 0``, ``ratio = 1``), and the scene has at least
``shaped_min_highlights`` highlights, whose discs show the shape.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from optics import coc_cycles_px
from optics.aperture import ApertureShape, parse_shape
from synth import detmath
from synth.config import SENSORS_MM, SynthConfig
from synth.kernels import KERNEL_PREFIX, is_kernel_file
from synth.pool import PhotoPool, PoolPhoto
from synth.spec import (
    SCENE_KINDS,
    CameraSpec,
    DofSpec,
    HighlightSpec,
    LightSpec,
    MaterialSpec,
    ObjectSpec,
    SceneSpec,
)

# Warm street-light and fairy-light colours, and a few cool ones.
HIGHLIGHT_PALETTE = (
    (1.0, 0.75, 0.4),
    (1.0, 0.55, 0.25),
    (1.0, 0.9, 0.7),
    (0.6, 0.8, 1.0),
    (1.0, 0.35, 0.3),
    (0.5, 1.0, 0.6),
    (1.0, 0.95, 0.9),
)


def split_for(dataset_seed: int, scene_id: int, val: float, test: float) -> str:
    """Deterministic split by scene from a hash of ``(dataset_seed, scene_id)``."""
    digest = hashlib.sha256(f"{dataset_seed}:{scene_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    return "test" if u < test else "val" if u < test + val else "train"


def look_at_euler_deg(src, dst) -> tuple[float, float, float]:
    """Blender XYZ Euler angles (degrees) that point an object's −Z axis from ``src`` to ``dst``.
    Plain float arithmetic and ``synth.detmath``: the same angles on every CPU."""
    d = [float(b) - float(a) for a, b in zip(src, dst, strict=True)]
    n = detmath.norm3(d)
    z_axis = [-c / n for c in d]
    up = (0.0, 1.0, 0.0) if abs(z_axis[1]) < 0.99 else (1.0, 0.0, 0.0)
    x_axis = _cross(up, z_axis)
    n = detmath.norm3(x_axis)
    x_axis = [c / n for c in x_axis]
    y_axis = _cross(z_axis, x_axis)
    # the rotation's columns are the local axes in the camera frame: r[i][j] = axis_j[i]
    ry = detmath.asin(max(-1.0, min(1.0, -x_axis[2])))
    rx = detmath.atan2(y_axis[2], z_axis[2])
    rz = detmath.atan2(x_axis[1], x_axis[0])
    return (math.degrees(rx), math.degrees(ry), math.degrees(rz))


def _cross(a, b) -> list[float]:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _loguniform(rng, lo: float, hi: float) -> float:
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
        scale=float(_loguniform(rng, 1.0, 30.0)),
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


def _cards(rng, cfg: SynthConfig, photos, tan_h, tan_v):
    """Kind "cards": a photo backdrop filling the view far away, then photo cards (some cut out
    along a silhouette) at log-uniform depths before it, slightly tilted; returns
    ``(objects, backdrop depth)`` with the backdrop first."""
    s = cfg.scene
    near, far = s.depth_m
    back_z = _loguniform(rng, max(near * 4.0, far * 0.3), far)
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
        z = _loguniform(rng, near, back_z * 0.8)
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


def _objects(rng, cfg: SynthConfig, textures, photos, night, tan_h, tan_v, cam_h):
    """Procedural or photo-textured objects, a ground and a backdrop (kinds "procedural" and
    "textured"); returns ``(objects, backdrop depth)``, the objects first, then ground and wall."""
    s = cfg.scene
    near, far = s.depth_m

    def material(dims, flat_aspect=None, ground=False):
        if not photos:
            return _material(rng, cfg, textures, night)
        tile_m = _loguniform(rng, *s.photo_ground_tile_m) if ground else None
        return _photo_material(rng, photos, dims, flat_aspect, tile_m)

    objects: list[ObjectSpec] = []
    for _ in range(int(rng.integers(s.objects[0], s.objects[1] + 1))):
        kind = str(s.object_kinds[rng.integers(len(s.object_kinds))])
        z = _loguniform(rng, near, far)
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


SHAPE_STREAM = 0x5A4E  # the shape stream's extra seed word (see sample_scene)


def _shaped_dof(rng, a, f_number: float, focus_m: float, index: int) -> DofSpec:
    """A DoF render through a shape drawn uniformly from ``a.shapes`` (``shape_order =
    "cycle"``: render ``index`` takes ``shapes[index % len(shapes)]``, nothing drawn), turned by
    ``θ = θ_label + U(shape_rotation_deg)``, rounded to 0.01° so that the label (6 significant
    digits) carries exactly ``rotation_deg`` (for |θ| < 10⁴°)."""
    pick = index % len(a.shapes) if a.shape_order == "cycle" else int(rng.integers(len(a.shapes)))
    entry = a.shapes[pick]
    turn = float(rng.uniform(*a.shape_rotation_deg))  # drawn for user kernels too (same stream)
    if entry.startswith(KERNEL_PREFIX):  # a user kernel (synth.kernels), never rotated
        return DofSpec(round(float(f_number), 4), focus_m, 0, 0.0, 1.0, aperture=entry)
    if is_kernel_file(entry):
        raise ValueError(
            f"aperture.shapes: {entry} must be read first (synth.kernels.resolve_shapes)"
        )
    shape = parse_shape(entry)
    rotation_deg = round(shape.rotation_deg + turn, 2)
    rotation_deg += 0.0  # -0.0 -> 0.0
    return DofSpec(
        f_number=round(float(f_number), 4),
        focus_distance_m=focus_m,
        blades=0,
        rotation_deg=rotation_deg,
        ratio=1.0,
        aperture=ApertureShape(shape.name, shape.sides, rotation_deg).label,
    )


def sample_scene(
    cfg: SynthConfig,
    scene_id: int,
    textures: list[str] | None = None,
    pool: PhotoPool | None = None,
) -> SceneSpec:
    """Sample one scene spec; ``textures`` are image file names from ``--textures DIR``,
    ``pool`` the photo pool (needed when the photographic kinds have weight)."""
    s = cfg.scene
    needs_photos = s.kinds.needs_photos
    if needs_photos and (pool is None or not pool.photos):
        raise ValueError(
            "scene kinds 'cards' and 'textured' need a photo pool (synth.pool.load_pool); "
            "or set their weights to 0"
        )
    seed = [cfg.dataset_seed, scene_id]
    if needs_photos:  # a changed pool is a new dataset
        seed.append(int(pool.pool_hash, 16))
    rng = np.random.default_rng(seed)
    kind = "procedural"
    if needs_photos:
        weights = s.kinds.normalised()
        kind = str(rng.choice(SCENE_KINDS, p=[weights[k] for k in SCENE_KINDS]))
    photos = pool.photos if (pool is not None and kind != "procedural") else ()
    textures = sorted(textures or [])
    r, c, a = cfg.render, cfg.camera, cfg.aperture
    width = int(r.resolution_px)
    height = max(1, int(round(width * r.aspect)))

    sensor_name = str(c.sensors[rng.integers(len(c.sensors))])
    sensor_w = SENSORS_MM[sensor_name]
    f35 = max(1, int(round(rng.uniform(*c.focal_length_mm) * 36.0 / sensor_w)))
    focal_mm = f35 * sensor_w / 36.0
    tan_h = sensor_w / 2.0 / focal_mm
    tan_v = tan_h * height / width
    cam_h = float(rng.uniform(*c.height_m))
    night = bool(rng.random() < s.night_probability)
    # Shapes draw from a stream of their own: a scene that is not shaped is the same scene
    # whatever aperture.shaped_scene_probability says (the share never reshuffles the others).
    shape_rng = np.random.default_rng([*seed, SHAPE_STREAM])
    shaped = bool(shape_rng.random() < a.shaped_scene_probability)
    near, far = s.depth_m

    if kind == "cards":
        objects, back_z = _cards(rng, cfg, photos, tan_h, tan_v)
        object_depths = np.array([-o.location_m[2] for o in objects[1:]])
    else:
        objects, back_z = _objects(rng, cfg, textures, photos, night, tan_h, tan_v, cam_h)
        n_fg = len(objects) - 1 - int(s.backdrop)
        object_depths = np.array([-o.location_m[2] for o in objects[:n_fg]] or [far / 2])

    world_color = (0.02, 0.025, 0.05) if night else (0.5, 0.55, 0.65)
    world_strength = float(rng.uniform(0.2, 1.0) if night else rng.uniform(0.3, 1.2))
    centre = (0.0, -cam_h * 0.5, -float(np.median(object_depths)))
    lights = []
    for role, scale in (("key", 1.0), ("fill", 0.3)):
        dist = float(np.median(object_depths)) * float(rng.uniform(0.6, 1.2))
        loc = (
            float(rng.uniform(-1, 1)) * dist,
            float(rng.uniform(0.5, 1.5)) * dist * 0.6 + cam_h * 0.2,
            -float(rng.uniform(0.0, 0.8)) * dist,
        )
        energy = scale * float(rng.uniform(5, 20)) * (dist * dist + 1.0) * (0.1 if night else 1.0)
        lights.append(
            LightSpec(
                kind="area",
                location_m=loc,
                rotation_deg=look_at_euler_deg(loc, centre),
                energy_w=energy,
                color=(1.0, 0.95, 0.88) if role == "key" else (0.85, 0.9, 1.0),
                size_m=max(0.2, dist * 0.3),
            )
        )

    highlights = []
    n_high = int(rng.integers(s.highlights[0], s.highlights[1] + 1))
    no_highlights = rng.random() < s.no_highlights_probability
    if shaped:  # a shape shows only in highlights' discs
        n_high = max(n_high, a.shaped_min_highlights)
    elif no_highlights:
        n_high = 0
    strength_scale = 1.0 if night else 3.0
    ground_y = None if kind == "cards" else -cam_h  # highlights stay above the ground ...
    for i in range(n_high):
        z = (  # ... and before the backdrop, where they can be seen
            _loguniform(rng, max(near, far * 0.15), back_z * 0.98)
            if i % 4
            else _loguniform(rng, near, min(far, back_z * 0.98))
        )
        y = float(rng.uniform(-0.6, 1.0)) * z * tan_v
        x = float(rng.uniform(-1.2, 1.2)) * z * tan_h
        # 0.8-2.4 % of the frame width across: a point-like source, a px or two in focus
        radius = z * tan_h * float(rng.uniform(0.004, 0.012))
        if ground_y is not None and y < ground_y + radius:  # mirrored above the ground
            y = min(2 * (ground_y + radius) - y, z * tan_v)
        highlights.append(
            HighlightSpec(
                location_m=(x, y, -z),
                radius_m=radius,
                strength=strength_scale * float(rng.uniform(*s.highlight_strength)),
                color=HIGHLIGHT_PALETTE[int(rng.integers(len(HIGHLIGHT_PALETTE)))],
            )
        )
    highlight_depths = np.array([-h.location_m[2] for h in highlights])

    in_view = np.concatenate([object_depths, highlight_depths, [back_z]])
    dofs = []
    disc_lo, disc_hi = a.shaped_disc_px if shaped else a.disc_px  # a shape needs a big disc
    for _ in range(a.renders_per_scene):
        # Focus on an object; keep the largest disc in view within disc_px by adjusting N
        # (CoC ∝ 1/N) inside the f-number range; if no N in range fits, try another object.
        for _attempt in range(6):
            focus = float(object_depths[rng.integers(len(object_depths))]) * float(
                rng.uniform(0.97, 1.03)
            )
            n = _loguniform(rng, *a.f_number)
            disc = float(np.abs(coc_cycles_px(focal_mm, n, focus, in_view, sensor_w, width)).max())
            if disc > disc_hi:
                n = min(a.f_number[1], n * disc / disc_hi)
            elif 0 < disc < disc_lo:
                n = max(a.f_number[0], n * disc / disc_lo)
            disc = float(np.abs(coc_cycles_px(focal_mm, n, focus, in_view, sensor_w, width)).max())
            if disc_lo <= disc <= disc_hi:
                break
        if shaped:
            dofs.append(_shaped_dof(shape_rng, a, n, focus, len(dofs)))
            continue
        blades = (
            0 if rng.random() < a.round_probability else int(a.blades[rng.integers(len(a.blades))])
        )
        ratio = (
            float(rng.uniform(*a.anamorphic_ratio))
            if rng.random() < a.anamorphic_probability
            else 1.0
        )
        dofs.append(
            DofSpec(
                f_number=round(float(n), 4),
                focus_distance_m=focus,
                blades=blades,
                rotation_deg=float(rng.uniform(*a.rotation_deg)),
                ratio=ratio,
            )
        )

    notes = {"night": night, "camera_height_m": cam_h}
    if shaped:
        notes["shaped"] = True
    return SceneSpec(
        dataset_id=cfg.dataset_id,
        dataset_seed=cfg.dataset_seed,
        scene_id=int(scene_id),
        width_px=width,
        height_px=height,
        camera=CameraSpec(
            focal_length_mm=focal_mm,
            sensor_width_mm=sensor_w,
            sensor_name=sensor_name,
            focal_length_35mm=f35,
        ),
        world_color=world_color,
        world_strength=world_strength,
        objects=objects,
        lights=lights,
        highlights=highlights,
        dof=dofs,
        split=split_for(cfg.dataset_seed, scene_id, cfg.split.val, cfg.split.test),
        kind=kind,
        pool_hash=pool.pool_hash if needs_photos else None,
        notes=notes,
    )
