"""Paths and URIs, one implementation for every stage: what is a URI, which filesystem opens it,
and how its bytes are read.

A URI has a scheme (``s3://bucket/key``, ``gs://bucket/key``, ``file:///abs/path``); anything
else is a local path, made absolute. A ``file://`` URI is RFC 8089, like
``pathlib.Path.as_uri``: ``"file://"`` followed by the absolute path's bytes percent-encoded
(every byte but ``A-Z a-z 0-9 _ . - ~ /``), so that any name a filesystem allows (a space, ``%``,
``#``, ``?``, a newline, bytes that are not UTF-8) is plain ASCII in a manifest and decodes back
to the same bytes: :func:`file_uri` writes one, :func:`file_path` reads one (a ``str`` path, with
the bytes that are not UTF-8 as surrogate escapes, ``os.fsdecode``). Manifests written before
this convention hold the raw path after ``file://``; the manifest readers convert those when they
read an older part (:func:`encode_raw_file_uri`, ``manifests.schemas.FILE_URIS_ENCODED_SINCE``).
Object-store URIs keep their ``scheme://bucket/key`` form as the store lists it and go through
``pyarrow.fs.FileSystem.from_uri``; credentials come from the standard environment and config
files, never from the URI. :func:`join_root` makes a manifest's relative path absolute (which
paths a manifest may hold is ``manifests.paths``' rule). Imports pyarrow only.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from urllib.parse import quote_from_bytes, unquote_to_bytes

import pyarrow.fs as pafs

FILE_SCHEME = "file://"
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_uri(text) -> bool:
    """True when ``text`` starts with a scheme and ``://`` (``s3://``, ``gs://``, ``file://``)."""
    return _SCHEME.match(str(text)) is not None


def file_uri(path: str | bytes | os.PathLike) -> str:
    """The RFC 8089 ``file://`` URI of an absolute local path (``str`` or ``bytes``): its bytes
    percent-encoded, as ``pathlib.Path.as_uri`` does; :func:`file_path` is the inverse."""
    raw = os.fsencode(path)
    if not raw.startswith(b"/"):
        raise ValueError(f"{os.fsdecode(raw)!r}: a file:// URI needs an absolute path")
    return FILE_SCHEME + quote_from_bytes(raw, safe="/")


def file_path(uri: str) -> str:
    """The local path a ``file://`` URI names: its percent-escapes decoded to bytes, returned as
    ``os.fsdecode`` gives them (bytes that are not UTF-8 become surrogate escapes, which ``open``
    and ``os.stat`` turn back into the same bytes). ``ValueError`` unless it is ``file:///...``."""
    text = str(uri)
    if not text.startswith(FILE_SCHEME):
        raise ValueError(f"{text}: not a file:// URI")
    path = os.fsdecode(unquote_to_bytes(text[len(FILE_SCHEME) :]))
    if not path.startswith("/"):
        raise ValueError(f"{text}: a file:// URI needs an absolute path (file:///abs/path)")
    return path


def encode_raw_file_uri(value: str) -> str:
    """A ``file://`` URI of a manifest written before RFC 8089 encoding (``"file://"`` + the raw
    absolute path, ``%`` and spaces as they are) in today's encoded form; any other value (a
    relative path, ``s3://...``, a malformed ``file://`` value) is returned as it is."""
    if not isinstance(value, str) or not value.startswith(FILE_SCHEME + "/"):
        return value
    return file_uri(value[len(FILE_SCHEME) :])


def resolve_filesystem(path_or_uri, cache: dict | None = None) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path)`` for a local path or a URI; the path has no trailing ``/``.

    ``cache`` (a dict the caller keeps, e.g. one per shard) holds one object-store filesystem per
    ``scheme://bucket``, so that many files of a bucket cost one ``from_uri`` (which may look up
    the bucket's region); with it the path is what follows ``scheme://`` (``bucket/key``).
    Raises ``ValueError`` for a malformed URI and ``OSError`` when the store cannot be reached.
    """
    text = str(path_or_uri)
    if text.startswith(FILE_SCHEME):
        return pafs.LocalFileSystem(), file_path(text).rstrip("/") or "/"
    if not is_uri(text):
        return pafs.LocalFileSystem(), os.path.abspath(text)
    if cache is None:
        fs, path = pafs.FileSystem.from_uri(text)
        return fs, path.rstrip("/")
    scheme, rest = text.split("://", 1)
    key = f"{scheme}://{rest.split('/', 1)[0]}"
    if key not in cache:
        cache[key] = pafs.FileSystem.from_uri(text)[0]
    return cache[key], rest.rstrip("/")


def to_uri(fs: pafs.FileSystem, path: str, like: str) -> str:
    """The URI of ``path`` on ``fs``: :func:`file_uri` on the local filesystem, else the scheme
    of ``like`` (the URI ``fs`` came from) + path. The inverse of :func:`resolve_filesystem`."""
    if isinstance(fs, pafs.LocalFileSystem):
        return file_uri(path)
    return f"{str(like).split('://', 1)[0]}://{path}"


def join(root, *names: str) -> str:
    """``names`` under ``root`` in the root's own style: ``/``-joined after a URI (each name
    percent-encoded after a ``file://`` root), else ``os.path.join``."""
    text = str(root)
    if text.startswith(FILE_SCHEME):
        return "/".join([text.rstrip("/"), *(_quote(n) for n in names)])
    if is_uri(text):
        return "/".join([text.rstrip("/"), *names])
    return os.path.join(text, *names)


