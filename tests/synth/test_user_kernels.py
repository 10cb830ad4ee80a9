"""User aperture kernels (PNG files in ``[aperture] shapes``): read before sampling, named by
content in the specs, refused in one line when bad. No Blender: sampling and the CLI's preflight."""

import numpy as np
import pytest
from PIL import Image

from optics.aperture import KernelError, footprint, iou, open_fraction
from synth.config import load_config
from synth.kernels import KERNEL_PREFIX, kernel_for, kernel_label, resolve_shapes
from synth.sampling import sample_scene


def _crescent(path, size=64):
    """An opening no built-in has: a disc with a bite taken out of its upper right."""
    y, x = np.mgrid[:size, :size] + 0.5
    r = size / 2
    disc = np.hypot(x - r, y - r) <= r
    bite = np.hypot(x - 1.45 * r, y - 0.6 * r) <= 0.75 * r
    Image.fromarray(((disc & ~bite) * 255).astype(np.uint8), "L").save(path)
    return path


def _cfg(*shapes, extra=()):
    items = ", ".join(f'"{s}"' for s in shapes)
    sets = [f"aperture.shapes=[{items}]", "aperture.shaped_scene_probability=1", *extra]
    return load_config(resolution_px=64, overrides=sets)


def test_a_png_entry_becomes_its_content_label_and_reaches_the_specs(tmp_path, pool):
    png = _crescent(tmp_path / "crescent.png")
    cfg, kernels = resolve_shapes(_cfg(str(png), "heart", extra=['aperture.shape_order="cycle"']))
    (label,) = kernels
    assert label.startswith(KERNEL_PREFIX) and cfg.aperture.shapes == [label, "heart"]
    k = kernels[label]
    assert k.shape == (128, 128) and 0.5 < open_fraction(k) < 0.9
    assert kernel_for(label, kernels) is k
    # the same drawing under another name and place is the same kernel (content addressed)
    other = _crescent(tmp_path / "elsewhere.png")
    assert list(resolve_shapes(_cfg(str(other)))[1]) == [label]
    spec = sample_scene(cfg, 0, pool=pool)
    assert [d.aperture for d in spec.dof][0::2] == [label, label]
    first = spec.dof[0]
    assert (first.blades, first.ratio, first.rotation_deg) == (0, 1.0, 0.0)  # not rotated
    assert spec.dof[1].aperture.startswith("heart")


def test_built_in_only_configs_are_unchanged_by_resolving(pool):
    cfg = _cfg("triangle", "star")
    same, kernels = resolve_shapes(cfg)
    assert same is cfg and kernels == {}
    assert kernel_for("polygon3").shape == (128, 128)


def test_an_unresolved_png_or_unloaded_label_is_a_clear_error(tmp_path, pool):
    png = _crescent(tmp_path / "c.png")
    with pytest.raises(ValueError, match="must be read first"):
        sample_scene(_cfg(str(png)), 0, pool=pool)
    with pytest.raises(RuntimeError, match="not loaded"):
        kernel_for(kernel_label(np.ones((8, 8))), {})


@pytest.mark.parametrize("case", ["missing", "not_png", "rectangle", "black"])
def test_a_bad_kernel_png_stops_the_render_before_anything_runs(tmp_path, spec_tools, case):
    path = tmp_path / f"{case}.png"
    if case == "not_png":
        path.write_text("hello")
    elif case == "rectangle":
        Image.new("L", (64, 40), 255).save(path)
    elif case == "black":
        Image.new("L", (64, 64), 0).save(path)
    with pytest.raises(KernelError):
        resolve_shapes(_cfg(str(path)))
    out = tmp_path / "out"
    p = spec_tools.run_synth(
        "render", "--out", str(out), "--scenes", "1", "--set", f'aperture.shapes=["{path}"]'
    )
    assert p.returncode == 2
    err = p.stderr.strip()
    assert err.startswith("error: ") and str(path) in err and "\n" not in err
    assert not (out / "scenes").exists()


def test_kernel_footprint_survives_the_label_round_trip(tmp_path):
    png = _crescent(tmp_path / "c.png", size=200)
    _, kernels = resolve_shapes(_cfg(str(png)))
    (k,) = kernels.values()
    drawn = np.asarray(Image.open(png).resize((128, 128), Image.BOX)) / 255.0
    assert iou(footprint(k), footprint(drawn)) > 0.95  # the drawing already touches the circle
