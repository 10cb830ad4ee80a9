"""The checked-in default.toml matches the dataclass defaults; bad keys fail clearly."""

import pytest

from curate.config import DEFAULT_CONFIG, ConfigError, CurateConfig, load_config


def test_default_toml_equals_dataclass_defaults():
    assert load_config(DEFAULT_CONFIG).to_dict() == CurateConfig().to_dict()


def test_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[filters]\nmax_f_number = 4.0\n[listing]\nshard_size = 16\n")
    cfg = load_config(path, ["filters.min_short_side_px=100", "filters.require_sensor_width=true"])
    assert cfg.filters.max_f_number == 4.0 and cfg.listing.shard_size == 16
    assert cfg.filters.min_short_side_px == 100 and cfg.filters.require_sensor_width is True


@pytest.mark.parametrize(
    "text, message",
    [
        ("[filters]\nmax_fnumber = 4\n", "unknown key filters.max_fnumber"),
        ("[filter]\nx = 1\n", "unknown section [filter]"),
        ("[filters]\nmax_f_number = 'wide'\n", "is not a float"),
        ("[clip]\ncheckpoint = '/no/such/weights.pt'\n", "no such local file"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        load_config(path)
    assert "\n" not in str(e.value)
