"""Schema definitions: columns, Arrow types, nullability and value rules, one place for all,
and :func:`validate_table`, which checks a table against them.

Each ``Column`` names its Arrow type, whether nulls are allowed, an optional value rule (a
vectorised predicate over the non-null values with a human-readable description), and whether
it holds a path that must stay inside the manifest root. Every float column must be finite as
well (NaN and inf are refused whatever the rule: ``inf >= 0`` holds). Adding a column is a minor
version bump; renaming or removing one (or changing its meaning) is a major bump, which old
readers refuse.
Imports ``infra.uri`` (the path rule) and ``optics`` (the sensor-source names).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from manifests.paths import path_problem
from optics.sensor import SENSOR_WIDTH_MAX_MM, SENSOR_WIDTH_MIN_MM, SOURCES

SPLITS = ("train", "val", "test")


def split_of(sha256: str, val_fraction: float, test_fraction: float) -> str:
    """The split of a photo from its content hash (curate's rule, and the 2.5-D route's for a
    photo with no split of its own): ``u`` = first 32 bits / 2^32; test below ``test_fraction``,
    val below ``test_fraction + val_fraction``, else train."""
    u = int(sha256[:8], 16) / 2**32
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


REJECT_STAGES = ("list", "exif", "filter", "decode", "quality", "dedup", "render", "depth")

# Why an input was dropped. Curate and synth pick from this list; extend it (minor bump) rather
# than overloading a reason, so that stats stay comparable across runs.
REJECT_REASONS = (
    "unreadable",  # the bytes could not be read (permissions, I/O, object store error)
    "unsupported_format",  # not a JPEG/PNG/TIFF/WebP/HEIF file
    "no_exif",  # no EXIF block at all
    "no_f_number",  # neither FNumber nor ApertureValue
    "no_focal_length",
    "f_number_too_high",
    "f_number_equivalent_too_high",
    "focal_length_out_of_range",
    "too_small",  # short side below the configured minimum
    "decode_failed",  # pass 2 could not decode the image (truncated, corrupt)
    "decompression_bomb",
    "low_quality",
    "duplicate",  # exact or near duplicate of ``duplicate_of``
    "render_failed",  # synth: a scene that Blender could not render
    "invalid_value",  # a value no camera gives (f/0 from an APEX value) or the schema refuses
    # rejects 1.2: the listing's own rejects (stage "list")
    "link_outside_root",  # a link whose target lies outside the input folder it was found in
    "broken_link",  # a dangling link
    "link_loop",  # a link that loops (ELOOP) or a folder link back to one of its own parents
    "not_a_file",  # a FIFO, socket or device: no photo bytes to read
    # rejects 1.3: synth's 2.5-D route (python -m synth photos), stage "depth" and "quality"
    "no_depth",  # no depth column, sidecar file or depth model for the photo
    "bad_depth",  # a depth map that cannot serve: unreadable, wrong size, NaN, constant
    "not_all_in_focus",  # a shallow depth-of-field photo (infra.allinfocus), not a source
    "greyscale",  # one channel: the route renders colour bokeh
)

Rule = tuple[Callable[[np.ndarray], np.ndarray], str]


def _gt(lo: float) -> Rule:
    return (lambda v: v > lo, f"must be > {lo:g}")


def _ge(lo: float) -> Rule:
    return (lambda v: v >= lo, f"must be >= {lo:g}")


def _between(lo: float, hi: float) -> Rule:
    return (lambda v: (v >= lo) & (v <= hi), f"must be within [{lo:g}, {hi:g}]")


def _above(lo: float, hi: float) -> Rule:
    """``lo < v <= hi``: a positive quantity with a bound no real camera or render exceeds."""
    return (lambda v: (v > lo) & (v <= hi), f"must be within ({lo:g}, {hi:g}]")


# Bounds no real camera, photo or render exceeds; values beyond them (1e30 from a broken
# writer) are refused where a manifest is read, not trained on.
MAX_FOCAL_MM = 10_000.0
MAX_F_NUMBER = 1024.0
MAX_DISTANCE_M = 1e6
MAX_DISPARITY = 1e6  # 1 / optics.genrefocus.MIN_DEPTH_M
MAX_K = 1e6  # K at 16384 px with a 600 mm f/1 lens on a 1-inch sensor is ~2.2e5
MAX_RENDER_PX = 16_384
MIN_RENDER_PX = 8  # smaller frames have no room for the evaluation's windows (NaN metrics)
MAX_PHOTO_PX = 1_000_000


def _finite() -> Rule:
    return (lambda v: np.isfinite(v), "must be finite")


def _one_of(values: tuple[str, ...]) -> Rule:
    allowed = set(values)
    return (
        lambda v: np.array([x in allowed for x in v], dtype=bool),
        "must be one of " + ", ".join(values),
    )


def _blades() -> Rule:
    return (lambda v: (v == 0) | ((v >= 3) & (v <= 16)), "must be 0 (round) or 3..16 blades")


def _hex(length: int) -> Rule:
    digits = set("0123456789abcdef")
    return (
        lambda v: np.array([len(x) == length and set(x) <= digits for x in v], dtype=bool),
        f"must be {length} lower-case hex digits",
    )


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool = False
    rule: Rule | None = None
    is_path: bool = False
    since: str | None = None  # the schema version that added it: older parts may lack it


@dataclass(frozen=True)
class ManifestSchema:
    """A named, versioned schema: ``arrow`` is the pyarrow schema the writer casts to."""

    name: str
    version: str  # "MAJOR.MINOR"
    columns: tuple[Column, ...]
    arrow: pa.Schema = field(init=False, repr=False)

    def __post_init__(self):
        fields = [pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns]
        object.__setattr__(self, "arrow", pa.schema(fields))

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def path_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.is_path)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _path(name: str, nullable: bool = False, since: str | None = None) -> Column:
    return Column(name, pa.string(), nullable, is_path=True, since=since)


SENSOR_RULE = _between(SENSOR_WIDTH_MIN_MM, SENSOR_WIDTH_MAX_MM)

# synthetic_pairs.scene_kind of the 2.5-D route's rows (python -m synth photos): the classical
# renderer on an all-in-focus image and its depth; every other kind is a path-traced scene
PHOTO_2P5D_KIND = "photo_2p5d"

SYNTHETIC_PAIRS = ManifestSchema(
    "synthetic_pairs",
    # 1.1: file:// URIs in path columns are percent-encoded (RFC 8089); 1.2: scene_kind and
    # source_photos (provenance: the SHA-256 of each pool photo the scene used); 1.3: shaped
    # apertures: aperture_kernel_path (the render's kernel PNG) and aperture_shape_id filled
    # with the shape's optics.aperture label (both null for Cycles' own aperture)
    "1.3",
    (
        Column("dataset_id", pa.string()),
        Column("scene_id", pa.int64(), rule=_ge(0)),
        Column("render_id", pa.int32(), rule=_ge(0)),
        Column("split", pa.string(), rule=_one_of(SPLITS)),
        _path("aif_path"),
        _path("depth_path"),
        _path("bokeh_path"),
        _path("coc_path"),
        _path("bokeh_jpeg_path", nullable=True),
        _path("bokeh_exr_path", nullable=True),
        _path("aperture_kernel_path", nullable=True, since="1.3"),
        Column("width_px", pa.int32(), rule=_between(MIN_RENDER_PX, MAX_RENDER_PX)),
        Column("height_px", pa.int32(), rule=_between(MIN_RENDER_PX, MAX_RENDER_PX)),
        Column("focal_length_mm", pa.float64(), rule=_above(0, MAX_FOCAL_MM)),
        Column("sensor_width_mm", pa.float64(), rule=SENSOR_RULE),
        Column("f_number", pa.float64(), rule=_above(0, MAX_F_NUMBER)),
        Column("focus_distance_m", pa.float64(), rule=_above(0, MAX_DISTANCE_M)),
        Column("aperture_blades", pa.int32(), rule=_blades()),
        Column("aperture_rotation_deg", pa.float64(), rule=_finite()),
        Column("aperture_ratio", pa.float64(), rule=_above(0, 100)),
        Column("aperture_shape_id", pa.string(), nullable=True),  # label; null: Cycles' own
        Column("k_genrefocus", pa.float64(), rule=_between(0, MAX_K)),
        Column("k_ref_width_px", pa.int32(), rule=_between(1, MAX_RENDER_PX)),
        Column("disp_focus", pa.float64(), rule=_above(0, MAX_DISPARITY)),
        Column("render_samples", pa.int32(), nullable=True, rule=_above(0, 1 << 24)),
        Column("render_engine", pa.string(), nullable=True),
        Column("spec_hash", pa.string()),
        Column("scene_kind", pa.string(), nullable=True, since="1.2"),
        Column("source_photos", pa.list_(pa.string()), nullable=True, since="1.2"),
        Column("bpy_version", pa.string(), nullable=True),
        Column("project_version", pa.string(), nullable=True),
    ),
)

REAL_PHOTOS = ManifestSchema(
    "real_photos",
    # 1.1: file:// URIs are percent-encoded (RFC 8089); 1.2: all_in_focus (the whole-frame
    # focus test of infra.allinfocus: a source for synth's 2.5-D route)
    "1.2",
    (
        _path("uri"),
        Column("sha256", pa.string(), rule=_hex(64)),
        Column("size_bytes", pa.int64(), nullable=True, rule=_ge(0)),
        Column("width_px", pa.int32(), rule=_between(1, MAX_PHOTO_PX)),
        Column("height_px", pa.int32(), rule=_between(1, MAX_PHOTO_PX)),
        Column("make", pa.string(), nullable=True),
        Column("model", pa.string(), nullable=True),
        Column("lens_model", pa.string(), nullable=True),
        Column("f_number", pa.float64(), nullable=True, rule=_above(0, MAX_F_NUMBER)),
        Column("focal_length_mm", pa.float64(), nullable=True, rule=_above(0, MAX_FOCAL_MM)),
        Column("focal_length_35mm", pa.float64(), nullable=True, rule=_above(0, MAX_FOCAL_MM)),
        Column("orientation", pa.int32(), nullable=True, rule=_between(1, 8)),
        Column("capture_time", pa.string(), nullable=True),
        Column("sensor_width_mm", pa.float64(), nullable=True, rule=SENSOR_RULE),
        Column("sensor_width_source", pa.string(), rule=_one_of(SOURCES)),
        Column("crop_factor", pa.float64(), nullable=True, rule=_above(0, 100)),
        Column(
            "f_number_equivalent", pa.float64(), nullable=True, rule=_above(0, 100 * MAX_F_NUMBER)
        ),
        Column("pixel_ratio", pa.float64(), nullable=True, rule=_above(0, MAX_PHOTO_PX)),
        Column("sharpness", pa.float64(), nullable=True, rule=_ge(0)),
        Column("bokeh_evidence", pa.float64(), nullable=True, rule=_finite()),
        Column("all_in_focus", pa.bool_(), nullable=True, since="1.2"),
        Column("exposure_clipping", pa.float64(), nullable=True, rule=_between(0, 1)),
        Column("clip_quality", pa.float64(), nullable=True, rule=_between(0, 1)),
        Column("clip_shallow_dof", pa.float64(), nullable=True, rule=_between(0, 1)),
        Column("clip_embedding", pa.list_(pa.float16()), nullable=True),
        Column("phash", pa.uint64(), nullable=True),
        Column("split", pa.string(), rule=_one_of(SPLITS)),
    ),
)

REJECTS = ManifestSchema(
    "rejects",
    # 1.1: reason invalid_value; 1.2: the listing's reasons, encoded file:// URIs; 1.3: the
    # 2.5-D route's stage "depth" and reasons
    "1.3",
    (
        _path("uri"),
        Column("stage", pa.string(), rule=_one_of(REJECT_STAGES)),
        Column("reason", pa.string(), rule=_one_of(REJECT_REASONS)),
        Column("detail", pa.string(), nullable=True),
        Column("duplicate_of", pa.string(), nullable=True),
    ),
)

SCHEMAS: dict[str, ManifestSchema] = {s.name: s for s in (SYNTHETIC_PAIRS, REAL_PHOTOS, REJECTS)}

# The columns that may hold a ``file://`` URI (path columns and the extra ones readers know:
# real_photos' ground-truth ``depth_path``, rejects' ``duplicate_of``), and the version from
# which a part holds them percent-encoded (RFC 8089, ``infra.uri.file_uri``). In a part of
# an older version they are ``"file://"`` + the raw path; readers convert them on reading.
URI_COLUMNS: dict[str, tuple[str, ...]] = {
    "synthetic_pairs": SYNTHETIC_PAIRS.path_columns,
    "real_photos": ("uri", "depth_path"),
    "rejects": ("uri", "duplicate_of"),
}
FILE_URIS_ENCODED_SINCE: dict[str, str] = {
    "synthetic_pairs": "1.1",
    "real_photos": "1.1",
    "rejects": "1.2",
}


def version_tuple(version: str) -> tuple[int, ...]:
    """``"1.2"`` -> ``(1, 2)``; ``ValueError`` for anything but dot-separated integers."""
    return tuple(int(x) for x in version.split("."))


def has_raw_file_uris(name: str, version: str) -> bool:
    """True when a part of schema ``name`` written at ``version`` holds raw ``file://`` paths
    (written before percent-encoding); an unparseable version counts as current."""
    try:
        return version_tuple(version) < version_tuple(FILE_URIS_ENCODED_SINCE[name])
    except (KeyError, ValueError):
        return False


def get_schema(name: str) -> ManifestSchema:
    try:
        return SCHEMAS[name]
    except KeyError:
        raise KeyError(f"unknown manifest schema {name!r}; known: {', '.join(SCHEMAS)}") from None


@dataclass(frozen=True)
class Problem:
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _non_finite(values: np.ndarray, rows: np.ndarray, name: str, source: str) -> list[Problem]:
    """A float column's NaN and infinities: no column may hold one (the rules compare, and
    ``inf >= 0`` holds)."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return []
    i = _first(bad)
    return [
        Problem(
            source,
            f"column {name!r}: {int(bad.sum())} non-finite value(s) (must be finite), "
            f"first at row {int(rows[i])}: {float(values[i])!r}",
        )
    ]


