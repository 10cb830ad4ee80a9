"""Transcendental functions whose float results are the same on every CPU.

The scene sampler must draw the same scene for the same ``(dataset_seed, scene_id)`` on every
node of a farm, and a float that differs in its last bit changes the spec hash. Three things on
the usual path do not guarantee that: the C library's ``exp``/``log``/``sin``/``atan2`` (glibc
picks FMA or plain builds of them by CPU), numpy's vectorised ones (SIMD kernels chosen at
import, SVML on AVX-512) and BLAS (``np.linalg.norm`` is a ``ddot`` whose OpenBLAS kernel and
summation order depend on the core type: measured, it changed light rotations between the
Prescott and Haswell/Zen/SkylakeX kernels on one machine). These functions compute in
``decimal`` (software integer arithmetic, 40 significant digits) and round once to the nearest
float, so their results depend on nothing but the input. The hardware is left only what
IEEE 754 makes exact on every CPU: ``+ - * /`` and ``sqrt``, done one operation at a time (pure
Python floats; numpy's element-wise arithmetic is exact too, its reductions and BLAS are not).
About 10-40 µs a call: for the sampler, not for pixels.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

_CTX = Context(prec=40, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999)
_EPS = Decimal("1e-46")  # series stop: well below the 40th digit of a result near 1
_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459230781640628")
_HALF_PI = Context(prec=80).divide(_PI, 2)

PI = float(_PI)  # == math.pi


def exp(x: float) -> float:
    return float(_CTX.exp(Decimal(x)))


def log(x: float) -> float:
    if not x > 0:
        raise ValueError(f"log of a non-positive number: {x!r}")
    return float(_CTX.ln(Decimal(x)))


def _sin_cos(x: float) -> tuple[Decimal, Decimal]:
    """(sin x, cos x) in Decimal: x reduced by π/2 to |r| <= π/4, then Taylor series."""
    if not math.isfinite(x):
        raise ValueError(f"sin/cos of a non-finite number: {x!r}")
    d = Decimal(x)
    with localcontext(_CTX) as ctx:
        ctx.prec = 80  # the reduction keeps 40 digits for |x| up to 1e30
        q = int((d / _HALF_PI).to_integral_value(rounding=ROUND_HALF_EVEN))
        r = d - q * _HALF_PI
        ctx.prec = 40
        r, r2 = +r, r * r
        s, term, n = r, r, 1
        while abs(term) > _EPS:
            term = -term * r2 / ((n + 1) * (n + 2))
            s, n = s + term, n + 2
        co, term, n = Decimal(1), Decimal(1), 0
        while abs(term) > _EPS:
            term = -term * r2 / ((n + 1) * (n + 2))
            co, n = co + term, n + 2
        return [(s, co), (co, -s), (-s, -co), (-co, s)][q % 4]


def sin(x: float) -> float:
    return float(_sin_cos(x)[0])


def cos(x: float) -> float:
    return float(_sin_cos(x)[1])


def _atan(t: Decimal) -> Decimal:
    """atan in Decimal (call inside ``localcontext(_CTX)``): |t| > 1 folded by
    atan t = ±π/2 − atan(1/t), halved twice by atan t = 2 atan(t / (1 + sqrt(1 + t²))), then
    the alternating series."""
    if t == 0:
        return Decimal(0)
    if abs(t) > 1:
        return (_HALF_PI if t > 0 else -_HALF_PI) - _atan(1 / t)
    for _ in range(2):
        t = t / (1 + (1 + t * t).sqrt())
    t2 = t * t
    s, power, n = t, t, 1
    while True:
        power = -power * t2
        term = power / (n + 2)
        if abs(term) <= _EPS:
            return 4 * s
        s, n = s + term, n + 2


def _atan2(y: Decimal, x: Decimal) -> Decimal:
    with localcontext(_CTX):
        if x > 0:
            return _atan(y / x)
        if x < 0:
            return _atan(y / x) + (_PI if y >= 0 else -_PI)
        return _HALF_PI if y > 0 else -_HALF_PI if y < 0 else Decimal(0)


def atan2(y: float, x: float) -> float:
    """The angle of (x, y) in (−π, π]; finite inputs (``atan2(0, 0)`` is 0, as in C)."""
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"atan2 of a non-finite number: {y!r}, {x!r}")
    return float(_atan2(Decimal(y), Decimal(x)))


def asin(x: float) -> float:
    if not -1.0 <= x <= 1.0:
        raise ValueError(f"asin outside [-1, 1]: {x!r}")
    d = Decimal(x)
    with localcontext(_CTX):
        return float(_atan2(d, (1 - d * d).sqrt()))


def norm3(v) -> float:
    """Euclidean length of a 3-vector, summed in a fixed order (``np.linalg.norm`` is BLAS)."""
    x, y, z = (float(c) for c in v)
    return math.sqrt(x * x + y * y + z * z)
