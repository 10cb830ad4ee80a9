"""The synth config: defaults load, bad files are refused in one line naming the cause."""

import pytest

from synth.config import DEFAULT_CONFIG, ConfigError, load_config


def test_default_config_loads_and_documents_every_section():
    cfg = load_config()
    assert cfg.render.resolution_px == 256 and cfg.aperture.renders_per_scene >= 3
    text = DEFAULT_CONFIG.read_text()
    for section in ("[render]", "[camera]", "[aperture]", "[scene]", "[split]"):
        assert section in text
    assert text.count("#") > 20  # commented


def test_overrides_replace_render_values():
    cfg = load_config(resolution_px=64, samples=4)
    assert (cfg.render.resolution_px, cfg.render.samples) == (64, 4)


def test_the_pixel_filter_and_exposure_cap_reach_the_render_settings():
    from synth.settings import make_settings

    s = make_settings(load_config())
    assert (s.pixel_filter, s.filter_width_px) == ("box", 1.0)  # a sensor pixel's footprint
    assert s.day_clip_percent == 100.0  # off: the median rule alone
    overrides = ['render.pixel_filter="blackman_harris"', "render.filter_width_px=1.5"]
    s = make_settings(load_config(None, [*overrides, "render.day_clip_percent=0.5"]))
    assert (s.pixel_filter, s.filter_width_px, s.day_clip_percent) == ("blackman_harris", 1.5, 0.5)


def test_render_settings_take_the_config_values_and_defaults_by_name():
    from dataclasses import asdict

    from synth.config import RenderConfig
    from synth.settings import NOT_FROM_CONFIG, RenderSettings, make_settings

    cfg = load_config(None, ["render.samples=7", "render.exr=true", 'render.device="cpu"'])
    s = asdict(make_settings(cfg, threads=3))
    assert s["threads"] == 3 and s["adaptive_sampling"] is True and s["log_path"] is None
    shared = [k for k in s if k not in NOT_FROM_CONFIG]
    assert shared and all(s[k] == getattr(cfg.render, k) for k in shared)
    defaults = asdict(RenderSettings())
    assert all(defaults[k] == getattr(RenderConfig(), k) for k in shared)


@pytest.mark.parametrize(
    "body,needle",
    [
        ("[camera]\nfocal_mm = [18, 50]\n", "camera.focal_mm: unknown key"),
        ("colour = 1\n", "colour: unknown key"),
        ("[aperture]\nf_number = [8, 1.2]\n", "aperture.f_number: [8, 1.2] is impossible"),
        ("[scene]\ndepth_m = [-1, 5]\n", "scene.depth_m"),
        ("[render]\nsamples = 0\n", "render.samples: must be >= 1, got 0"),
        ("[render]\ndenoise = 3\n", "render.denoise: must be true or false"),
        ("[render]\npixel_filter = 'tent'\n", "render.pixel_filter: must be 'blackman_harris',"),
        ("[render]\nfilter_width_px = 0\n", "render.filter_width_px: must be >= 0.01, got 0"),
        ("[render]\nfilter_width_px = 11\n", "render.filter_width_px: must be <= 10"),
        ("[render]\nday_clip_percent = -1\n", "render.day_clip_percent: must be >= 0"),
        ("[render]\nday_clip_percent = 101\n", "render.day_clip_percent: must be <= 100"),
        ("[camera]\nsensors = ['medium_format']\n", "camera.sensors"),
        ("[aperture]\nblades = [2]\n", "aperture.blades"),
        ("[split]\nval = 0.6\ntest = 0.5\n", "split.val + split.test"),
        ("[aperture]\nshapes = ['blob']\n", "aperture.shapes[0]: unknown aperture 'blob'"),
        ("[aperture]\nshapes = ['star', 'polygon2']\n", "aperture.shapes[1]: aperture polygon"),
        ("[aperture]\nshapes = ['heart@left']\n", "aperture.shapes[0]: aperture 'heart@left'"),
        ("[aperture]\nshapes = []\n", "aperture.shapes: must have at least 1 item(s)"),
        ("[aperture]\nshapes = 'heart'\n", "aperture.shapes: must be a list"),
        ("[aperture]\nshaped_scene_probability = 1.5\n", "shaped_scene_probability: must be <= 1"),
        ("[aperture]\nshaped_scene_probability = -0.1\n", "shaped_scene_probability: must be >="),
        ("[aperture]\nshape_rotation_deg = [20, -20]\n", "aperture.shape_rotation_deg: [20, -20]"),
        ("[aperture]\nshaped_min_highlights = -1\n", "shaped_min_highlights: must be >= 0"),
        ("[aperture]\nshaped_min_highlights = 2.5\n", "shaped_min_highlights: must be an integer"),
        ("[render]\nsweep_samples = -1\n", "render.sweep_samples: must be >= 0, got -1"),
        (
            "[render]\nsweep_samples = 64\n",
            "render.sweep_samples: needs a sweep ([aperture] sweep_k",
        ),
        ("[render\n", "not valid TOML"),
    ],
)
def test_bad_configs_are_refused_in_one_line(tmp_path, body, needle):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert needle in msg and str(path) in msg and "\n" not in msg


def test_missing_config_file():
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("/nonexistent/synth.toml")


def test_heldout_config_is_other_scenes_all_in_val():
    """``synth/configs/heldout.toml`` (the demo's and the learning test's held-out renders)."""
    from pathlib import Path

    from synth.sampling import split_for

    held = load_config(Path(DEFAULT_CONFIG).parent / "heldout.toml")
    default = load_config()
    assert held.dataset_seed != default.dataset_seed and held.dataset_id != default.dataset_id
    assert held.render == default.render and held.scene == default.scene
    splits = {split_for(held.dataset_seed, i, held.split.val, held.split.test) for i in range(200)}
    assert splits == {"val"}


