"""One way to load a stage's TOML config: pydantic models, ``--set`` overrides, one-line errors.

A stage declares its config as :class:`ConfigModel` subclasses (unknown keys refused, no type
coercion except an int where a float is expected; ranges and choices as field constraints and
``Literal`` types; cross-field rules as ``model_validator`` raising :class:`ConfigRule`) and
loads it with :func:`load_config_file`: defaults, then the TOML file, then ``--set
dotted.key=value`` overrides (the value is read as a TOML value, else taken as a plain string).
Every problem surfaces as one :class:`ConfigError` whose ``str()`` is a single line
``<file>: <dotted.key>: <reason>`` (several: ``<file>: <key>: <reason>; <key>: <reason>``).
Imports only pydantic.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from infra.errors import one_line
from infra.uri import read_bytes

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A bad config file or override; ``str()`` is one line: ``<file>: <key>: <reason>``."""


class ConfigRule(ValueError):
    """Raised by a model validator: ``key`` (dotted, relative to that model) breaks a rule."""

    def __init__(self, key: str, reason: str):
        super().__init__(reason)
        self.key = key


class ConfigModel(BaseModel):
    """Base of every config section: unknown keys are errors, a string is never a number."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def to_dict(self) -> dict:
        """Plain data (by TOML key names), e.g. for ``config.json`` or ``stats.json``."""
        return self.model_dump(by_alias=True)


# TOML and JSON arrays are lists; strict mode would refuse them for tuple fields.
tuple_from_list = BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v)


def settings_changes(old: dict, new: dict, prefix: str = "", defaults: dict | None = None):
    """``section.key: old -> new`` for every leaf that differs between two settings dicts (a
    resumed job refuses settings other than its first run's: curate's OUT, synth's OUT).
    ``defaults``: today's default settings; a key ``old`` lacks (a key added since the first run
    was recorded) counts as its default there, so a new key at its default changes nothing."""
    out = []
    for k in sorted(set(old) | set(new)):
        d = defaults.get(k) if isinstance(defaults, dict) else None
        a = old.get(k, d) if defaults is not None else old.get(k)
        b = new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += settings_changes(a, b, f"{prefix}{k}.", d if isinstance(d, dict) else None)
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def _shown(v) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"  # 10000000, not 1e+07; 1000.0 as 1000


def _interval(lo, hi) -> str:
    return f">= {_shown(lo)}" if hi is None else f"in [{_shown(lo)}, {_shown(hi)}]"


def integer(lo: int, hi: int | None = None):
    """An argparse ``type`` every stage CLI uses for counts: an integer in ``[lo, hi]`` (no
    upper bound when ``hi`` is None). A float such as ``1e20`` is not an integer: refused, with
    the range (argparse's one line, exit 2)."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer {_interval(lo, hi)}, got {text!r}"
            ) from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {_interval(lo, hi)}, got {text!r}")
        return value

    return parse


def number(lo: float, hi: float | None = None):
    """An argparse ``type``: a finite number in ``[lo, hi]`` (no upper bound when ``hi`` is
    None); ``nan`` and ``inf`` are refused."""
    import argparse
    import math

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {_interval(lo, hi)}, got {text!r}")
        return value

    return parse