def validate_table(table: pa.Table, schema: ManifestSchema | str, source: str) -> list[Problem]:
    """Check one table against a schema; returns problems (empty when valid)."""
    if isinstance(schema, str):
        schema = get_schema(schema)
    problems: list[Problem] = []
    for col in schema.columns:
        if col.name not in table.column_names:
            problems.append(Problem(source, f"missing required column {col.name!r}"))
            continue
        arr = table.column(col.name)
        if arr.type != col.type:
            problems.append(
                Problem(source, f"column {col.name!r} has type {arr.type}, expected {col.type}")
            )
            continue
        nulls = arr.null_count
        valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        if nulls and not col.nullable:
            problems.append(
                Problem(
                    source,
                    f"column {col.name!r}: {nulls} null value(s), first at row "
                    f"{_first(~valid)}; it is required",
                )
            )
        if col.rule is None and not col.is_path:
            continue
        rows = np.flatnonzero(valid)
        values = arr.drop_null().to_numpy(zero_copy_only=False)
        if pa.types.is_floating(col.type) and len(values):
            problems.extend(_non_finite(values, rows, col.name, source))
            rows, values = rows[np.isfinite(values)], values[np.isfinite(values)]
        if col.rule is not None and len(values):
            predicate, description = col.rule
            with np.errstate(invalid="ignore"):
                ok = np.asarray(predicate(values), dtype=bool)
            if not ok.all():
                i = _first(~ok)
                problems.append(
                    Problem(
                        source,
                        f"column {col.name!r}: {int((~ok).sum())} value(s) out of range "
                        f"({description}), first at row {int(rows[i])}: {values[i]!r}",
                    )
                )
        if col.is_path:
            for i, v in enumerate(values):
                why = path_problem(v)
                if why:
                    problems.append(
                        Problem(source, f"column {col.name!r} row {int(rows[i])}: {v!r} {why}")
                    )
                    break
    return problems
