"""Exact highlight discs in a Cycles DoF render (``[render] exact_highlights``).

The DoF render is path traced with the emitters black to camera rays (a Light Path "Is Camera
Ray" factor on their shared emission: they still light the scene and still hide what is behind
them), saved as linear float EXR, and each emitter's disc is added from
:mod:`synth.highlight_splat`. Only an emitter with triangles of the evaluated scene or other
emitters (as spheres) near the hull of the lens and itself (bounding spheres,
:func:`synth.raycast.near_hull`) gets rays cast against those (:mod:`synth.raycast`): from a
64 × 64 lens grid to its centre and, in the penumbra of what blocks them, from 18 more points of
its disc, each ray from its own lens point (:class:`synth.highlight_splat.Hidden`). The sum goes
through the scene's exposure and the sRGB "Standard" transform to 8 bits, as Blender saves (to
one level of its dither).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
import OpenEXR
from PIL import Image
from scipy.ndimage import binary_dilation, distance_transform_edt

from optics.aperture import cycles_kernel
from synth.highlight_splat import (
    EMITTER_AREA_FACTOR,
    Footprint,
    Hidden,
    LensView,
    add_layer,
    disc_points,
    footprint,
    splat,
)
from synth.raycast import Triangles, first_hit, first_hit_spheres, near_hull
from synth.spec import DofSpec, SceneSpec

LENS_GRID = 64  # visibility samples per lens axis
PENUMBRA_POINTS = 19  # points of the emitter's disc cast in the penumbra (7 or 19)
CLIP_START_M = 0.01  # synth.blender.build's camera: nothing nearer is seen
_FACTOR_NODE = "camera_rays_black"


def set_camera_black(on: bool) -> None:
    """Make the highlight emitters black to camera rays (``on``) or emit as usual; inserts the
    factor into their shared material the first time."""
    mat = bpy.data.materials.get("emitter")
    if mat is None:
        return
    nt = mat.node_tree
    node = nt.nodes.get(_FACTOR_NODE)
    if node is None:
        emission = next(n for n in nt.nodes if n.type == "EMISSION")
        strength = emission.inputs["Strength"].links[0].from_socket
        path = nt.nodes.new("ShaderNodeLightPath")
        node = nt.nodes.new("ShaderNodeMath")  # 1 - on * is_camera_ray
        node.name = _FACTOR_NODE
        node.operation = "MULTIPLY_ADD"
        node.inputs[2].default_value = 1.0
        nt.links.new(path.outputs["Is Camera Ray"], node.inputs[0])
        scaled = nt.nodes.new("ShaderNodeMath")
        scaled.operation = "MULTIPLY"
        nt.links.new(strength, scaled.inputs[0])
        nt.links.new(node.outputs["Value"], scaled.inputs[1])
        nt.links.new(scaled.outputs["Value"], emission.inputs["Strength"])
    node.inputs[1].default_value = -1.0 if on else 0.0


def lens_view(spec: SceneSpec, dof: DofSpec) -> LensView:
    return LensView(
        focal_length_m=spec.camera.focal_length_mm * 1e-3,
        sensor_width_m=spec.camera.sensor_width_mm * 1e-3,
        width_px=spec.width_px,
        height_px=spec.height_px,
        f_number=dof.f_number,
        focus_distance_m=dof.focus_distance_m,
    )


def scene_triangles(scene, spec: SceneSpec) -> Triangles:
    """Every rendered mesh of ``scene`` but the emitters (spheres in :class:`Blockers`) and the
    aperture occluder, as world-space triangles (evaluated: modifiers such as displacement
    applied, as Cycles renders them). The same for every DoF render of the scene."""
    skip = {f"highlight_{i:03d}" for i in range(len(spec.highlights))} | {"aperture_occluder"}
    depsgraph = bpy.context.evaluated_depsgraph_get()
    corners = [np.zeros((0, 3, 3))]
    for ob in scene.objects:
        if ob.type != "MESH" or ob.name in skip or ob.hide_render:
            continue
        ev = ob.evaluated_get(depsgraph)
        me = ev.to_mesh()
        try:
            me.calc_loop_triangles()
            co = np.empty(len(me.vertices) * 3, np.float64)
            me.vertices.foreach_get("co", co)
            idx = np.empty(len(me.loop_triangles) * 3, np.int64)
            me.loop_triangles.foreach_get("vertices", idx)
        finally:
            ev.to_mesh_clear()
        m = np.array(ev.matrix_world, np.float64)
        world = co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
        corners.append(world[idx.reshape(-1, 3)])
    return Triangles.from_corners(np.concatenate(corners))


@dataclass(frozen=True)
class Blockers:
    """What may block an emitter's rays: mesh triangles and other emitters (as spheres of the
    silhouette's area)."""

    tris: Triangles
    sphere_centres: np.ndarray  # K×3
    sphere_radii: np.ndarray  # K


