"""Translate a ``SceneSpec`` into a Blender scene (objects, materials, lights, world, camera).

The camera sits at the origin with Blender's default orientation (looking down −Z), so spec
coordinates (camera frame) are world coordinates and Cycles' Z pass is the planar depth.
Meshes are built once per kind and shared; highlight emitters share one emission material that
reads each object's colour and ``emit_strength`` property, so 200 emitters cost one shader.
"""

from __future__ import annotations

import math
from pathlib import Path

import bmesh
import bpy
import numpy as np

from synth.pool import crop_pixels
from synth.spec import MaterialSpec, SceneSpec


def reset() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _mesh_from_bmesh(name: str, fill) -> bpy.types.Mesh:
    me = bpy.data.meshes.new(name)
    bm = bmesh.new()
    fill(bm)
    bm.to_mesh(me)
    bm.free()
    return me


def _smooth(me: bpy.types.Mesh) -> bpy.types.Mesh:
    for poly in me.polygons:
        poly.use_smooth = True
    return me


def _torus_mesh(major: float = 0.35, minor: float = 0.15, nu: int = 32, nv: int = 12):
    verts, faces = [], []
    for i in range(nu):
        u = 2 * math.pi * i / nu
        for j in range(nv):
            v = 2 * math.pi * j / nv
            r = major + minor * math.cos(v)
            verts.append((r * math.cos(u), r * math.sin(u), minor * math.sin(v)))
    for i in range(nu):
        for j in range(nv):
            a, b = i * nv + j, ((i + 1) % nu) * nv + j
            c, d = ((i + 1) % nu) * nv + (j + 1) % nv, i * nv + (j + 1) % nv
            faces.append((a, b, c, d))
    me = bpy.data.meshes.new("torus")
    me.from_pydata(verts, [], faces)
    me.update()
    return _smooth(me)


def _base_meshes() -> dict:
    return {
        "plane": _mesh_from_bmesh(
            "plane", lambda bm: bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=0.5)
        ),
        "box": _mesh_from_bmesh("box", lambda bm: bmesh.ops.create_cube(bm, size=1.0)),
        "sphere": _smooth(
            _mesh_from_bmesh(
                "sphere",
                lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=0.5),
            )
        ),
        "torus": _torus_mesh(),
        "displaced": _smooth(
            _mesh_from_bmesh(
                "ico", lambda bm: bmesh.ops.create_icosphere(bm, subdivisions=4, radius=0.5)
            )
        ),
        "emitter": _smooth(
            _mesh_from_bmesh(
                "emitter",
                lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=6, radius=1.0),
            )
        ),
    }


def _principled(spec: MaterialSpec, name: str, scale):
    """A Principled BSDF material with the spec's roughness and metallic, and a Mapping node
    (``scale``) fed by object coordinates: ``(material, node tree, bsdf, mapping)``."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = spec.roughness
    bsdf.inputs["Metallic"].default_value = spec.metallic
    coords = nt.nodes.new("ShaderNodeTexCoord")
    mapping = nt.nodes.new("ShaderNodeMapping")
    mapping.inputs["Scale"].default_value = scale
    nt.links.new(coords.outputs["Object"], mapping.inputs["Vector"])
    return mat, nt, bsdf, mapping


def _photo_image(spec: MaterialSpec, photos, name: str, max_px: int) -> bpy.types.Image:
    """The material's photo crop as an in-memory Blender image (sRGB bytes, packed)."""
    pixels = crop_pixels(photos.get(spec.photo_id), spec.crop, max_px)
    h, w = pixels.shape[:2]
    rgba = np.empty((h, w, 4), np.float32)
    rgba[..., :3] = pixels[::-1] / np.float32(255.0)  # Blender's rows start at the bottom
    rgba[..., 3] = 1.0
    image = bpy.data.images.new(name, w, h, alpha=False)
    image.pixels.foreach_set(rgba.ravel())
    image.pack()
    return image


def _photo_material(spec: MaterialSpec, photos, name: str, max_px: int) -> bpy.types.Material:
    """Object coordinates -> ``tile_scale`` -> +0.5 -> the crop (flat or box), mirrored."""
    mat, nt, bsdf, mapping = _principled(spec, name, spec.tile_scale)
    mapping.inputs["Location"].default_value = (0.5, 0.5, 0.5)
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = _photo_image(spec, photos, f"{name}_photo", max_px)
    tex.projection = "BOX" if spec.projection == "box" else "FLAT"
    tex.projection_blend = 0.15
    tex.extension = "MIRROR"
    nt.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
    nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def _outline_mesh(name: str, outline) -> bpy.types.Mesh:
    """One flat polygon (z = 0) through ``outline``: a card cut out along its silhouette."""
    me = bpy.data.meshes.new(name)
    me.from_pydata([(x, y, 0.0) for x, y in outline], [], [tuple(range(len(outline)))])
    me.update()
    return me


def _material(spec: MaterialSpec, textures_dir: Path | None, name: str) -> bpy.types.Material:
    mat, nt, bsdf, mapping = _principled(spec, name, (spec.scale,) * 3)
    if spec.texture == "image":
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(str(Path(textures_dir) / spec.image), check_existing=True)
        tex.projection = "BOX"
        tex.projection_blend = 0.2
        nt.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        fac = tex.outputs["Alpha"]
    else:
        node_type = {
            "noise": "ShaderNodeTexNoise",
            "voronoi": "ShaderNodeTexVoronoi",
            "wave": "ShaderNodeTexWave",
            "checker": "ShaderNodeTexChecker",
            "brick": "ShaderNodeTexBrick",
            "magic": "ShaderNodeTexMagic",
        }[spec.texture]
        tex = nt.nodes.new(node_type)
        nt.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        fac = tex.outputs["Distance" if spec.texture == "voronoi" else "Fac"]
        mix = nt.nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        mix.inputs["A"].default_value = (*spec.color_a, 1.0)
        mix.inputs["B"].default_value = (*spec.color_b, 1.0)
        nt.links.new(fac, mix.inputs["Factor"])
        nt.links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
        bump = nt.nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = 0.3
        nt.links.new(fac, bump.inputs["Height"])
        nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return mat


