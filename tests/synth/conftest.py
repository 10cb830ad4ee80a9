"""Helpers for synth tests: hand-made specs for truth checks, and a tiny CLI runner."""

import pytest

from synth.spec import CameraSpec, DofSpec, HighlightSpec, MaterialSpec, ObjectSpec, SceneSpec

GREY = MaterialSpec("noise", (0.5, 0.5, 0.5), (0.6, 0.6, 0.6), 1.0, 0.5)


def make_spec(
    *,
    width=64,
    height=64,
    focal_mm=50.0,
    sensor_mm=36.0,
    objects=(),
    highlights=(),
    dof=(),
    world=(0.0, 0.0, 0.0),
    world_strength=0.0,
    scene_id=0,
) -> SceneSpec:
    return SceneSpec(
        dataset_id="test",
        dataset_seed=0,
        scene_id=scene_id,
        width_px=width,
        height_px=height,
        camera=CameraSpec(focal_mm, sensor_mm, "test", int(round(focal_mm * 36 / sensor_mm))),
        world_color=world,
        world_strength=world_strength,
        objects=list(objects),
        lights=[],
        highlights=list(highlights),
        dof=list(dof) or [DofSpec(2.0, 1.0, 0, 0.0, 1.0)],
        split="train",
    )


def plane_at(depth_m: float, size_m: float = 200.0) -> ObjectSpec:
    return ObjectSpec("plane", (0.0, 0.0, -depth_m), (0.0, 0.0, 0.0), (size_m, size_m, 0.0), GREY)


def emitter_at(depth_m: float, radius_m: float) -> HighlightSpec:
    return HighlightSpec((0.0, 0.0, -depth_m), radius_m, 10.0, (1.0, 1.0, 1.0))


@pytest.fixture(scope="session")
def pool():
    """The embedded photo pool (scikit-image's photos), read once."""
    from synth.pool import load_pool

    return load_pool(None)


@pytest.fixture
def texture_dir(tmp_path):
    import numpy as np
    from PIL import Image

    d = tmp_path / "textures"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((32, 32, 3)) * 255).astype("uint8")).save(d / f"t{i}.png")
    return d


@pytest.fixture
def spec_tools(run_synth):
    """The helpers above, for tests (conftest modules are not importable by name)."""
    import types

    return types.SimpleNamespace(
        make_spec=make_spec,
        plane_at=plane_at,
        emitter_at=emitter_at,
        run_synth=run_synth,
        GREY=GREY,
    )
