"""Arbitrary aperture shapes in Cycles: a thin occluder with the shape's opening at the lens.

Cycles' camera only knows round and bladed apertures. A photographer's bokeh mask does the
rest: an opaque sheet with the shape cut out, right in front of the lens. Here it is a square
plane ``OCCLUDER_DISTANCE_M`` in front of the camera (the camera sits at the origin looking
down −Z), textured with the kernel (:mod:`optics.aperture`): transparent where the kernel is
open, black (absorbing, emitting nothing) where it is closed; it is seen only by camera rays
(no shadows, reflections or indirect light) and hidden in the depth and all-in-focus passes.

Geometry. Cycles samples lens points ``p`` on the disc of radius ``R = f / (2 N)`` (focal
length ``f`` in m) and aims each ray at the pixel's point on the focus plane at distance ``S``;
the ray crosses the plane ``z = −d`` at ``p · (1 − d/S) + d · tan θ`` (θ: the pixel's field
angle). So the opening is the kernel scaled to ``R · (1 − d/S)``, and off-axis pixels see it
shifted by ``d · tan θ``: with ``d`` = 20 µm that is under 0.1 % of ``R`` for any lens here.
The camera's clip start is moved below ``d`` while the occluder is shown. A highlight behind
the focus plane then shows the kernel as it is (x right, y up in the image; in front of the
focus plane rotated by 180°), its circumscribed circle the Cycles CoC.

Exposure. The occluder blocks ``1 − open_fraction`` of the light; Cycles' film exposure is
multiplied by ``1 / open_fraction`` (``optics.aperture.light_loss_ev``) for that render, so a
shaped render is as bright as a round one with the same CoC (PNG and EXR alike).
"""

from __future__ import annotations

import bpy
import numpy as np

from optics.aperture import open_fraction

OCCLUDER_DISTANCE_M = 2e-5
OCCLUDER_CLIP_START_M = 1e-6
DEFAULT_CLIP_START_M = 0.01
PAD_FRACTION = 0.125  # closed margin around the kernel on each side (off-axis shift, rounding)


def _occluder_material(image) -> bpy.types.Material:
    mat = bpy.data.materials.new("aperture_occluder")
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.remove(nt.nodes["Principled BSDF"])
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.interpolation = "Linear"
    tex.extension = "CLIP"
    closed = nt.nodes.new("ShaderNodeEmission")  # black, no BSDF: the path ends here
    closed.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
    closed.inputs["Strength"].default_value = 0.0
    opening = nt.nodes.new("ShaderNodeBsdfTransparent")
    opening.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    mix = nt.nodes.new("ShaderNodeMixShader")
    nt.links.new(tex.outputs["Color"], mix.inputs["Fac"])
    nt.links.new(closed.outputs["Emission"], mix.inputs[1])
    nt.links.new(opening.outputs["BSDF"], mix.inputs[2])
    nt.links.new(mix.outputs["Shader"], nt.nodes["Material Output"].inputs["Surface"])
    return mat


def add_occluder(collection) -> bpy.types.Object:
    """A hidden unit square (UV 0..1) at ``z = −OCCLUDER_DISTANCE_M`` with the occluder material."""
    me = bpy.data.meshes.new("aperture_occluder")
    me.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)], [], [(0, 1, 2, 3)])
    uv = me.uv_layers.new(name="UVMap")
    for loop, (u, v) in zip(uv.data, ((0, 0), (1, 0), (1, 1), (0, 1)), strict=True):
        loop.uv = (u, v)
    me.update()
    image = bpy.data.images.new("aperture_kernel", 8, 8, alpha=False, float_buffer=True)
    image.colorspace_settings.name = "Non-Color"
    me.materials.append(_occluder_material(image))
    ob = bpy.data.objects.new("aperture_occluder", me)
    ob.location = (0.0, 0.0, -OCCLUDER_DISTANCE_M)
    for flag in ("diffuse", "glossy", "transmission", "volume_scatter", "shadow"):
        setattr(ob, f"visible_{flag}", False)
    ob.hide_render = True
    collection.objects.link(ob)
    return ob


def show_kernel(scene, cam, occluder, kernel, f_number: float, focus_distance_m: float) -> float:
    """Cut ``kernel`` into the occluder for a render at ``f_number`` focused at the given planar
    distance; returns the film exposure factor set (``1 / open_fraction``)."""
    k = np.asarray(kernel, dtype=np.float32)
    n = k.shape[0]
    pad = int(np.ceil(n * PAD_FRACTION))
    img = np.pad(k, pad)[::-1]  # Blender's rows start at the bottom
    size = img.shape[0]
    image = occluder.active_material.node_tree.nodes["Image Texture"].image
    if image.size[0] != size:
        image.scale(size, size)
    rgba = np.empty((size, size, 4), np.float32)
    rgba[..., :3] = img[..., None]
    rgba[..., 3] = 1.0
    image.pixels.foreach_set(rgba.ravel())
    image.update()
    radius_m = cam.data.lens * 1e-3 / (2.0 * f_number)
    half_m = radius_m * (1.0 - OCCLUDER_DISTANCE_M / focus_distance_m) * size / n
    occluder.scale = (half_m, half_m, 1.0)
    occluder.hide_render = False
    cam.data.clip_start = OCCLUDER_CLIP_START_M
    factor = 1.0 / open_fraction(k)
    scene.cycles.film_exposure = factor
    return factor


def hide_kernel(scene, cam, occluder) -> None:
    """Back to Cycles' own aperture: occluder hidden, clip start and film exposure restored."""
    occluder.hide_render = True
    cam.data.clip_start = DEFAULT_CLIP_START_M
    scene.cycles.film_exposure = 1.0