def _rays_blocked(lens_xy: np.ndarray, targets: np.ndarray, radius_m: float, b: Blockers):
    """Distance to the first blocker of each ray from lens point ``lens_xy[k]`` (at z = 0) to
    ``targets[k]`` (a point of the emitter), inf when none; rays start at the camera's clip
    distance and stop short of the emitter's sphere."""
    u = np.concatenate([lens_xy, np.zeros((lens_xy.shape[0], 1))], axis=1)
    ray = targets - u
    length = np.linalg.norm(ray, axis=1)
    d = ray / length[:, None]
    far = np.maximum(length - radius_m - CLIP_START_M, 0.0)
    start = u + d * CLIP_START_M
    t = np.minimum(
        first_hit(start, d, far, b.tris),
        first_hit_spheres(start, d, far, b.sphere_centres, b.sphere_radii),
    )
    return np.where(far > 0, t + CLIP_START_M, np.inf)


def hidden_rays(view: LensView, fp: Footprint, centre_m, radius_m: float, tris: Blockers):
    """What hides the emitter (:class:`synth.highlight_splat.Hidden`), or None when nothing does:
    rays from a ``LENS_GRID``² grid of lens points to its centre, then, in the penumbra of what
    hides it (the cells near a change, as far as the emitter's size reaches through the nearest
    blocker), the rays of ``PENUMBRA_POINTS - 1`` more points of its disc, each from its own
    lens point (a pixel's camera ray meets the emitter at ``q = c + (1 − z/S)(u − u0)``)."""
    n, r, a = LENS_GRID, view.lens_radius_m, fp.lens_scale
    c = np.asarray(centre_m, np.float64)
    t = ((np.arange(n) + 0.5) / n * 2 - 1) * r
    gx, gy = np.meshgrid(t, -t)  # lens x right, y up; rows from the top
    inside = np.hypot(gx, gy) <= r + r / n
    lens = np.stack([gx[inside], gy[inside]], axis=1)
    dist = _rays_blocked(lens, np.broadcast_to(c, (lens.shape[0], 3)), radius_m, tris)
    if not np.isfinite(dist).any():
        return None
    centre_hidden = np.zeros((n, n), bool)
    centre_hidden[inside] = np.isfinite(dist)
    # cells past the lens's edge take their nearest lens cell's value: the splat interpolates
    # the grid, and a 0 beyond the edge would leave a ring of a hidden emitter's disc
    nearest = distance_transform_edt(~inside, return_distances=False, return_indices=True)
    centre_hidden = centre_hidden[nearest[0], nearest[1]]
    offsets = disc_points(math.sqrt(EMITTER_AREA_FACTOR) * radius_m, PENUMBRA_POINTS)
    grids = np.repeat(centre_hidden[None].astype(np.float64), len(offsets), axis=0)
    if centre_hidden.all():
        return Hidden(offsets_m=offsets, grids=grids)
    near = float(dist[np.isfinite(dist)].min())
    half_m = radius_m / abs(a) * near / max(float(np.linalg.norm(c)) - near, 1e-9)
    reach = min(16, int(math.ceil(half_m / (2 * r / n))) + 1)
    band = (
        binary_dilation(centre_hidden, iterations=reach)
        & binary_dilation(~centre_hidden, iterations=reach)
        & inside
    )
    bx, by = gx[band], gy[band]
    for e, (ox, oy) in enumerate(offsets[1:], start=1):
        lens_e = np.stack([bx + ox / a, by + oy / a], axis=1)
        target = np.broadcast_to(c + np.array([ox, oy, 0.0]), (lens_e.shape[0], 3))
        hit = np.isfinite(_rays_blocked(lens_e, target, radius_m, tris))
        grids[e][band] = hit
    return Hidden(offsets_m=offsets, grids=grids)


