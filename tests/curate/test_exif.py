"""EXIF pass 1 on real camera files (against ExifTool) and on generated edge cases."""

import io
import json
import subprocess
import sys

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from curate.exif import CLI_KEYS, describe_file, needs_full_read, parse_exif, sniff_format

REFERENCE_FILES = [
    "Canon_40D.jpg",
    "Fujifilm_FinePix_E500.jpg",
    "Nikon_D70.jpg",
    "Panasonic_DMC-FZ30.jpg",
    "Pentax_K10D.jpg",
    "corrupted.jpg",
    "exif-org__canon-ixus.jpg",
    "exif-org__ricoh-rdc5300.jpg",
    "exif-org__sony-d700.jpg",
    "gps__DSCN0010.jpg",
    "hdr__iphone_hdr_NO.jpg",
    "heic__IMG_5195.HEIC",
    "invalid__image01137.jpg",
    "mobile__jolla.jpg",
    "orientation__landscape_6.jpg",
    "orientation__portrait_3.jpg",
    "tests__32-lens_data.jpeg",
    "tests__87_OSError.jpg",
    "xmp__no_exif.jpg",
]


@pytest.fixture(scope="module")
def reference(camera_exif_dir):
    return json.loads((camera_exif_dir / "exiftool-reference.json").read_text())


def test_every_reference_file_is_covered(reference):
    assert sorted(reference) == sorted(REFERENCE_FILES)


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_agrees_with_exiftool(camera_exif_dir, reference, name):
    ref = reference[name]
    head = (camera_exif_dir / name).read_bytes()[:131072]
    got = parse_exif(head)
    if "ExifIFD:FNumber" in ref:
        assert got.f_number == pytest.approx(ref["ExifIFD:FNumber"], abs=0.01)
        assert got.f_number_source == "FNumber"
    elif "ExifIFD:ApertureValue" in ref:  # ExifTool prints the APEX value as N = 2^(Av/2)
        assert got.f_number == pytest.approx(ref["ExifIFD:ApertureValue"], abs=0.01)
        assert got.f_number_source == "ApertureValue"
    else:
        assert got.f_number is None
    for key, attr in (
        ("ExifIFD:FocalLength", "focal_length_mm"),
        ("ExifIFD:FocalLengthIn35mmFormat", "focal_length_35mm"),
    ):
        if key in ref:
            assert getattr(got, attr) == pytest.approx(ref[key], abs=0.01)
        else:
            assert getattr(got, attr) is None
    assert got.make == ref.get("IFD0:Make")
    assert got.model == ref.get("IFD0:Model")
    assert got.lens_model == ref.get("ExifIFD:LensModel")
    assert got.orientation == ref.get("IFD0:Orientation")


def test_cli_prints_one_json_object_per_file(camera_exif_dir, reference):
    files = [str(camera_exif_dir / n) for n in REFERENCE_FILES] + [
        str(camera_exif_dir / "README.md")
    ]
    p = subprocess.run(
        [sys.executable, "-m", "curate.exif", *files, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["path"] for r in lines] == files
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in lines}
    for r in lines:
        assert tuple(r) == CLI_KEYS
    assert by_name["README.md"]["error"] == "not a JPEG/PNG/TIFF/WebP/HEIF file"
    assert by_name["invalid__image01137.jpg"]["error"] == "no EXIF block"
    nikon = by_name["Nikon_D70.jpg"]
    assert nikon["error"] is None and nikon["f_number"] == 9.0
    assert nikon["sensor_width_mm"] == pytest.approx(24.0) and nikon["sensor_width_source"] == (
        "crop_35mm"
    )
    assert nikon["f_number_equivalent"] == pytest.approx(13.5)
    heic = by_name["heic__IMG_5195.HEIC"]
    assert heic["make"] == "Apple" and heic["focal_length_35mm"] == 26.0
    assert by_name["exif-org__sony-d700.jpg"]["focal_length_mm"] is None  # missing -> null


def _jpeg(exif: Image.Exif) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 30)).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def test_zero_over_zero_and_zero_rationals_are_missing():
    ex = Image.Exif()
    ex[0x010F] = "Acme"
    ifd = ex.get_ifd(0x8769)
    ifd[0x829D] = IFDRational(0, 0)  # FNumber 0/0
    ifd[0x920A] = IFDRational(0, 1)  # FocalLength 0
    ifd[0xA405] = 0  # FocalLengthIn35mmFilm 0
    ex[0x8769] = ifd
    got = parse_exif(_jpeg(ex))
    assert got.has_exif and got.make == "Acme"
    assert got.f_number is None and got.focal_length_mm is None and got.focal_length_35mm is None


def test_aperture_value_gives_f_number_by_apex():
    ex = Image.Exif()
    ifd = ex.get_ifd(0x8769)
    ifd[0x9202] = IFDRational(3, 1)  # Av = 3 -> N = 2^(3/2) = 2.83
    ex[0x8769] = ifd
    got = parse_exif(_jpeg(ex))
    assert got.f_number == pytest.approx(2**1.5) and got.f_number_source == "ApertureValue"


def test_make_and_model_in_the_exif_ifd(exif_payload):
    ex = Image.Exif()
    ifd = ex.get_ifd(0x8769)
    ifd[0x010F] = "PhoneCo"
    ifd[0x0110] = "Phone 9"
    ifd[0x829D] = IFDRational(18, 10)
    ex[0x8769] = ifd
    got = parse_exif(_jpeg(ex))
    assert (got.make, got.model, got.f_number) == ("PhoneCo", "Phone 9", 1.8)


def test_truncated_file_still_yields_its_tags(tmp_path, photo_writer):
    path = photo_writer(tmp_path / "a.jpg", f_number=2.8, focal_mm=50.0, width=800, height=600)
    data = path.read_bytes()
    got = parse_exif(data[: len(data) // 3])  # pass 1 cannot tell: pass 2 must decode
    assert got.f_number == 2.8 and got.focal_length_mm == 50.0


@pytest.mark.parametrize("ext", ["png", "webp", "tif"])
def test_other_formats(tmp_path, photo_writer, ext):
    path = photo_writer(tmp_path / f"a.{ext}", f_number=4.0, focal_mm=35.0, width=96, height=64)
    data = path.read_bytes()
    assert sniff_format(data) == {"png": "PNG", "webp": "WEBP", "tif": "TIFF"}[ext]
    got = parse_exif(data)
    assert (got.make, got.f_number, got.focal_length_mm) == ("Canon", 4.0, 35.0)


def test_heif_and_tiff_are_reread_whole_when_exif_lies_past_the_head():
    empty = parse_exif(b"II*\x00" + b"\x00" * 100)
    assert needs_full_read("TIFF", empty, 131072, 10_000_000)
    assert needs_full_read("HEIF", empty, 131072, 10_000_000)
    assert not needs_full_read("HEIF", empty, 5000, 5000)  # the head was the whole file
    assert not needs_full_read("JPEG", empty, 131072, 10_000_000)  # APP1 is always in front


def test_unreadable_file_reports_an_error(tmp_path):
    record = describe_file(str(tmp_path / "missing.jpg"))
    assert record["error"] is not None and "\n" not in record["error"]
    assert record["f_number"] is None and record["path"].endswith("missing.jpg")
