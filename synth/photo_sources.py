"""The 2.5-D route's sources: all-in-focus images, their depth, and why one cannot serve.

``--photos`` names one of three kinds of source, listed by :func:`list_sources` in a fixed order:

- a ``real_photos`` manifest (curate's output; validated where it is read). Its rows give the
  photo, its EXIF lens and sensor, its split, curate's ``all_in_focus`` verdict and, where the
  row has one, a ground-truth ``depth_path``;
- a ``synthetic_pairs`` manifest (a path-traced set): one source per scene, its AIF render and
  true depth, with the scene's rows, whose focus, K and aperture the twin pairs can reuse;
- a folder of images (recursive, sorted, hidden names skipped; links followed only inside it),
  each with an optional depth sidecar beside it: ``NAME.depth.npy`` (metres) or
  ``NAME.depth.png`` (16-bit, ``photos.depth_png_scale_m`` metres per unit).

A source without depth takes the depth model's (``--depth-model``, a local transformers folder);
without one it is rejected (``no_depth``). :func:`read_depth` checks a depth map the way the
trainer would need it: a 2-D map of the image's aspect (within 1 %), no NaN and no negative
value, some finite positive depth, and not constant (nothing to defocus). Zeros (a sensor's "no
measurement") and infinities are read as infinitely far. Every failure is a
:class:`SourceReject`: a manifest reason and one line naming the file.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from infra.images import MAX_PHOTO_BYTES
from infra.uri import file_path, file_uri, is_uri, join_root, read_bytes

DEPTH_SUFFIXES = (".depth.npy", ".depth.png")
MAX_DEPTH_BYTES = 1 << 30  # a float32 depth map of 268 MP
MIN_VALID_SHARE = 0.01  # at least this share of the pixels has a finite positive depth
ASPECT_TOLERANCE = 0.01


class SourceReject(Exception):
    """A source that cannot be rendered: ``stage`` and ``reason`` (``manifests.REJECT_*``) and a
    one-line ``detail`` naming the file."""

    def __init__(self, stage: str, reason: str, detail: str):
        super().__init__(detail)
        self.stage, self.reason, self.detail = stage, reason, detail


@dataclass(frozen=True)
class Source:
    """One source image: ``uri`` (absolute), its depth file (None: the depth model's), the split
    it keeps (None: drawn from its content hash), its lens and sensor (None: unknown), curate's
    ``all_in_focus`` (None: measured here), the path-traced rows of a rendered scene, and a
    listing problem ``(reason, detail)`` that rejects it before anything is read."""

    uri: str
    depth_uri: str | None = None
    split: str | None = None
    focal_length_mm: float | None = None
    sensor_width_mm: float | None = None
    all_in_focus: bool | None = None
    rows: tuple = field(default=(), compare=False)
    problem: tuple[str, str] | None = None

    @property
    def rendered(self) -> bool:
        """A path-traced scene (a ``synthetic_pairs`` source)."""
        return bool(self.rows)


def source_json(source: Source) -> str:
    """A source as JSON (a Ray Data item carries its own source)."""
    return json.dumps(asdict(source))


def source_from_json(text: str) -> Source:
    d = json.loads(text)
    d["rows"] = tuple(d["rows"])
    d["problem"] = tuple(d["problem"]) if d["problem"] is not None else None
    return Source(**d)


def _schema_of(source: str) -> str | None:
    path = Path(source)
    for name in ("synthetic_pairs", "real_photos"):
        if path.name == name or (path / name).is_dir():
            return name
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.read_schema(path).metadata or {}
        except (OSError, ValueError):
            return None
        name = meta.get(b"refocus.schema", b"").decode()
        return name if name in ("synthetic_pairs", "real_photos") else None
    return None


def list_sources(source: str) -> list[Source]:
    """The sources ``--photos`` names (module docstring), in a fixed order. ``ValueError``
    (one line) for a source that is none of the three, an unreadable manifest or an empty folder.
    """
    text = str(source)
    if is_uri(text) and not text.startswith("file://"):
        raise ValueError(f"--photos {text}: object stores are read as manifests only; not yet")
    local = file_path(text) if text.startswith("file://") else os.path.expanduser(text)
    if not os.path.exists(local):
        raise ValueError(f"--photos {text}: no such folder or manifest")
    schema = _schema_of(local)
    if schema is not None:
        return _manifest_sources(local, schema)
    if not os.path.isdir(local):
        raise ValueError(f"--photos {text}: not a folder of images or a manifest")
    return _folder_sources(Path(local))


def _manifest_sources(source: str, schema: str) -> list[Source]:
    from manifests.files import file_problem
    from manifests.io import ManifestError
    from manifests.validate import read_valid_table

    try:
        table, loc = read_valid_table(source, schema, ())
    except ManifestError as e:
        raise ValueError(f"--photos {source}: {e}") from None
    root = str(Path(loc.root).resolve())
    rows = table.to_pylist()

    def located(value: str | None) -> tuple[str | None, str | None]:
        if value is None:
            return None, None
        why = file_problem(value, root)
        full = join_root(value, root)
        return (full if is_uri(full) else file_uri(full)), why

    if schema == "real_photos":
        out = []
        for row in rows:
            uri, why = located(row["uri"])
            depth, depth_why = located(row.get("depth_path"))
            problem = ("unreadable", f"{uri}: {why}") if why else None
            if problem is None and depth_why:
                problem = ("bad_depth", f"{depth}: {depth_why}")
            out.append(
                Source(
                    uri,
                    depth,
                    row["split"],
                    row.get("focal_length_mm"),
                    row.get("sensor_width_mm"),
                    row.get("all_in_focus"),
                    problem=problem,
                )
            )
        return sorted(out, key=lambda s: s.uri)
    scenes: dict[tuple, list[dict]] = {}
    for row in rows:
        scenes.setdefault((row["dataset_id"], row["scene_id"]), []).append(row)
    out = []
    for key in sorted(scenes):
        scene = sorted(scenes[key], key=lambda r: r["render_id"])
        first = scene[0]
        uri, why = located(first["aif_path"])
        depth, depth_why = located(first["depth_path"])
        problem = ("unreadable", f"{uri}: {why}") if why else None
        if problem is None and depth_why:
            problem = ("bad_depth", f"{depth}: {depth_why}")
        rows_here = tuple(
            {k: v for k, v in r.items() if not k.endswith("_path") or k == "aperture_kernel_path"}
            | {"_root": root}
            for r in scene
        )
        out.append(
            Source(
                uri,
                depth,
                first["split"],
                first["focal_length_mm"],
                first["sensor_width_mm"],
                True,
                rows=rows_here,
                problem=problem,
            )
        )
    return out


def _folder_sources(folder: Path) -> list[Source]:
    from synth.pool import folder_images

    uris, skipped = folder_images(folder)
    root = folder.resolve()
    out = []
    for uri in uris:
        path = Path(file_path(uri))
        if path.name.lower().endswith(DEPTH_SUFFIXES):  # a depth sidecar, not a source
            continue
        depth, problem = None, None
        for suffix in DEPTH_SUFFIXES:
            side = path.with_name(path.name.rsplit(".", 1)[0] + suffix)
            if side.exists() or side.is_symlink():
                try:
                    real = side.resolve(strict=True)
                except (OSError, RuntimeError) as e:
                    problem = ("bad_depth", f"{file_uri(side)}: unreadable ({e})")
                    break
                if root not in real.parents:
                    problem = ("bad_depth", f"{file_uri(side)}: a link outside {root}")
                    break
                depth = file_uri(side)
                break
        out.append(Source(uri, depth, problem=problem))
    for uri, why in skipped:
        if uri.lower().endswith(DEPTH_SUFFIXES):
            continue
        reason, _, detail = why.partition(" ")
        reason = {"outside_root": "link_outside_root"}.get(reason, reason)
        if reason == "not_a_file" and "dangling" in detail:
            reason = "broken_link"
        elif reason == "not_a_file" and "loop" in detail:
            reason = "link_loop"
        out.append(Source(uri, problem=(reason, f"{uri}: {detail.strip('()') or why}")))
    if not out:
        raise ValueError(f"--photos {folder}: no images in it")
    return sorted(out, key=lambda s: s.uri)


def read_source_bytes(uri: str) -> bytes:
    """The bytes of a source image (at most ``MAX_PHOTO_BYTES``) or an ``unreadable`` reject."""
    try:
        return read_bytes(uri, max_bytes=MAX_PHOTO_BYTES)
    except (OSError, ValueError) as e:
        raise SourceReject("decode", "unreadable", f"{uri}: cannot read ({e})") from None


def read_depth(uri: str, image_hw: tuple[int, int], png_scale_m: float) -> np.ndarray:
    """The depth map (metres, float32; ``inf`` for far or unmeasured) of a source whose oriented
    image is ``image_hw``, at its own resolution; a :class:`SourceReject` naming ``uri``."""

    def bad(why: str) -> SourceReject:
        return SourceReject("depth", "bad_depth", f"{uri}: {why}")

    try:
        data = read_bytes(uri, max_bytes=MAX_DEPTH_BYTES)
    except (OSError, ValueError) as e:
        raise bad(f"cannot read ({e})") from None
    if uri.lower().endswith(".npy"):
        from infra.npy import npy_from_bytes

        try:
            depth = np.asarray(npy_from_bytes(data, uri))
        except (ValueError, OSError) as e:
            raise bad(str(e).removeprefix(f"{uri}: ")) from None
        if depth.dtype.kind not in "fiu":
            raise bad(f"dtype {depth.dtype} is not a number")
        depth = depth.astype(np.float64)
    else:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.mode not in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
                    raise bad(
                        f"an image of mode {im.mode} cannot hold depth: use a 16-bit PNG "
                        "(photos.depth_png_scale_m metres per unit) or a .npy in metres"
                    )
                depth = np.asarray(im, dtype=np.float64)
        except SourceReject:
            raise
        except (OSError, ValueError, SyntaxError) as e:
            raise bad(f"not a readable image ({e})") from None
        if not uri.lower().endswith(".exr"):
            depth = depth * png_scale_m
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2 or min(depth.shape) < 1:
        raise bad(f"shape {depth.shape} is not a 2-D map")
    h, w = image_hw
    if abs(depth.shape[1] / depth.shape[0] - w / h) > ASPECT_TOLERANCE * (w / h):
        raise bad(f"size {depth.shape[1]}×{depth.shape[0]} does not match the image's {w}×{h}")
    nan = int(np.isnan(depth).sum())
    if nan:
        raise bad(f"{nan} NaN value(s)")
    if (depth < 0).any():
        raise bad(f"{int((depth < 0).sum())} negative depths")
    depth = np.where(depth == 0, np.inf, depth)
    finite = depth[np.isfinite(depth)]
    if finite.size < MIN_VALID_SHARE * depth.size:
        raise bad(f"only {finite.size} of {depth.size} pixels have a finite depth")
    if finite.max() <= finite.min() * (1 + 1e-6) and finite.size == depth.size:
        raise bad(f"constant depth {finite.min():g} m: nothing to defocus")
    return depth.astype(np.float32)
