"""synth.detmath: CPU-independent transcendental functions, within 1 ulp of the C library."""

import math
import random

import pytest

from synth import detmath

CASES = [
    ("exp", detmath.exp, math.exp, lambda r: r.uniform(-30, 30)),
    ("log", detmath.log, math.log, lambda r: 10 ** r.uniform(-8, 8)),
    ("sin", detmath.sin, math.sin, lambda r: r.uniform(-100, 100)),
    ("cos", detmath.cos, math.cos, lambda r: r.uniform(-100, 100)),
    ("asin", detmath.asin, math.asin, lambda r: r.uniform(-1, 1)),
]


@pytest.mark.parametrize("name,ours,libm,draw", CASES, ids=[c[0] for c in CASES])
def test_within_one_ulp_of_libm(name, ours, libm, draw):
    rnd = random.Random(name)
    for _ in range(500):
        x = draw(rnd)
        a, b = ours(x), libm(x)
        assert abs(a - b) <= math.ulp(b), (name, x, a, b)


def test_atan2_in_every_quadrant_and_on_the_axes():
    rnd = random.Random(0)
    for _ in range(500):
        y, x = rnd.uniform(-5, 5), rnd.uniform(-5, 5)
        assert abs(detmath.atan2(y, x) - math.atan2(y, x)) <= math.ulp(math.pi)
    for y, x in [(0.0, 1.0), (0.0, -1.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 0.0), (1e-300, 1.0)]:
        assert detmath.atan2(y, x) == math.atan2(y, x)


def test_exact_values():
    assert detmath.exp(0.0) == 1.0 and detmath.log(1.0) == 0.0
    assert detmath.cos(0.0) == 1.0 and detmath.sin(0.0) == 0.0
    assert detmath.asin(1.0) == math.pi / 2 and detmath.PI == math.pi
    assert detmath.exp(1.0) == math.e and detmath.log(math.e) == 1.0
    assert detmath.sin(math.pi) == math.sin(math.pi)  # the float π is not π: 1.22e-16
    assert detmath.norm3((3, 4, 12)) == 13.0


def test_bad_arguments_are_refused():
    for f, x in [(detmath.log, 0.0), (detmath.log, -1.0), (detmath.asin, 1.5)]:
        with pytest.raises(ValueError):
            f(x)
    with pytest.raises(ValueError):
        detmath.sin(math.inf)
    with pytest.raises(ValueError):
        detmath.atan2(math.nan, 1.0)
