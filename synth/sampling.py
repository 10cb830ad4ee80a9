"""Pure-numpy scene sampler: ``sample_scene(config, scene_id)`` -> ``SceneSpec``.

Everything is drawn from ``numpy.random.default_rng([dataset_seed, scene_id])``, so a scene id
gives the same spec (and hash) on any machine, in any shard. Geometry lives in the camera frame
(camera at the origin looking down −Z, +Y up). The real focal length is derived from an integer
35 mm equivalent, ``f = f35 · sensor_w / 36``, so that the EXIF of the renders round-trips
exactly through ``FocalLengthIn35mmFilm``. Each DoF render focuses on an object's depth and keeps
the largest CoC in view inside ``aperture.disc_px`` by adjusting N (CoC ∝ 1/N, so exactly).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from optics import coc_cycles_px
from synth.config import SENSORS_MM, SynthConfig
from synth.spec import (
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
    """Blender XYZ Euler angles (degrees) that point an object's −Z axis from ``src`` to ``dst``."""
    d = np.asarray(dst, float) - np.asarray(src, float)
    z_axis = -d / np.linalg.norm(d)
    up = np.array([0.0, 1.0, 0.0]) if abs(z_axis[1]) < 0.99 else np.array([1.0, 0.0, 0.0])
    x_axis = np.cross(up, z_axis)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(z_axis, x_axis)
    r = np.stack([x_axis, y_axis, z_axis], axis=1)  # columns: local axes in the camera frame
    ry = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    rx = math.atan2(r[2, 1], r[2, 2])
    rz = math.atan2(r[1, 0], r[0, 0])
    return (math.degrees(rx), math.degrees(ry), math.degrees(rz))


def _loguniform(rng, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


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


def sample_scene(cfg: SynthConfig, scene_id: int, textures: list[str] | None = None) -> SceneSpec:
    """Sample one scene spec; ``textures`` are image file names from ``--textures DIR``."""
    rng = np.random.default_rng([cfg.dataset_seed, scene_id])
    textures = sorted(textures or [])
    r, c, a, s = cfg.render, cfg.camera, cfg.aperture, cfg.scene
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
    near, far = s.depth_m

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
                material=_material(rng, cfg, textures, night),
                displacement=float(rng.uniform(0.1, 0.4)) if kind == "displaced" else 0.0,
            )
        )
    object_depths = np.array([-o.location_m[2] for o in objects] or [far / 2])

    # Ground and backdrop, large enough to fill the view.
    ground_len = far * 1.3
    objects.append(
        ObjectSpec(
            kind="plane",
            location_m=(0.0, -cam_h, -ground_len / 2),
            rotation_deg=(-90.0, 0.0, 0.0),
            size_m=(2.6 * ground_len * tan_h + 2.0, ground_len, 0.0),
            material=_material(rng, cfg, textures, night),
        )
    )
    back_z = far * 1.2
    if s.backdrop:
        objects.append(
            ObjectSpec(
                kind="plane",
                location_m=(0.0, back_z * tan_v * 0.5, -back_z),
                rotation_deg=(0.0, 0.0, 0.0),
                size_m=(2.6 * back_z * tan_h, 2.6 * back_z * tan_v + cam_h, 0.0),
                material=_material(rng, cfg, textures, night),
            )
        )

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
        energy = scale * float(rng.uniform(5, 20)) * (dist**2 + 1.0) * (0.1 if night else 1.0)
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
    strength_scale = 1.0 if night else 3.0
    for i in range(n_high):
        z = (
            _loguniform(rng, max(near, far * 0.15), back_z * 0.98)
            if i % 4
            else _loguniform(rng, near, far)
        )
        highlights.append(
            HighlightSpec(
                location_m=(
                    float(rng.uniform(-1.2, 1.2)) * z * tan_h,
                    float(rng.uniform(-0.6, 1.0)) * z * tan_v,
                    -z,
                ),
                # 0.8-2.4 % of the frame width across: a point-like source, a px or two in focus
                radius_m=z * tan_h * float(rng.uniform(0.004, 0.012)),
                strength=strength_scale * float(rng.uniform(*s.highlight_strength)),
                color=HIGHLIGHT_PALETTE[int(rng.integers(len(HIGHLIGHT_PALETTE)))],
            )
        )
    highlight_depths = np.array([-h.location_m[2] for h in highlights])

    in_view = np.concatenate([object_depths, highlight_depths, [back_z]])
    dofs = []
    for _ in range(a.renders_per_scene):
        # Focus on an object; keep the largest disc in view within disc_px by adjusting N
        # (CoC ∝ 1/N) inside the f-number range; if no N in range fits, try another object.
        for _attempt in range(6):
            focus = float(object_depths[rng.integers(len(object_depths))]) * float(
                rng.uniform(0.97, 1.03)
            )
            n = _loguniform(rng, *a.f_number)
            disc = float(np.abs(coc_cycles_px(focal_mm, n, focus, in_view, sensor_w, width)).max())
            if disc > a.disc_px[1]:
                n = min(a.f_number[1], n * disc / a.disc_px[1])
            elif 0 < disc < a.disc_px[0]:
                n = max(a.f_number[0], n * disc / a.disc_px[0])
            disc = float(np.abs(coc_cycles_px(focal_mm, n, focus, in_view, sensor_w, width)).max())
            if a.disc_px[0] <= disc <= a.disc_px[1]:
                break
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
        notes={"night": night, "camera_height_m": cam_h},
    )