def add_set_argument(parser, example: str) -> None:
    """The ``--set SECTION.KEY=VALUE`` option every stage CLI takes (repeatable; read into
    ``args.set`` and handed to the stage's loader as ``overrides``)."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override one config key (a TOML value), e.g. --set {example}; repeatable",
    )


def find_config(path: str | Path, config_dir: Path | None = None) -> Path:
    """``path`` itself, or a file of that name in ``config_dir`` when ``path`` does not exist."""
    path = Path(path)
    if config_dir is not None and not path.exists() and (config_dir / path).is_file():
        return config_dir / path
    return path


MAX_CONFIG_BYTES = 1 << 20  # a config is a few KB; a FIFO or /dev/zero is refused, not read


def read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(read_bytes(path, max_bytes=MAX_CONFIG_BYTES).decode())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: cannot read config ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({one_line(e)})") from None


def parse_override(item: str) -> tuple[str, Any]:
    """``"optim.lr=1e-3"`` -> ``("optim.lr", 0.001)``: a TOML value, else the plain string.

    An item with a control character (a newline, a carriage return, a tab, NUL, ESC, DEL, C1)
    is refused: TOML would read ``1\\nother.key=2`` as two keys and silently drop the second."""
    control = next((c for c in item if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        raise ConfigError(
            f"--set {item!r}: control character {control!r} in it (one key=value per --set, "
            "on one line)"
        )
    key, sep, raw = item.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not all(part.strip() for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def apply_overrides(data: dict, overrides: Iterable[str] | Mapping[str, Any], source: str) -> set:
    """Write overrides into the parsed TOML ``data``; returns the dotted keys set."""
    pairs = overrides.items() if isinstance(overrides, Mapping) else map(parse_override, overrides)
    done = set()
    for key, value in pairs:
        *sections, last = key.split(".")
        node = data
        for i, section in enumerate(sections):
            node = node.setdefault(section, {})
            if not isinstance(node, dict):
                where = ".".join(sections[: i + 1])
                raise ConfigError(f"{source}: {where}: not a table, cannot --set {key}")
        node[last] = value
        done.add(key)
    return done


def validate_data(model: type[M], data: dict, source: str, overridden: Iterable[str] = ()) -> M:
    """``model`` built from ``data``; a ``ValidationError`` becomes a one-line ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = [_describe(model, err, set(overridden)) for err in e.errors()]
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def load_config_file(
    model: type[M],
    path: str | Path,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
    config_dir: Path | None = None,
) -> M:
    """Defaults, then the TOML file at ``path`` (or that name in ``config_dir``), then the
    ``dotted.key=value`` overrides (strings as on the command line, or a key -> value map)."""
    path = find_config(path, config_dir)
    data = read_toml(path)
    overridden = apply_overrides(data, overrides or (), str(path))
    return validate_data(model, data, str(path), overridden)


def _describe(model: type[BaseModel], err: dict, overridden: set) -> str:
    loc = list(err["loc"])
    rule = (err.get("ctx") or {}).get("error")
    if isinstance(rule, ConfigRule):
        loc += rule.key.split(".")
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    reason = _reason(model, err, loc)
    if any(_within(key, k) or _within(k, key) for k in overridden):
        reason += " (from --set)"
    return f"{key}: {reason}" if key else reason


def _within(key: str, outer: str) -> bool:
    """``key`` is ``outer`` or lies inside it (``a.b.c`` and ``a.b[0]`` are in ``a.b``)."""
    return key == outer or key.startswith((outer + ".", outer + "["))


def _reason(model: type[BaseModel], err: dict, loc: list) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    got = f", got {value!r}"
    if kind == "extra_forbidden":
        what = "section" if isinstance(value, dict) else "key"
        known = _known_keys(model, loc[:-1])
        return f"unknown {what}" + (f" (known: {', '.join(known)})" if known else "")
    if kind == "value_error":
        return one_line(ctx.get("error", err["msg"]))
    if kind == "model_type":
        return f"must be a table{got}"
    simple = {
        "float_type": "must be a number",
        "int_type": "must be an integer",
        "string_type": "must be a string",
        "bool_type": "must be true or false",
        "list_type": "must be a list",
        "tuple_type": "must be a list",
    }
    bounds = {
        "greater_than_equal": ">=",
        "greater_than": ">",
        "less_than_equal": "<=",
        "less_than": "<",
    }
    if kind in simple:
        return simple[kind] + got
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit}{got}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length", ctx.get("max_length"))
        return f"must have {'at least' if kind == 'too_short' else 'at most'} {n} item(s){got}"
    return one_line(err["msg"]).replace("Input should be", "must be") + got


def _known_keys(model: type[BaseModel], loc: list) -> list[str]:
    for part in loc:
        info = model.model_fields.get(str(part)) if isinstance(part, str) else None
        sub = info.annotation if info is not None else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return []
        model = sub
    return sorted(info.alias or name for name, info in model.model_fields.items())