def test_shape_keys_default_in_the_file_as_in_the_dataclass():
    from synth.config import ApertureConfig

    loaded, plain = load_config().aperture, ApertureConfig()
    keys = ("shaped_scene_probability", "shapes", "shape_rotation_deg", "shaped_min_highlights")
    for key in keys:
        assert getattr(loaded, key) == getattr(plain, key), key
        assert f"\n{key} = " in DEFAULT_CONFIG.read_text()  # documented in the file
    assert (plain.shaped_scene_probability, plain.shapes) == (0.25, ["triangle", "star", "heart"])
    assert (plain.shape_rotation_deg, plain.shaped_min_highlights) == ([-20.0, 20.0], 6)


def test_an_unknown_shape_names_the_key_and_the_choices_a_png_included():
    with pytest.raises(ConfigError) as e:
        load_config(overrides=['aperture.shapes=["heart", "blob"]'])
    msg = str(e.value)
    assert "aperture.shapes[1]: unknown aperture 'blob'" in msg and "(from --set)" in msg
    # shapes take a kernel PNG too (synth.kernels), so the message offers it
    assert "triangle" in msg and "starN" in msg and "PNG path" in msg and "\n" not in msg


def test_set_overrides_the_shape_keys():
    sets = [
        'aperture.shapes=["heart", "star7@10", "polygon3"]',
        "aperture.shaped_scene_probability=1",
        "aperture.shape_rotation_deg=[0, 0]",
        "aperture.shaped_min_highlights=40",
    ]
    a = load_config(overrides=sets).aperture
    assert a.shapes == ["heart", "star7@10", "polygon3"]
    assert (a.shaped_scene_probability, a.shape_rotation_deg, a.shaped_min_highlights) == (
        1.0,
        [0.0, 0.0],
        40,
    )
    with pytest.raises(ConfigError, match=r"probability: must be <= 1.*\(from --set\)"):
        load_config(overrides=["aperture.shaped_scene_probability=2"])


# ---- every number has a range a real run can use ---------------------------------------------


@pytest.mark.parametrize(
    "override, needle",
    [
        ("dataset_seed=-1", "dataset_seed: must be >= 0, got -1"),
        (f"dataset_seed={2**63}", f"dataset_seed: must be <= {2**63 - 1}, got {2**63}"),
        ("render.samples=100000", "render.samples: must be <= 65536, got 100000"),
        ("render.samples=1e22", "render.samples: must be an integer, got 1e+22"),
        ("render.resolution_px=100000", "render.resolution_px: must be <= 8192, got 100000"),
        (
            "scene.objects=[1, 100000]",
            "scene.objects: [1, 100000] is impossible (need 0 <= low <= high <= 1000)",
        ),
        ("scene.objects=[9, 3]", "scene.objects: [9, 3] is impossible (need 0 <= low <= high"),
        (
            "scene.highlights=[0, 100000]",
            "scene.highlights: [0, 100000] is impossible (need 0 <= low <= high <= 10000)",
        ),
        ("aperture.shaped_min_highlights=100000", "shaped_min_highlights: must be <= 10000"),
        ("aperture.renders_per_scene=100000", "aperture.renders_per_scene: must be <= 256"),
        ("aperture.disc_px=[2, 1e9]", "aperture.disc_px: [2, 1e+09] is impossible (need 0 <= "),
        ("camera.height_m=[0.5, 1e9]", "camera.height_m: [0.5, 1e+09] is impossible (need 0 <="),
        ("scene.depth_m=[1, 1e9]", "scene.depth_m: [1, 1e+09] is impossible (need 0.05 <= low"),
        ("scene.highlight_strength=[1, 1e300]", "scene.highlight_strength: [1, 1e+300] is"),
        ("scene.photo_ground_tile_m=[1, 1e9]", "scene.photo_ground_tile_m: [1, 1e+09] is"),
        ("scene.kinds.cards=1e300", "scene.kinds.cards: must be <= 1000000"),
        ("scene.kinds.cards=nan", "scene.kinds.cards: must be a finite number"),
        ("split.val=2", "split.val: must be <= 1"),
        ("split.test=inf", "split.test: must be a finite number"),
    ],
)
def test_numbers_outside_their_range_are_one_line_errors(override, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    msg = str(e.value)
    assert msg.startswith(f"{DEFAULT_CONFIG}: ") and "\n" not in msg, msg
    assert needle in msg and msg.endswith("(from --set)"), msg


def test_the_ends_of_the_ranges_are_accepted():
    cfg = load_config(
        None,
        [
            f"dataset_seed={2**63 - 1}",
            "render.samples=65536",
            "render.resolution_px=8192",
            "scene.objects=[0, 1000]",
            "scene.highlights=[10000, 10000]",
            "aperture.shaped_min_highlights=10000",
            "aperture.renders_per_scene=256",
        ],
    )
    assert cfg.dataset_seed == 2**63 - 1 and cfg.scene.objects == [0, 1000]


def test_every_number_has_a_lower_and_an_upper_bound(config_numbers):
    from synth.config import SynthConfig

    numeric_keys, huge = config_numbers
    keys = list(numeric_keys(SynthConfig()))
    assert len(keys) >= 35
    accepted = []
    for key, default in keys:
        for sign in (1, -1):
            try:
                load_config(None, [f"{key}={huge(default, sign)}"])
                accepted.append(f"{key}={huge(default, sign)}")
            except ConfigError as e:
                assert f": {key}" in str(e) and "\n" not in str(e), (key, sign, str(e))
    assert not accepted, accepted
