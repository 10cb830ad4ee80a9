"""The shared config loader: typed TOML sections, ``--set`` overrides, one-line errors."""

from typing import Annotated, Literal

import pytest
from pydantic import Field, model_validator

from infra.config_file import (
    ConfigError,
    ConfigModel,
    ConfigRule,
    load_config_file,
    parse_override,
)


class Optim(ConfigModel):
    lr: Annotated[float, Field(gt=0)] = 1e-3
    steps: Annotated[int, Field(ge=1)] = 10
    schedule: Literal["constant", "cosine"] = "constant"
    ranks: list[int] = Field(default_factory=lambda: [1, 2])


class Split(ConfigModel):
    val: float = 0.1
    test: float = 0.1


class Toy(ConfigModel):
    name: str = "toy"
    optim: Optim = Field(default_factory=Optim)
    split: Split = Field(default_factory=Split)

    @model_validator(mode="after")
    def _fractions(self):
        if self.split.val + self.split.test >= 1:
            raise ConfigRule("split.test", "split.val + split.test must be < 1")
        return self


def load(tmp_path, body: str, overrides=None):
    path = tmp_path / "toy.toml"
    path.write_text(body)
    return load_config_file(Toy, path, overrides), path


def refused(tmp_path, body: str, needle: str, overrides=None) -> str:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, body, overrides)
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "toy.toml") + ": "), msg
    assert needle in msg and "\n" not in msg, msg
    return msg


def test_defaults_file_values_and_int_for_float(tmp_path):
    cfg, _ = load(tmp_path, 'name = "a"\n[optim]\nlr = 1\nschedule = "cosine"\n')
    assert cfg.name == "a" and cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.steps == 10 and cfg.optim.schedule == "cosine"


@pytest.mark.parametrize(
    "body, needle",
    [
        ("[optim]\nlrr = 1\n", "optim.lrr: unknown key (known: lr, ranks, schedule, steps)"),
        ("[optimiser]\nlr = 1\n", "optimiser: unknown section"),
        ('[optim]\nlr = "1e-3"\n', "optim.lr: must be a number, got '1e-3'"),
        ("[optim]\nsteps = 2.5\n", "optim.steps: must be an integer, got 2.5"),
        ("[optim]\nlr = true\n", "optim.lr: must be a number, got True"),
        ("name = 3\n", "name: must be a string, got 3"),
        ("[optim]\nlr = 0\n", "optim.lr: must be > 0"),
        ("[optim]\nsteps = 0\n", "optim.steps: must be >= 1, got 0"),
        ('[optim]\nschedule = "linear"\n', "optim.schedule: must be 'constant' or 'cosine'"),
        ('[optim]\nranks = [1, "x"]\n', "optim.ranks[1]: must be an integer, got 'x'"),
        ("optim = 3\n", "optim: must be a table, got 3"),
        ("[split]\nval = 0.6\ntest = 0.5\n", "split.test: split.val + split.test must be < 1"),
        ("[optim\n", "not valid TOML"),
    ],
)
def test_bad_files_are_one_line_errors_naming_file_and_key(tmp_path, body, needle):
    refused(tmp_path, body, needle)


def test_several_problems_on_one_line(tmp_path):
    msg = refused(tmp_path, "[optim]\nlr = -1\nsteps = 0\n", "optim.lr: must be > 0")
    assert "; optim.steps: must be >= 1" in msg and msg.count(str(tmp_path)) == 1


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found$"):
        load_config_file(Toy, tmp_path / "nope.toml")


def test_a_name_in_the_configs_dir(tmp_path):
    (tmp_path / "named.toml").write_text("[optim]\nsteps = 3\n")
    assert load_config_file(Toy, "named.toml", config_dir=tmp_path).optim.steps == 3


def test_set_overrides_nested_keys_after_the_file(tmp_path):
    cfg, _ = load(
        tmp_path,
        "[optim]\nlr = 0.5\n",
        ["optim.lr=3e-4", "optim.ranks=[4, 8]", "optim.schedule=cosine", "name=b", "split.val=0"],
    )
    assert cfg.optim.lr == 3e-4 and cfg.optim.ranks == [4, 8] and cfg.optim.schedule == "cosine"
    assert cfg.name == "b" and cfg.split.val == 0.0


def test_set_values_are_toml_else_plain_strings():
    assert parse_override("a.b=1e-3") == ("a.b", 1e-3)
    assert parse_override("a.b = true") == ("a.b", True)
    assert parse_override("a.b=/models/flux-dev") == ("a.b", "/models/flux-dev")
    assert parse_override('a.b="42"') == ("a.b", "42")
    assert parse_override("a.b=") == ("a.b", "")
    with pytest.raises(ConfigError, match="expected section.key=value"):
        parse_override("a.b")


@pytest.mark.parametrize(
    "item, needle",
    [
        ("optim.lrr=1", "optim.lrr: unknown key"),
        ("optimiser.lr=1", "optimiser: unknown section"),
        ("optim.lr=fast", "optim.lr: must be a number, got 'fast' (from --set)"),
        ("optim.ranks=[1, 'x']", "optim.ranks[1]: must be an integer, got 'x' (from --set)"),
        ("name.x=1", "name: not a table, cannot --set name.x"),
    ],
)
def test_bad_set_is_a_one_line_error_naming_the_key(tmp_path, item, needle):
    refused(tmp_path, 'name = "a"\n', needle, [item])


@pytest.mark.parametrize(
    "item, shown",
    [
        ("optim.lr=1\nother.key=2", "'\\n'"),  # TOML would read two keys and drop the second
        ("optim.lr=1\r\nname=x", "'\\r'"),
        ("optim.lr=1\rname=x", "'\\r'"),
        ("optim.lr=1\x00", "'\\x00'"),
        ('name="a\tb"', "'\\t'"),
        ("name=a\x1b[2Jb", "'\\x1b'"),
        ("name=a\x7fb", "'\\x7f'"),
        ("name=a\x85b", "'\\x85'"),
        ("optim\n.lr=1", "'\\n'"),  # in the key too
    ],
)
def test_a_set_with_a_control_character_is_refused_in_one_line(tmp_path, item, shown):
    """Reliability round 2, item 12: a value with a newline silently dropped what followed."""
    with pytest.raises(ConfigError) as e:
        parse_override(item)
    msg = str(e.value)
    assert msg.startswith(f"--set {item!r}: ") and "\n" not in msg and "\r" not in msg, msg
    assert f"control character {shown}" in msg, msg
    with pytest.raises(ConfigError) as e:  # the loader refuses it the same way
        load(tmp_path, 'name = "a"\n', [item])
    assert str(e.value) == msg


def test_a_set_value_may_hold_other_text():
    assert parse_override('name="x = 1 # y"') == ("name", "x = 1 # y")
    assert parse_override("name=é ünïcode") == ("name", "é ünïcode")
    assert parse_override("  optim.lr = 2  ") == ("optim.lr", 2)
