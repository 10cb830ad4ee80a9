"""The per-shard work of pass 1 and pass 2, as plain functions (Ray only wraps them in tasks).

``pass1(entries, cfg)``: read the first ``exif.head_bytes`` of each file, sniff the format, parse
EXIF (re-reading HEIF/TIFF whole when their EXIF lies further in), derive sensor width / crop /
N_eq, read the header size, apply the filters. Returns ``(survivors, rejects)``.

``pass2(survivors, cfg, clip_size_px)``: read each survivor fully, hash it, decode it (the real
check: truncated files pass pass 1), repeat the size filter on the decoded size, compute the
weight-free quality signals and the perceptual hash, assign the split from the content hash,
and (when ``clip_size_px``) make the CLIP input crop. Returns ``(rows, rejects, clip_inputs)``.

Every input leaves as exactly one survivor/row or one reject with a reason from the enum; an
unexpected error in one file becomes that file's reject, never a failed shard. Imports neither
Ray nor torch.
"""

from __future__ import annotations

import numpy as np

from curate import exif as exif_mod
from curate.decode import DecodeError, DecodeLimits, clip_input, decode_image
from curate.dedup import phash, sha256_hex
from curate.exiffields import ExifFields
from curate.filters import Rejection, check, check_plausible, check_size
from curate.listing import Entry, read_all, read_head
from curate.quality import quality_signals
from infra.allinfocus import focus_test
from manifests.schemas import split_of

EXIF_KEYS = (
    "make",
    "model",
    "lens_model",
    "f_number",
    "f_number_source",
    "aperture_value",
    "focal_length_mm",
    "focal_length_35mm",
    "focal_plane_x_resolution",
    "focal_plane_resolution_unit",
    "exif_image_width_px",
    "orientation",
    "capture_time",
)


def reject(uri: str, stage: str, reason: str, detail: str, duplicate_of=None) -> dict:
    # the detail may quote a file's bytes: keep it one line of valid UTF-8 (Parquet needs that)
    if detail is not None:
        detail = " ".join(str(detail).encode("utf-8", "backslashreplace").decode().split())
    return {
        "uri": uri,
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "duplicate_of": duplicate_of,
    }


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def pass1_one(entry: Entry, cfg, fs_cache: dict | None = None) -> tuple[dict | None, dict | None]:
    """``(survivor, None)`` or ``(None, reject)`` for one file."""
    uri = entry.uri
    try:
        head = read_head(uri, cfg.exif.head_bytes, fs_cache)
    except OSError as e:
        return None, reject(uri, "exif", "unreadable", _one_line(e))
    fmt = exif_mod.sniff_format(head)
    if fmt is None:
        return None, reject(uri, "exif", "unsupported_format", "not a JPEG/PNG/TIFF/WebP/HEIF file")
    try:
        fields = exif_mod.parse_exif(head)
        if exif_mod.needs_full_read(fmt, fields, len(head), entry.size_bytes):
            head = read_all(uri, fs_cache)
            fields = exif_mod.parse_exif(head)
    except exif_mod.ExifReadError as e:
        return None, reject(uri, "exif", "no_exif", str(e))
    except OSError as e:
        return None, reject(uri, "exif", "unreadable", _one_line(e))
    size = exif_mod.header_size_px(head) or (None, None)
    record = {"uri": uri, "size_bytes": entry.size_bytes, "format": fmt}
    record["has_exif"] = fields.has_exif
    record.update({k: getattr(fields, k) for k in EXIF_KEYS})
    record["width_px"], record["height_px"] = size
    record.update(exif_mod.derive(fields, *size))
    why = check(record, cfg.filters)
    if why is not None:
        exif_reasons = ("no_exif", "no_f_number", "no_focal_length", "invalid_value")
        stage = "exif" if why.reason in exif_reasons else "filter"
        return None, reject(uri, stage, why.reason, why.detail)
    return record, None


def pass1(entries: list[Entry], cfg) -> tuple[list[dict], list[dict]]:
    survivors, rejects, fs_cache = [], [], {}
    for entry in entries:
        try:
            kept, rej = pass1_one(entry, cfg, fs_cache)
        except Exception as e:  # a bug or an odd file must not sink the shard
            kept, rej = None, reject(entry.uri, "exif", "unreadable", _one_line(e))
        (survivors if kept is not None else rejects).append(kept or rej)
    return survivors, rejects


