"""The number types of every stage's config: each field says its range, so a bad value is a
one-line config error (``infra.config_file``) instead of a crash or a silent misbehaviour later.

:func:`Int` and :func:`Real` are a closed range (``Real``: finite, TOML's ``nan`` and ``inf``
refused; ``above``: the low end open), :func:`span` a ``[low, high]`` pair inside a range,
``Probability`` a finite number in [0, 1] and ``Seed`` what NumPy and torch accept. The stages
keep only their own bounds (``synth.config``, ``curate.config``, ``train.config_types``).
pydantic only.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Annotated

from pydantic import AfterValidator, Field


def Int(lo: int, hi: int, **constraints) -> type:  # noqa: N802 (a type, named like one)
    """An integer in ``[lo, hi]`` (more pydantic constraints, e.g. ``multiple_of``, allowed)."""
    return Annotated[int, Field(ge=lo, le=hi, **constraints)]


def Real(lo: float, hi: float, *, above: bool = False) -> type:  # noqa: N802
    """A finite number in ``[lo, hi]`` (``(lo, hi]`` with ``above``); an int is accepted."""
    low = {"gt": lo} if above else {"ge": lo}
    return Annotated[float, Field(le=hi, allow_inf_nan=False, **low)]


def _check_span(lo_bound: float, hi_bound: float, r: list) -> list:
    lo, hi = r
    if not lo_bound <= lo <= hi <= hi_bound:
        shown = ", ".join(f"{v:g}" for v in r)
        top = f" <= {hi_bound:g}" if hi_bound != math.inf else ""
        raise ValueError(f"[{shown}] is impossible (need {lo_bound:g} <= low <= high{top})")
    return r


def span(lo: float, hi: float = math.inf, kind: type = float) -> type:
    """A ``[low, high]`` pair with ``lo <= low <= high <= hi``."""
    pair = Annotated[list[kind], Field(min_length=2, max_length=2)]
    return Annotated[pair, AfterValidator(partial(_check_span, lo, hi))]


Probability = Real(0.0, 1.0)
Seed = Annotated[int, Field(ge=0, lt=2**32)]  # NumPy's and torch's seed range
