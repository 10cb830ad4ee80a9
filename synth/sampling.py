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
``shaped_min_highlights`` highlights, whose discs show the shape. With ``aperture.sweep_f_numbers``
a scene ends with a K sweep: one render per listed f-number at the first render's focus and
aperture, nothing drawn (the regular renders are those of the config without a sweep);
``aperture.sweep_k`` lists the sweep's K values instead, the same for every scene. The objects
and their materials are drawn by ``synth.sample_objects``, under the same rule.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from optics import coc_cycles_px
from optics.aperture import ApertureShape, parse_shape
from synth import detmath
from synth.config import SENSORS_MM, SynthConfig
from synth.kernels import KERNEL_PREFIX, is_kernel_file
from synth.pool import PhotoPool
from synth.sample_objects import loguniform, sample_cards, sample_objects
from synth.spec import (
    SCENE_KINDS,
    CameraSpec,
    DofSpec,
    HighlightSpec,
    LightSpec,
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


@dataclass(frozen=True)
class _View:
    """A scene's camera draws and the view they give (``tan_h``, ``tan_v``: tangents of the half
    view angles; ``cam_h``: the camera's height above the ground)."""

    sensor_name: str
    sensor_w: float
    f35: int
    focal_mm: float
    width: int
    height: int
    tan_h: float
    tan_v: float
    cam_h: float


def _scene_rng(cfg: SynthConfig, scene_id: int, pool: PhotoPool | None):
    """The scene's seed words and its generator; the pool hash joins the seed when the
    photographic kinds have weight (a changed pool is a new dataset)."""
    needs_photos = cfg.scene.kinds.needs_photos
    if needs_photos and (pool is None or not pool.photos):
        raise ValueError(
            "scene kinds 'cards' and 'textured' need a photo pool (synth.pool.load_pool); "
            "or set their weights to 0"
        )
    seed = [cfg.dataset_seed, scene_id]
    if needs_photos:
        seed.append(int(pool.pool_hash, 16))
    return seed, np.random.default_rng(seed)


def _draw_kind(rng, cfg: SynthConfig) -> str:
    """The scene kind: "procedural" without drawing when no photographic kind has weight."""
    kinds = cfg.scene.kinds
    if not kinds.needs_photos:
        return "procedural"
    weights = kinds.normalised()
    return str(rng.choice(SCENE_KINDS, p=[weights[k] for k in SCENE_KINDS]))


def _draw_view(rng, cfg: SynthConfig) -> _View:
    """Sensor, focal length (from an integer 35 mm equivalent) and camera height."""
    r, c = cfg.render, cfg.camera
    width = int(r.resolution_px)
    height = max(1, int(round(width * r.aspect)))
    sensor_name = str(c.sensors[rng.integers(len(c.sensors))])
    sensor_w = SENSORS_MM[sensor_name]
    f35 = max(1, int(round(rng.uniform(*c.focal_length_mm) * 36.0 / sensor_w)))
    focal_mm = f35 * sensor_w / 36.0
    tan_h = sensor_w / 2.0 / focal_mm
    tan_v = tan_h * height / width
    cam_h = float(rng.uniform(*c.height_m))
    return _View(sensor_name, sensor_w, f35, focal_mm, width, height, tan_h, tan_v, cam_h)


def _draw_objects(rng, cfg: SynthConfig, kind: str, textures, photos, night: bool, v: _View):
    """The scene's objects (synth.sample_objects); returns ``(objects, backdrop depth, depths of
    the objects a render may focus on)``."""
    s = cfg.scene
    if kind == "cards":
        objects, back_z = sample_cards(rng, cfg, photos, v.tan_h, v.tan_v)
        object_depths = np.array([-o.location_m[2] for o in objects[1:]])
    else:
        objects, back_z = sample_objects(
            rng, cfg, textures, photos, night, v.tan_h, v.tan_v, v.cam_h
        )
        n_fg = len(objects) - 1 - int(s.backdrop)
        far = s.depth_m[1]
        object_depths = np.array([-o.location_m[2] for o in objects[:n_fg]] or [far / 2])
    return objects, back_z, object_depths


def _draw_lights(rng, object_depths, cam_h: float, night: bool) -> list[LightSpec]:
    """A key and a fill area light around the objects' median depth, aimed at it."""
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
    return lights


def _draw_highlights(
    rng, cfg: SynthConfig, kind: str, shaped: bool, night: bool, v: _View, back_z: float
) -> list[HighlightSpec]:
    """Point-like emitters (at least ``shaped_min_highlights`` in a shaped scene), above the
    ground and before the backdrop."""
    s, a = cfg.scene, cfg.aperture
    near, far = s.depth_m
    n_high = int(rng.integers(s.highlights[0], s.highlights[1] + 1))
    no_highlights = rng.random() < s.no_highlights_probability
    if shaped:  # a shape shows only in highlights' discs
        n_high = max(n_high, a.shaped_min_highlights)
    elif no_highlights:
        n_high = 0
    strength_scale = 1.0 if night else 3.0
    ground_y = None if kind == "cards" else -v.cam_h  # highlights stay above the ground ...
    highlights = []
    for i in range(n_high):
        z = (  # ... and before the backdrop, where they can be seen
            loguniform(rng, max(near, far * 0.15), back_z * 0.98)
            if i % 4
            else loguniform(rng, near, min(far, back_z * 0.98))
        )
        y = float(rng.uniform(-0.6, 1.0)) * z * v.tan_v
        x = float(rng.uniform(-1.2, 1.2)) * z * v.tan_h
        # 0.8-2.4 % of the frame width across: a point-like source, a px or two in focus
        radius = z * v.tan_h * float(rng.uniform(0.004, 0.012))
        if ground_y is not None and y < ground_y + radius:  # mirrored above the ground
            y = min(2 * (ground_y + radius) - y, z * v.tan_v)
        highlights.append(
            HighlightSpec(
                location_m=(x, y, -z),
                radius_m=radius,
                strength=strength_scale * float(rng.uniform(*s.highlight_strength)),
                color=HIGHLIGHT_PALETTE[int(rng.integers(len(HIGHLIGHT_PALETTE)))],
            )
        )
    return highlights


def _focus_and_f_number(rng, a, v: _View, object_depths, in_view, disc_px) -> tuple[float, float]:
    """Focus on an object; keep the largest disc in view within ``disc_px`` by adjusting N
    (CoC ∝ 1/N) inside the f-number range; if no N in range fits, try another object (six
    tries, the last one kept). Returns ``(focus distance m, N)``."""
    disc_lo, disc_hi = disc_px
    for _attempt in range(6):
        focus = float(object_depths[rng.integers(len(object_depths))]) * float(
            rng.uniform(0.97, 1.03)
        )
        n = loguniform(rng, *a.f_number)
        disc = _largest_disc_px(v, n, focus, in_view)
        if disc > disc_hi:
            n = min(a.f_number[1], n * disc / disc_hi)
        elif 0 < disc < disc_lo:
            n = max(a.f_number[0], n * disc / disc_lo)
        disc = _largest_disc_px(v, n, focus, in_view)
        if disc_lo <= disc <= disc_hi:
            break
    return focus, n


def _largest_disc_px(v: _View, f_number: float, focus_m: float, in_view) -> float:
    return float(
        np.abs(coc_cycles_px(v.focal_mm, f_number, focus_m, in_view, v.sensor_w, v.width)).max()
    )


def _plain_dof(rng, a, f_number: float, focus_m: float) -> DofSpec:
    """A DoF render through a round, bladed and/or anamorphic aperture."""
    blades = 0 if rng.random() < a.round_probability else int(a.blades[rng.integers(len(a.blades))])
    ratio = (
        float(rng.uniform(*a.anamorphic_ratio)) if rng.random() < a.anamorphic_probability else 1.0
    )
    return DofSpec(
        f_number=round(float(f_number), 4),
        focus_distance_m=focus_m,
        blades=blades,
        rotation_deg=float(rng.uniform(*a.rotation_deg)),
        ratio=ratio,
    )


def _draw_dofs(rng, shape_rng, cfg: SynthConfig, shaped: bool, v: _View, object_depths, in_view):
    """``renders_per_scene`` DoF renders; a shaped scene's look through shapes (drawn from
    ``shape_rng``) and keep the larger ``shaped_disc_px`` (a shape needs a big disc). The K
    sweep's renders (``_sweep_dofs``) follow them."""
    a = cfg.aperture
    disc_px = a.shaped_disc_px if shaped else a.disc_px
    dofs = []
    for _ in range(a.renders_per_scene):
        focus, n = _focus_and_f_number(rng, a, v, object_depths, in_view, disc_px)
        if shaped:
            dofs.append(_shaped_dof(shape_rng, a, n, focus, len(dofs)))
        else:
            dofs.append(_plain_dof(rng, a, n, focus))
    return dofs + _sweep_dofs(a, dofs[0], v)


def _sweep_dofs(a, first: DofSpec, v: _View) -> list[DofSpec]:
    """One DoF render per ``a.sweep_f_numbers`` entry, in the listed order, at ``first``'s focus
    distance through ``first``'s aperture (blades, rotation, ratio or shape), with exactly that
    f-number (the config allows at most 4 decimals) and no draw, so the regular renders stay the
    scene's renders without a sweep; ``disc_px`` does not apply (a sweep's discs can be larger).
    With ``a.sweep_k`` instead, each render's f-number is :func:`sweep_f_number` of its K."""
    if a.sweep_f_numbers:
        numbers = [round(float(n), 4) for n in a.sweep_f_numbers]
    else:
        numbers = [sweep_f_number(k, v.focal_mm, v.sensor_w, v.width) for k in a.sweep_k]
    return [dataclasses.replace(first, f_number=n) for n in numbers]


def sweep_f_number(k: float, focal_mm: float, sensor_w_mm: float, width_px: int) -> float:
    """The f-number whose render has blur strength ``k`` at ``width_px`` (the inverse of
    ``optics.genrefocus.k_synthetic``), rounded to 4 decimals (6 below f/1), so the K it gives is
    within 1e-4 of ``k`` relative. A stopped-down lens has a large N, a wide one a small N:
    Cycles' thin lens renders either exactly, past real lenses' f/1 and f/64 too."""
    n = float(focal_mm) * float(focal_mm) * int(width_px) / (2000.0 * float(k) * float(sensor_w_mm))
    return round(n, 4 if n >= 1.0 else 6)


def sample_scene(
    cfg: SynthConfig,
    scene_id: int,
    textures: list[str] | None = None,
    pool: PhotoPool | None = None,
) -> SceneSpec:
    """Sample one scene spec; ``textures`` are image file names from ``--textures DIR``,
    ``pool`` the photo pool (needed when the photographic kinds have weight). The phases draw
    in a fixed order (kind, camera, night, objects, world, lights, highlights, DoF renders):
    reordering them changes every spec hash."""
    s = cfg.scene
    needs_photos = s.kinds.needs_photos
    seed, rng = _scene_rng(cfg, scene_id, pool)
    kind = _draw_kind(rng, cfg)
    photos = pool.photos if (pool is not None and kind != "procedural") else ()
    textures = sorted(textures or [])
    view = _draw_view(rng, cfg)
    night = bool(rng.random() < s.night_probability)
    # Shapes draw from a stream of their own: a scene that is not shaped is the same scene
    # whatever aperture.shaped_scene_probability says (the share never reshuffles the others).
    shape_rng = np.random.default_rng([*seed, SHAPE_STREAM])
    shaped = bool(shape_rng.random() < cfg.aperture.shaped_scene_probability)
    objects, back_z, object_depths = _draw_objects(rng, cfg, kind, textures, photos, night, view)
    world_color = (0.02, 0.025, 0.05) if night else (0.5, 0.55, 0.65)
    world_strength = float(rng.uniform(0.2, 1.0) if night else rng.uniform(0.3, 1.2))
    lights = _draw_lights(rng, object_depths, view.cam_h, night)
    highlights = _draw_highlights(rng, cfg, kind, shaped, night, view, back_z)
    highlight_depths = np.array([-h.location_m[2] for h in highlights])
    in_view = np.concatenate([object_depths, highlight_depths, [back_z]])
    dofs = _draw_dofs(rng, shape_rng, cfg, shaped, view, object_depths, in_view)
    notes = {"night": night, "camera_height_m": view.cam_h}
    if shaped:
        notes["shaped"] = True
    if cfg.aperture.sweep_f_numbers or cfg.aperture.sweep_k:  # dof[sweep_first_dof:]: K sweep
        notes["sweep_first_dof"] = cfg.aperture.renders_per_scene
    return SceneSpec(
        dataset_id=cfg.dataset_id,
        dataset_seed=cfg.dataset_seed,
        scene_id=int(scene_id),
        width_px=view.width,
        height_px=view.height,
        camera=CameraSpec(
            focal_length_mm=view.focal_mm,
            sensor_width_mm=view.sensor_w,
            sensor_name=view.sensor_name,
            focal_length_35mm=view.f35,
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