def join_root(path: str, root: str | None) -> str:
    """A manifest path made absolute: full URIs (and absolute local paths) stay as they are,
    relative ones are joined to the manifest ``root`` (a local folder or a URI; after a
    ``file://`` root the relative path is percent-encoded, so the result reads the same file)."""
    if is_uri(path) or root is None or path.startswith("/"):
        return path
    if root.startswith(FILE_SCHEME):
        return f"{root.rstrip('/')}/{_quote(path)}"
    return f"{root.rstrip('/')}/{path}"


def _quote(name: str) -> str:
    return quote_from_bytes(os.fsencode(name), safe="/")


# The most any reader takes from one file in one read (a photo, a depth map, a kernel, a JSON
# file): a huge or endless file (``/dev/zero`` named in a manifest) is refused before a byte is
# read, not read until memory runs out. Callers that know their files pass a smaller cap.
MAX_READ_BYTES = 1 << 30


class UnsafeFileError(OSError):
    """A file the readers refuse to read: not a regular file, or over the size cap. ``strerror``
    is the one-line reason (callers print ``e.strerror``, as for the filesystem's errors)."""


def read_bytes(
    path_or_uri,
    n_bytes: int | None = None,
    *,
    fs_cache: dict | None = None,
    max_bytes: int = MAX_READ_BYTES,
) -> bytes:
    """The bytes of a local path or URI: all of them, or the first ``n_bytes`` (one ranged read
    on object stores). ``fs_cache`` is :func:`resolve_filesystem`'s ``cache``.

    Every reader of a file a manifest, a folder or a user names comes through here, so the same
    rules hold for every stage before a byte is read: the path must be a regular file (a FIFO
    would hang the reader, a device never ends: both are refused without blocking, the local file
    being opened ``O_NONBLOCK`` and checked with ``fstat``), and a whole read is refused when
    the file is larger than ``max_bytes`` (:class:`UnsafeFileError`). Other errors are the
    filesystem's own: ``OSError`` (``FileNotFoundError``, ...), ``ValueError`` for a malformed
    URI."""
    text = str(path_or_uri)
    if text.startswith(FILE_SCHEME) or not is_uri(text):  # local: no filesystem object needed
        fs, path = None, file_path(text) if text.startswith(FILE_SCHEME) else text
    else:
        fs, path = resolve_filesystem(text, fs_cache)
    limit = max_bytes if n_bytes is None else min(n_bytes, max_bytes)
    if fs is None or isinstance(fs, pafs.LocalFileSystem):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            _check_regular(stat.S_ISREG(st.st_mode), st.st_size, n_bytes, max_bytes)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + (n_bytes is None))
    else:
        # open_input_file costs one HEAD on object stores, as open_input_stream does: the size
        # comes with it. Objects are always "regular files"; a missing one is FileNotFoundError.
        with fs.open_input_file(path) as f:
            if n_bytes is None:
                _check_regular(True, f.size(), None, max_bytes)
            data = f.read(limit + (n_bytes is None))
    if n_bytes is None and len(data) > max_bytes:  # it grew while we read it
        raise UnsafeFileError(errno.EFBIG, f"larger than the {size_text(max_bytes)} read limit")
    return data


def _check_regular(regular: bool, size: int, n_bytes: int | None, max_bytes: int) -> None:
    if not regular:
        raise UnsafeFileError(errno.EINVAL, "not a regular file (a folder, FIFO or device)")
    if n_bytes is None and size > max_bytes:
        raise UnsafeFileError(
            errno.EFBIG, f"{size_text(size)}, larger than the {size_text(max_bytes)} read limit"
        )


def size_text(n: int) -> str:
    """A byte count for people: ``12 KiB``, ``300 MiB``, ``2.0 GiB``."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    return (
        f"{n / (1 << 20):.0f} MiB"
        if n >= 1 << 20
        else f"{n / 1024:.0f} KiB"
        if n >= 1024
        else f"{n} B"
    )
