"""The pinned stack imports together in one interpreter, and Cycles renders beside torch and Ray."""

import importlib
import importlib.metadata as md
import sys

import pytest

PINS = {
    # distribution: (import name, predicate on the version string, wanted)
    "bpy": ("bpy", lambda v: v == "4.5.15", "==4.5.15"),
    "numpy": ("numpy", lambda v: int(v.split(".")[0]) < 2, "<2"),
    "torch": ("torch", lambda v: v.split("+")[0] == "2.14.1", "==2.14.1"),
    "torchvision": ("torchvision", lambda v: v.split("+")[0] == "0.29.1", "==0.29.1"),
    "open_clip_torch": ("open_clip", lambda v: v == "3.3.0", "==3.3.0"),
    "ray": ("ray", lambda v: v.startswith("2.60."), "==2.60.*"),
    "diffusers": ("diffusers", lambda v: v.startswith("0.42."), "==0.42.*"),
    "peft": ("peft", lambda v: tuple(map(int, v.split(".")[:2])) >= (0, 21), ">=0.21"),
    "torchao": ("torchao", lambda v: v.split("+")[0] == "0.18.0", "==0.18.0"),
    "exifread": ("exifread", lambda v: v.startswith("3.5."), "==3.5.*"),
    "pyarrow": ("pyarrow", lambda v: 21 <= int(v.split(".")[0]) < 26, ">=21,<26"),
    "pandas": ("pandas", lambda v: True, "any"),
    "pydantic": ("pydantic", lambda v: int(v.split(".")[0]) >= 2, ">=2"),
    "safetensors": ("safetensors", lambda v: True, "any"),
    "pillow_heif": ("pillow_heif", lambda v: True, "any"),
    "OpenEXR": ("OpenEXR", lambda v: True, "any"),
    "transformers": ("transformers", lambda v: True, "any"),
}


def test_python_is_311():
    assert sys.version_info[:2] == (3, 11), "bpy wheels need Python 3.11"


@pytest.mark.parametrize("dist", sorted(PINS))
def test_pinned_package_imports_at_pinned_version(dist):
    module_name, ok, wanted = PINS[dist]
    module = importlib.import_module(module_name)
    version = md.version(dist)
    assert ok(version), f"{dist} {version} installed, pyproject pins {wanted}"
    if hasattr(module, "__version__") and dist not in ("bpy", "OpenEXR"):
        assert str(module.__version__).split("+")[0] == version.split("+")[0]


def test_bpy_reports_the_pinned_blender():
    import bpy

    assert bpy.app.version[:2] == (4, 5)


def test_cycles_renders_in_a_process_with_torch_and_ray(tmp_path):
    import bpy
    import numpy as np
    import ray  # noqa: F401  (imported first on purpose: the coexistence is what is tested)
    import torch  # noqa: F401

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.render.resolution_x = scene.render.resolution_y = 8
    world = bpy.data.worlds.new("w")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (1.0, 0.5, 0.25, 1.0)
    scene.world = world
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    out = tmp_path / "px.png"
    scene.render.filepath = str(out)
    scene.render.image_settings.file_format = "PNG"
    bpy.ops.render.render(write_still=True)
    img = bpy.data.images.load(str(out))
    px = np.array(img.pixels[:]).reshape(8, 8, 4)
    # The background colour reaches the camera: red > green > blue.
    assert px[..., 0].mean() > px[..., 1].mean() > px[..., 2].mean() > 0
