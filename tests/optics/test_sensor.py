"""Sensor width from EXIF, on the reference values ExifTool reports for real camera files."""

import json
import math

import pytest

from optics import (
    SENSOR_WIDTH_MAX_MM,
    SENSOR_WIDTH_MIN_MM,
    crop_factor,
    f_number_equivalent,
    pixel_ratio,
    sensor_width_from_exif,
)


@pytest.fixture(scope="module")
def reference(camera_exif_dir):
    return json.loads((camera_exif_dir / "exiftool-reference.json").read_text())


def from_reference(entry: dict, ref_width_px=None):
    """Feed ExifTool's values to the resolver, as curate will feed exifread's."""
    return sensor_width_from_exif(
        focal_length_mm=entry.get("ExifIFD:FocalLength"),
        focal_length_35mm=entry.get("ExifIFD:FocalLengthIn35mmFormat"),
        focal_plane_x_resolution=entry.get("ExifIFD:FocalPlaneXResolution"),
        focal_plane_resolution_unit=entry.get("ExifIFD:FocalPlaneResolutionUnit"),
        focal_plane_ref_width_px=ref_width_px or entry.get("ExifIFD:ExifImageWidth"),
        make=entry.get("IFD0:Make"),
        model=entry.get("IFD0:Model"),
    )


# file -> (source, width in mm), every entry worked by hand from the reference values.
EXPECTED = {
    "Nikon_D70.jpg": ("crop_35mm", 36 * 100 / 150),  # 150 mm equiv of 100 mm: crop 1.5, 24 mm
    "Panasonic_DMC-FZ30.jpg": ("crop_35mm", 36 * 14.1 / 82),  # 6.19 mm
    "mobile__jolla.jpg": ("unresolved", None),  # phone, no 35 mm tag, not in the table
    "tests__32-lens_data.jpeg": ("crop_35mm", 36 * 105 / 157),  # D300; ExifImageWidth is 0
    "tests__87_OSError.jpg": ("crop_35mm", 36 * 60 / 90),  # D70s
    "exif-org__canon-ixus.jpg": ("focal_plane", 640 / 3106.796117 * 25.4),  # inches: 5.23 mm
    "Canon_40D.jpg": ("model_table", 22.2),  # resized: focal plane gives 0.57 mm
    "Fujifilm_FinePix_E500.jpg": ("model_table", 5.76),  # resized: focal plane gives 0.15 mm
    "Pentax_K10D.jpg": ("model_table", 23.5),  # neither tag
    "hdr__iphone_hdr_NO.jpg": ("model_table", 4.8),  # claims 57 mm equiv: 2.6 mm, insane
    "heic__IMG_5195.HEIC": ("crop_35mm", 36 * 4.25 / 26),  # iPhone 11 Pro Max: 5.88 mm
    "exif-org__sony-d700.jpg": ("unresolved", None),  # no focal length at all
    "exif-org__ricoh-rdc5300.jpg": ("unresolved", None),
    "xmp__no_exif.jpg": ("unresolved", None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sensor_width_of_real_cameras(reference, name):
    source, width = EXPECTED[name]
    got = from_reference(reference[name])
    assert got.source == source
    if width is None:
        assert got.width_mm is None and not got.resolved
    else:
        assert got.width_mm == pytest.approx(width, rel=1e-6)
        assert SENSOR_WIDTH_MIN_MM <= got.width_mm <= SENSOR_WIDTH_MAX_MM


def test_every_reference_file_resolves_to_a_sane_width_or_unresolved(reference):
    for name, entry in reference.items():
        got = from_reference(entry)
        assert got.width_mm is None or SENSOR_WIDTH_MIN_MM <= got.width_mm <= SENSOR_WIDTH_MAX_MM, (
            name
        )


def test_resized_canon_40d_focal_plane_width_is_insane_then_falls_back(reference):
    e = reference["Canon_40D.jpg"]
    insane = e["ExifIFD:ExifImageWidth"] / e["ExifIFD:FocalPlaneXResolution"] * 25.4
    assert insane == pytest.approx(0.572, abs=1e-3)
    assert from_reference(e).source == "model_table"
    # At the camera's native 3888 px width the same tag gives the real APS-C sensor.
    native = from_reference(e, ref_width_px=3888)
    assert native.source == "focal_plane" and native.width_mm == pytest.approx(22.25, abs=0.01)


def test_fujifilm_e500_focal_plane_in_centimetres(reference):
    e = reference["Fujifilm_FinePix_E500.jpg"]
    assert e["ExifIFD:FocalPlaneResolutionUnit"] == 3  # cm
    # The file is a 59 px thumbnail (0.15 mm: insane); at the camera's 2304 px width the
    # centimetre resolution gives its 1/2.5" sensor, 5.76 mm.
    native = from_reference(e, ref_width_px=2304)
    assert native.source == "focal_plane" and native.width_mm == pytest.approx(5.76, rel=1e-6)


def test_zero_and_missing_values_are_treated_as_missing():
    assert sensor_width_from_exif(focal_length_mm=0, focal_length_35mm=50).source == "unresolved"
    assert (
        sensor_width_from_exif(focal_length_mm=math.nan, focal_length_35mm=50).source
        == "unresolved"
    )
    got = sensor_width_from_exif(focal_plane_x_resolution=0, focal_plane_ref_width_px=3000)
    assert got.source == "unresolved"


def test_table_matches_model_with_or_without_make_prefix():
    a = sensor_width_from_exif(make="PENTAX Corporation", model="PENTAX K10D")
    b = sensor_width_from_exif(make="PENTAX", model="K10D")
    assert a.width_mm == b.width_mm == 23.5


def test_crop_equivalent_f_number_and_pixel_ratio():
    assert crop_factor(24.0) == pytest.approx(1.5)
    # An iPhone 13 Pro main camera (5.7 mm f/1.5, 26 mm equivalent) is about f/6.8 equivalent.
    w = sensor_width_from_exif(focal_length_mm=5.7, focal_length_35mm=26).width_mm
    assert f_number_equivalent(1.5, w) == pytest.approx(6.84, abs=0.01)
    assert pixel_ratio(6000, 4000, 36) == pytest.approx(6000 / 36)
    assert pixel_ratio(4000, 6000, 36) == pytest.approx(6000 / 36)  # portrait: long edge