def highlight_layer(
    scene, spec: SceneSpec, dof: DofSpec, mask, tris: Triangles | None = None
) -> tuple[np.ndarray, int]:
    """The emitters' discs (linear radiance, H×W×3) for one DoF render, and how many emitters
    had something near the hull of the lens and themselves (their rays were cast). ``tris``:
    the scene's :func:`scene_triangles`, when the caller already has them."""
    view = lens_view(spec, dof)
    frame = np.zeros((spec.height_px, spec.width_px, 3), np.float64)
    if tris is None:
        tris = scene_triangles(scene, spec)
    centres = np.array([h.location_m for h in spec.highlights], np.float64).reshape(-1, 3)
    radii = math.sqrt(EMITTER_AREA_FACTOR) * np.array([h.radius_m for h in spec.highlights])
    r_lens = view.lens_radius_m
    cast = 0
    for i, h in enumerate(spec.highlights):
        fp = footprint(view, h.location_m, h.radius_m)
        if fp is None:
            continue
        near_t = near_hull(tris.centre, tris.radius, r_lens, h.location_m, h.radius_m)
        near_s = near_hull(centres, radii, r_lens, h.location_m, h.radius_m)
        near_s[i] = False
        hidden = None
        if near_t.any() or near_s.any():
            b = Blockers(tris.subset(near_t), centres[near_s], radii[near_s])
            hidden = hidden_rays(view, fp, h.location_m, h.radius_m, b)
            cast += 1
        out = splat(view, fp, mask, hidden)
        if out is not None:
            add_layer(frame, out[0], out[1], [c * h.strength for c in h.color])
    return frame, cast


def read_linear_exr(path) -> np.ndarray:
    """H×W×3 float64 linear RGB of an EXR Blender saved (rows from the top)."""
    with OpenEXR.File(str(path)) as f:
        ch = f.parts[0].channels
        if "RGB" in ch:
            return np.asarray(ch["RGB"].pixels, dtype=np.float64)
        for name in ("RGBA", "ViewLayer.Combined"):
            if name in ch:
                return np.asarray(ch[name].pixels, dtype=np.float64)[..., :3]
        return np.stack([np.asarray(ch[k].pixels, dtype=np.float64) for k in "RGB"], -1)


def srgb8(linear: np.ndarray, exposure_ev: float) -> np.ndarray:
    """Blender's "Standard" view transform with ``exposure_ev`` to 8-bit sRGB (no dither)."""
    x = np.clip(linear * 2.0**exposure_ev, 0.0, 1.0)
    v = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)


def cycles_mask(dof: DofSpec) -> np.ndarray:
    """The lens opening Cycles samples for ``dof`` (round, bladed, anamorphic)."""
    return cycles_kernel(dof.blades, dof.rotation_deg, dof.ratio)


def write_exact(spec, dof, mask, exposure_ev: float, linear_exr, out_dir, files, k, tris=None):
    """Add the emitters' discs to the linear render in ``linear_exr`` (deleted after) and write
    ``files[dof_KK]`` (8-bit PNG) and, when listed, ``files[dof_KK_exr]`` (half-float EXR)."""
    base = read_linear_exr(linear_exr)
    os.unlink(linear_exr)
    layer, _ = highlight_layer(bpy.context.scene, spec, dof, mask, tris)
    linear = base + layer
    Image.fromarray(srgb8(linear, exposure_ev)).save(Path(out_dir) / files[f"dof_{k:02d}"])
    if f"dof_{k:02d}_exr" in files:
        write_half_exr(Path(out_dir) / files[f"dof_{k:02d}_exr"], linear)


def write_half_exr(path, linear: np.ndarray) -> None:
    """Linear RGB as a half-float, ZIP-compressed EXR (as Blender writes ``EXR_HALF``)."""
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    channels = {"RGB": np.ascontiguousarray(linear, dtype=np.float16)}
    with OpenEXR.File(header, channels) as f:
        f.write(str(path))
