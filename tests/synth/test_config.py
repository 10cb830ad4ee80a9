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


@pytest.mark.parametrize(
    "body,needle",
    [
        ("[camera]\nfocal_mm = [18, 50]\n", "camera.focal_mm: unknown key"),
        ("colour = 1\n", "colour: unknown key"),
        ("[aperture]\nf_number = [8, 1.2]\n", "aperture.f_number: [8, 1.2] is impossible"),
        ("[scene]\ndepth_m = [-1, 5]\n", "scene.depth_m"),
        ("[render]\nsamples = 0\n", "render.samples: must be >= 1, got 0"),
        ("[render]\ndenoise = 3\n", "render.denoise: must be true or false"),
        ("[camera]\nsensors = ['medium_format']\n", "camera.sensors"),
        ("[aperture]\nblades = [2]\n", "aperture.blades"),
        ("[split]\nval = 0.6\ntest = 0.5\n", "split.val + split.test"),
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