def pass2_one(record: dict, cfg, clip_size_px: int | None, fs_cache=None):
    """``(row, None, clip_crop)`` or ``(None, reject, None)`` for one survivor of pass 1."""
    uri = record["uri"]
    try:
        data = read_all(uri, fs_cache)
    except OSError as e:
        return None, reject(uri, "decode", "unreadable", _one_line(e)), None
    try:
        img = decode_image(
            data,
            record.get("format"),
            record.get("orientation"),
            limits=DecodeLimits(
                max_pixels=cfg.decode.max_pixels,
                max_bitmap_mb=cfg.decode.max_bitmap_mb,
                ratio_floor_mb=cfg.decode.ratio_floor_mb,
                max_expansion_ratio=cfg.decode.max_expansion_ratio,
            ),
            long_edge_px=cfg.decode.analysis_long_edge_px,
        )
    except DecodeError as e:
        return None, reject(uri, "decode", e.reason, e.detail), None
    too_small = check_size(img.width_px, img.height_px, cfg.filters.min_short_side_px)
    if too_small is not None:
        return None, reject(uri, "filter", too_small.reason, too_small.detail), None
    signals = quality_signals(img.rgb, cfg.quality.grid)
    low = _low_quality(signals, cfg.quality)
    if low is not None:
        return None, reject(uri, "quality", low.reason, low.detail), None
    fields = ExifFields(
        has_exif=True, **{k: record.get(k) for k in EXIF_KEYS if k != "f_number_source"}
    )
    fields.f_number_source = record.get("f_number_source")
    derived = exif_mod.derive(fields, img.width_px, img.height_px)
    sha = sha256_hex(data)
    row = {
        "uri": uri,
        "sha256": sha,
        "size_bytes": len(data),
        "width_px": img.width_px,
        "height_px": img.height_px,
        "make": record.get("make"),
        "model": record.get("model"),
        "lens_model": record.get("lens_model"),
        "f_number": record.get("f_number"),
        "focal_length_mm": record.get("focal_length_mm"),
        "focal_length_35mm": record.get("focal_length_35mm"),
        "orientation": record.get("orientation"),
        "capture_time": record.get("capture_time"),
        **derived,
        "sharpness": signals["sharpness"],
        "bokeh_evidence": signals["bokeh_evidence"],
        "all_in_focus": focus_test(img.rgb).all_in_focus(cfg.quality.aif_min_sharp_fraction),
        "exposure_clipping": signals["exposure_clipping"],
        "clip_quality": None,
        "clip_shallow_dof": None,
        "clip_embedding": None,
        "phash": phash(img.rgb),
        "split": split_of(sha, cfg.split.val_fraction, cfg.split.test_fraction),
        # extra columns (kept after the contract ones)
        "quality_score": signals["quality_score"],
        "f_number_source": record.get("f_number_source"),
        "format": record.get("format"),
    }
    implausible = check_plausible(row)  # pixel_ratio is re-derived from the decoded size
    if implausible is not None:
        return None, reject(uri, "filter", implausible.reason, implausible.detail), None
    crop = clip_input(img.rgb, clip_size_px) if clip_size_px else None
    return row, None, crop


def _low_quality(signals: dict, qcfg) -> Rejection | None:
    if qcfg.min_sharpness > 0 and signals["sharpness"] < qcfg.min_sharpness:
        return Rejection(
            "low_quality",
            f"sharpness {signals['sharpness']:.3g} < quality.min_sharpness {qcfg.min_sharpness:g}",
        )
    if signals["exposure_clipping"] > qcfg.max_exposure_clipping:
        return Rejection(
            "low_quality",
            f"{signals['exposure_clipping']:.1%} clipped pixels > "
            f"quality.max_exposure_clipping {qcfg.max_exposure_clipping:g}",
        )
    return None


def pass2(survivors: list[dict], cfg, clip_size_px: int | None = None):
    rows, rejects, crops, fs_cache = [], [], [], {}
    for record in survivors:
        try:
            row, rej, crop = pass2_one(record, cfg, clip_size_px, fs_cache)
        except Exception as e:  # never lose a file to a bug: it becomes a reject
            row, rej, crop = (
                None,
                reject(record["uri"], "decode", "decode_failed", _one_line(e)),
                None,
            )
        if row is not None:
            rows.append(row)
            if crop is not None:
                crops.append(crop)
        else:
            rejects.append(rej)
    size = clip_size_px or 0
    clip_inputs = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return rows, rejects, clip_inputs
