"""Each filter reason, the order of the checks, and the config switches."""

import pytest

from curate.config import FilterConfig
from curate.filters import Rejection, check
from manifests import REJECT_REASONS

GOOD = {
    "has_exif": True,
    "f_number": 2.0,
    "focal_length_mm": 85.0,
    "f_number_equivalent": 2.0,
    "crop_factor": 1.0,
    "width_px": 6000,
    "height_px": 4000,
}


def reason(**changes):
    got = check({**GOOD, **changes}, FilterConfig())
    return got.reason if got else None


def test_a_good_photo_is_kept():
    assert check(GOOD, FilterConfig()) is None


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"has_exif": False}, "no_exif"),
        ({"f_number": None}, "no_f_number"),
        ({"focal_length_mm": None}, "no_focal_length"),
        ({"f_number": 11.0, "f_number_equivalent": 11.0}, "f_number_too_high"),
        ({"focal_length_mm": 0.5}, "focal_length_out_of_range"),
        ({"focal_length_mm": 5000.0}, "focal_length_out_of_range"),
        (
            {"f_number": 2.2, "f_number_equivalent": 16.5, "crop_factor": 7.5},
            "f_number_equivalent_too_high",
        ),
        ({"width_px": 640, "height_px": 480}, "too_small"),
    ],
)
def test_each_reason(changes, expected):
    assert reason(**changes) == expected
    assert expected in REJECT_REASONS


def test_first_failing_check_wins_and_detail_names_the_numbers():
    got = check(
        {**GOOD, "f_number": 11.0, "f_number_equivalent": 16.5, "width_px": 10}, FilterConfig()
    )
    assert got.reason == "f_number_too_high" and "f/11" in got.detail and "f/8" in got.detail
    got = check(
        {**GOOD, "f_number": 2.2, "f_number_equivalent": 16.5, "crop_factor": 7.5}, FilterConfig()
    )
    assert got.detail == "f/2.2 x crop 7.5 = f/16.5 equivalent > f/8"


def test_unknown_sensor_passes_unless_required():
    unknown = {**GOOD, "f_number_equivalent": None, "crop_factor": None}
    assert check(unknown, FilterConfig()) is None
    got = check(unknown, FilterConfig(require_sensor_width=True))
    assert got.reason == "f_number_equivalent_too_high" and "unresolved" in got.detail


def test_unknown_size_is_left_to_pass_2_and_limits_come_from_config():
    assert reason(width_px=None, height_px=None) is None
    cfg = FilterConfig(min_short_side_px=100, max_f_number=16, max_f_number_equivalent=32)
    assert (
        check({**GOOD, "f_number": 11.0, "f_number_equivalent": 16.5, "height_px": 200}, cfg)
        is None
    )


def test_reasons_are_validated():
    with pytest.raises(ValueError, match="unknown reject reason"):
        Rejection("blurry", "x")