def _emitter_material() -> bpy.types.Material:
    mat = bpy.data.materials.new("emitter")
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.remove(nt.nodes["Principled BSDF"])
    info = nt.nodes.new("ShaderNodeObjectInfo")
    strength = nt.nodes.new("ShaderNodeAttribute")
    strength.attribute_type = "OBJECT"
    strength.attribute_name = "emit_strength"
    emission = nt.nodes.new("ShaderNodeEmission")
    nt.links.new(info.outputs["Color"], emission.inputs["Color"])
    nt.links.new(strength.outputs["Fac"], emission.inputs["Strength"])
    nt.links.new(emission.outputs["Emission"], nt.nodes["Material Output"].inputs["Surface"])
    return mat


def _object_material(o, i: int, photos, textures_dir, texture_px: int) -> bpy.types.Material:
    if o.material.texture == "photo":
        if photos is None:
            raise ValueError(f"object {i} has a photo material but no photo pool was given")
        return _photo_material(o.material, photos, f"mat_{i:03d}", texture_px)
    return _material(o.material, textures_dir, f"mat_{i:03d}")


def _link_with_object_slot(coll, ob) -> None:
    """Link ``ob`` with a material slot of its own: materials live on the object, not on the
    shared mesh, so each object has its own."""
    coll.objects.link(ob)
    if not ob.material_slots:
        ob.data.materials.append(None)
    ob.material_slots[0].link = "OBJECT"


def _add_objects(spec: SceneSpec, coll, meshes, textures_dir, photos) -> None:
    texture_px = max(256, 2 * spec.width_px)  # a crop never needs more pixels than this
    for i, o in enumerate(spec.objects):
        mesh = meshes[o.kind]
        if o.kind == "plane" and o.outline_xy:
            mesh = _outline_mesh(f"outline_{i:03d}", o.outline_xy)
        ob = bpy.data.objects.new(f"{o.kind}_{i:03d}", mesh)
        ob.location = o.location_m
        ob.rotation_euler = tuple(math.radians(a) for a in o.rotation_deg)
        sx, sy, sz = o.size_m
        ob.scale = {
            "plane": (sx, sy, 1.0),
            "torus": (sx, sy, sz / 0.3 if sz else sx),
        }.get(o.kind, (sx, sy, sz))
        if o.kind == "displaced":
            tex = bpy.data.textures.new(f"clouds_{i}", type="CLOUDS")
            tex.noise_scale = 0.35
            mod = ob.modifiers.new("displace", "DISPLACE")
            mod.texture = tex
            mod.strength = o.displacement
            mod.mid_level = 0.5
        _link_with_object_slot(coll, ob)
        ob.material_slots[0].material = _object_material(o, i, photos, textures_dir, texture_px)


def _add_highlights(spec: SceneSpec, coll, meshes) -> None:
    emitter = _emitter_material()
    for i, h in enumerate(spec.highlights):
        ob = bpy.data.objects.new(f"highlight_{i:03d}", meshes["emitter"])
        ob.location = h.location_m
        ob.scale = (h.radius_m,) * 3
        ob.color = (*h.color, 1.0)
        ob["emit_strength"] = float(h.strength)
        _link_with_object_slot(coll, ob)
        ob.material_slots[0].material = emitter


def _add_lights(spec: SceneSpec, coll) -> None:
    for i, light in enumerate(spec.lights):
        data = bpy.data.lights.new(f"light_{i}", type=light.kind.upper())
        data.energy = light.energy_w
        data.color = light.color
        if light.kind == "area":
            data.size = light.size_m
        elif light.kind in ("point", "spot"):
            data.shadow_soft_size = light.size_m
        ob = bpy.data.objects.new(f"light_{i}", data)
        ob.location = light.location_m
        ob.rotation_euler = tuple(math.radians(a) for a in light.rotation_deg)
        coll.objects.link(ob)


def _add_world(spec: SceneSpec, scene) -> None:
    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (*spec.world_color, 1.0)
    bg.inputs["Strength"].default_value = spec.world_strength
    scene.world = world


def _add_camera(spec: SceneSpec, scene):
    """The camera at the origin looking down −Z, its sensor fitted horizontally."""
    cam_data = bpy.data.cameras.new("camera")
    cam_data.lens = spec.camera.focal_length_mm
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = spec.camera.sensor_width_mm
    cam_data.clip_start = 0.01
    cam_data.clip_end = 1e5
    cam = bpy.data.objects.new("camera", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    return cam


def build_scene(spec: SceneSpec, textures_dir: Path | None = None, photos=None):
    """Build ``spec`` into a fresh Blender scene; returns ``(scene, camera_object)``.
    ``photos`` (a ``synth.pool.PhotoCache``) gives the pixels of photo materials."""
    reset()
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.render.resolution_x = spec.width_px
    scene.render.resolution_y = spec.height_px
    scene.render.resolution_percentage = 100
    meshes = _base_meshes()
    _add_objects(spec, scene.collection, meshes, textures_dir, photos)
    _add_highlights(spec, scene.collection, meshes)
    _add_lights(spec, scene.collection)
    _add_world(spec, scene)
    return scene, _add_camera(spec, scene)
