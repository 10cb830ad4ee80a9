"""The readable-file rule of manifest readers: :func:`file_problems` (a table's path columns)
and :func:`file_problem` (one value) say why a reader may not open a file a row names: the
manifest-path and root-escape rules of ``manifests.paths``, then a regular, readable file under
the read limit, and for images a header within the decode limits (``infra.images``).
"""

from __future__ import annotations

import os
import stat

import pyarrow as pa

from infra.uri import FILE_SCHEME, MAX_READ_BYTES, is_uri, resolve_filesystem, size_text
from manifests.paths import inside_root, path_problem
from manifests.schemas import Problem

# Columns naming images a stage decodes: with --files their headers are judged too.
IMAGE_COLUMNS = ("aif_path", "bokeh_path", "bokeh_jpeg_path", "aperture_kernel_path", "uri")


def file_problems(
    table: pa.Table, columns, root: str | None, source: str, images: bool = False
) -> list[Problem]:
    """Per column of ``columns`` (those ``table`` has), the first file a reader could not open,
    with how many there are: a relative path must resolve, links followed, to a regular,
    readable file inside ``root`` (the manifest root, a local absolute path); a ``file://`` URI
    must be well-formed and name a regular, readable file anywhere (curate writes the absolute
    URIs of the photos it crawled, which lie outside its manifest). Objects in a store
    (``s3://``, relative paths under an object-store root, ``root=None``) are not checked here;
    reading them fails with the store's error. ``images``: the files of ``IMAGE_COLUMNS`` must
    also be images whose header passes ``infra.images.header_problem``."""
    problems = []
    real_root = os.path.realpath(root) if root is not None else None
    folders: dict[str, str] = {}  # folder -> its real path: one realpath per folder, not per file
    for name in columns:
        if name not in table.column_names:
            continue
        first, bad = None, 0
        for i, value in enumerate(table.column(name).to_pylist()):
            why = (
                None
                if value is None
                else _file_problem(
                    str(value), root, real_root, folders, images and name in IMAGE_COLUMNS
                )
            )
            if why:
                first, bad = first or f"row {i}: {why}", bad + 1
        if bad:
            more = f" ({bad} bad file(s) in this column)" if bad > 1 else ""
            problems.append(Problem(source, f"column {name!r} {first}{more}"))
    return problems


def file_problem(value: str, root: str | None) -> str | None:
    """Why a reader may not open the file one manifest value names, or None: the rule of
    :func:`file_problems` for one value (for readers that skip a bad row, with its reason,
    instead of refusing the manifest: synth's photo pool)."""
    real_root = os.path.realpath(root) if root is not None else None
    return _file_problem(str(value), root, real_root, {})


def _file_problem(value: str, root, real_root, folders: dict, image=False) -> str | None:
    """``image``: the file is an image a stage decodes, so its header must pass the image rule
    every stage applies (``infra.images.header_problem``: the decompression-bomb limits)."""
    why = path_problem(value)  # again: extra columns (real_photos depth_path) have no schema rule
    if why:
        return f"{value!r} {why}"
    if value.startswith(FILE_SCHEME):
        try:
            _, full = resolve_filesystem(value)
        except ValueError as e:
            return str(e)
        shown = value  # the URI is shown: always printable ASCII
    elif is_uri(value) or root is None:
        return None
    else:
        shown = os.path.join(root, value)
        full = _real_path(shown, folders)
        if not inside_root(full, real_root):
            return f"{shown} resolves outside the manifest root {root} (to {full})"
    why = _not_a_readable_file(full, shown)
    if why is None and image:
        from infra.images import header_problem

        problem = header_problem(full)
        why = f"{shown}: {problem}" if problem else None
    return why


def _real_path(full: str, folders: dict) -> str:
    folder, base = os.path.split(full)
    if folder not in folders:
        folders[folder] = os.path.realpath(folder)
    real = os.path.join(folders[folder], base)
    return os.path.realpath(real) if base in ("", ".", "..") or os.path.islink(real) else real


def _not_a_readable_file(real: str, shown: str) -> str | None:
    try:
        st = os.stat(real)
    except FileNotFoundError:
        dangling = os.path.islink(shown) or os.path.islink(real)
        return f"{shown}: " + ("a dangling link" if dangling else "no such file")
    except OSError as e:
        return f"{shown}: cannot open ({e.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"{shown}: not a regular file"
    if st.st_size > MAX_READ_BYTES:
        limit = size_text(MAX_READ_BYTES)
        return f"{shown}: {size_text(st.st_size)}, larger than the {limit} read limit"
    if not os.access(real, os.R_OK):
        return f"{shown}: not readable (permission denied)"
    return None
