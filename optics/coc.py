"""Circle of confusion: as Cycles renders it, as the textbook thin lens predicts it, and inverses.

All functions are vectorised (numpy broadcasting) and take lengths in metres except where a name
says ``_mm`` / ``_px``. The CoC is *signed*: negative in front of the focus plane (``z < S``),
positive behind it, zero on it; take ``abs`` for a diameter.

Cycles keeps the field of view of a lens focused at infinity, so its blur is

    c = (f / N) * f * (1/S - 1/z)            (sensor metres, signed)

while the textbook thin lens, whose image distance grows as it focuses closer, gives

    c_thin = f**2 * (z - S) / (N * z * (S - f))  =  c * S / (S - f).

Synthetic labels use the Cycles form (measured within 0.8 % of real renders,
docs/architecture.md section 3).
"""

from __future__ import annotations

import numpy as np

ArrayLike = float | np.ndarray

MODELS = ("cycles", "thin_lens")


def _metres_to_px(c_m: ArrayLike, sensor_width_mm: ArrayLike, width_px: ArrayLike) -> np.ndarray:
    """Sensor metres to image pixels: ``c_px = c / sensor_w * W``."""
    return np.asarray(c_m) / (np.asarray(sensor_width_mm) * 1e-3) * np.asarray(width_px)


def coc_cycles_m(focal_length_mm, f_number, focus_distance_m, depth_m) -> np.ndarray:
    """Signed CoC diameter on the sensor in metres, as Cycles renders it.

    ``c = (f/N) * f * (1/S - 1/z)`` with f in metres; negative for ``z < S``.
    """
    f_m = np.asarray(focal_length_mm, dtype=np.float64) * 1e-3
    inv_s = 1.0 / np.asarray(focus_distance_m, dtype=np.float64)
    inv_z = 1.0 / np.asarray(depth_m, dtype=np.float64)
    return f_m * f_m / np.asarray(f_number, dtype=np.float64) * (inv_s - inv_z)


def coc_cycles_px(
    focal_length_mm, f_number, focus_distance_m, depth_m, sensor_width_mm, width_px
) -> np.ndarray:
    """Signed CoC diameter in pixels as Cycles renders it: ``c_px = c / sensor_w * W``.

    Example: 50 mm f/1.8 focused at 2 m, a point at 1 m, 36 mm sensor, 512 px -> -9.877 px.
    """
    c_m = coc_cycles_m(focal_length_mm, f_number, focus_distance_m, depth_m)
    return _metres_to_px(c_m, sensor_width_mm, width_px)


def coc_thin_lens_m(focal_length_mm, f_number, focus_distance_m, depth_m) -> np.ndarray:
    """Signed textbook thin-lens CoC in metres: ``f² (z - S) / (N z (S - f))``.

    It exceeds the Cycles CoC by the factor ``S / (S - f)`` (1.026 at 50 mm, S = 2 m).
    """
    f_m = np.asarray(focal_length_mm, dtype=np.float64) * 1e-3
    s = np.asarray(focus_distance_m, dtype=np.float64)
    z = np.asarray(depth_m, dtype=np.float64)
    return f_m * f_m * (z - s) / (np.asarray(f_number, dtype=np.float64) * z * (s - f_m))


def coc_thin_lens_px(
    focal_length_mm, f_number, focus_distance_m, depth_m, sensor_width_mm, width_px
) -> np.ndarray:
    """Signed textbook thin-lens CoC in pixels (see :func:`coc_thin_lens_m`)."""
    c_m = coc_thin_lens_m(focal_length_mm, f_number, focus_distance_m, depth_m)
    return _metres_to_px(c_m, sensor_width_mm, width_px)


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown lens model {model!r}; expected one of {MODELS}")


def hyperfocal_m(focal_length_mm, f_number, coc_limit_m, model: str = "cycles") -> np.ndarray:
    """Hyperfocal distance in metres for an acceptable CoC diameter ``coc_limit_m``.

    Focused there, everything from about half of it to infinity has CoC <= the limit.
    Cycles: ``H = f² / (N c)``; thin lens: ``H = f² / (N c) + f``.
    """
    _check_model(model)
    f_m = np.asarray(focal_length_mm, dtype=np.float64) * 1e-3
    h = f_m * f_m / (np.asarray(f_number, dtype=np.float64) * np.asarray(coc_limit_m))
    return h + f_m if model == "thin_lens" else h


def dof_limits_m(
    focal_length_mm, f_number, focus_distance_m, coc_limit_m, model: str = "cycles"
) -> tuple[np.ndarray, np.ndarray]:
    """Near and far depth-of-field limits in metres (far is ``inf`` at or past hyperfocal).

    Cycles: ``|1/S - 1/z| <= c N / f²`` gives ``z = 1 / (1/S ± c N / f²)``.
    Thin lens: ``near = S (H - f) / (H + S - 2f)``, ``far = S (H - f) / (H - S)``.
    """
    _check_model(model)
    f_m = np.asarray(focal_length_mm, dtype=np.float64) * 1e-3
    s = np.asarray(focus_distance_m, dtype=np.float64)
    if model == "cycles":
        a = np.asarray(coc_limit_m) * np.asarray(f_number, dtype=np.float64) / (f_m * f_m)
        near = 1.0 / (1.0 / s + a)
        inv_far = 1.0 / s - a
        with np.errstate(divide="ignore"):
            far = np.where(inv_far > 0, 1.0 / np.where(inv_far > 0, inv_far, 1.0), np.inf)
        return near, far
    h = hyperfocal_m(focal_length_mm, f_number, coc_limit_m, model="thin_lens")
    near = s * (h - f_m) / (h + s - 2 * f_m)
    denom = h - s
    far = np.where(denom > 0, s * (h - f_m) / np.where(denom > 0, denom, 1.0), np.inf)
    return near, far


def focus_for_coc_m(
    focal_length_mm,
    f_number,
    depth_m,
    coc_px,
    sensor_width_mm,
    width_px,
    model: str = "cycles",
) -> np.ndarray:
    """Focus distance S (metres) that gives the *signed* CoC ``coc_px`` at depth ``depth_m``.

    Inverse of :func:`coc_cycles_px` (or the thin lens with ``model="thin_lens"``). A positive
    CoC puts the point behind the focus plane (S < z). Returns ``nan`` where no real focus
    distance exists (the wanted blur exceeds what the lens gives even focused at the lens).
    Cycles: ``1/S = 1/z + c N / f²``; thin lens: ``S = z (f² + c N f) / (c N z + f²)``.
    """
    _check_model(model)
    f_m = np.asarray(focal_length_mm, dtype=np.float64) * 1e-3
    n = np.asarray(f_number, dtype=np.float64)
    z = np.asarray(depth_m, dtype=np.float64)
    c_m = (
        np.asarray(coc_px, dtype=np.float64)
        / np.asarray(width_px)
        * (np.asarray(sensor_width_mm) * 1e-3)
    )
    if model == "cycles":
        inv_s = 1.0 / z + c_m * n / (f_m * f_m)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(inv_s > 0, 1.0 / inv_s, np.nan)
    else:
        denom = c_m * n * z + f_m * f_m
        with np.errstate(divide="ignore", invalid="ignore"):
            s = z * (f_m * f_m + c_m * n * f_m) / denom
        s = np.where((denom > 0) & (s > f_m), s, np.nan)
    return s
