"""Paths and URIs, one implementation for every stage: what is a URI, which filesystem opens it,
how its bytes are read, and which paths a manifest may hold.

A URI has a scheme (``s3://bucket/key``, ``gs://bucket/key``, ``file:///abs/path``); anything
else is a local path, made absolute. A ``file://`` URI is ``"file://"`` followed by the absolute
path exactly as curate writes it (not percent-encoded: a space, ``#`` or ``%`` in a file name
stays as it is), so it is opened as that local path without URI parsing. Other schemes go through
``pyarrow.fs.FileSystem.from_uri``; credentials come from the standard environment and config
files, never from the URI. Paths inside a manifest are relative POSIX paths that stay inside the
manifest root, or full URIs (:func:`path_problem`); :func:`join_root` makes one absolute.
Imports pyarrow only.
"""

from __future__ import annotations

import os
import posixpath
import re

import pyarrow.fs as pafs

FILE_SCHEME = "file://"
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_uri(text) -> bool:
    """True when ``text`` starts with a scheme and ``://`` (``s3://``, ``gs://``, ``file://``)."""
    return _SCHEME.match(str(text)) is not None


def resolve_filesystem(path_or_uri, cache: dict | None = None) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path)`` for a local path or a URI; the path has no trailing ``/``.

    ``cache`` (a dict the caller keeps, e.g. one per shard) holds one object-store filesystem per
    ``scheme://bucket``, so that many files of a bucket cost one ``from_uri`` (which may look up
    the bucket's region); with it the path is what follows ``scheme://`` (``bucket/key``).
    Raises ``ValueError`` for a malformed URI and ``OSError`` when the store cannot be reached.
    """
    text = str(path_or_uri)
    if text.startswith(FILE_SCHEME):
        path = text[len(FILE_SCHEME) :]
        if not path.startswith("/"):
            raise ValueError(f"{text}: a file:// URI needs an absolute path (file:///abs/path)")
        return pafs.LocalFileSystem(), path.rstrip("/") or "/"
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
    """The URI of ``path`` on ``fs``: ``file://`` + path on the local filesystem, else the scheme
    of ``like`` (the URI ``fs`` came from) + path. The inverse of :func:`resolve_filesystem`."""
    if isinstance(fs, pafs.LocalFileSystem):
        return FILE_SCHEME + path
    return f"{str(like).split('://', 1)[0]}://{path}"


def join(root, *names: str) -> str:
    """``names`` under ``root`` in the root's own style: ``/``-joined after a URI, else
    ``os.path.join``."""
    text = str(root)
    if is_uri(text):
        return "/".join([text.rstrip("/"), *names])
    return os.path.join(text, *names)


def join_root(path: str, root: str | None) -> str:
    """A manifest path made absolute: full URIs (and absolute local paths) stay as they are,
    relative ones are joined to the manifest ``root`` (a local folder or a URI)."""
    if is_uri(path) or root is None or path.startswith("/"):
        return path
    return f"{root.rstrip('/')}/{path}"


def read_bytes(path_or_uri, n_bytes: int | None = None, *, fs_cache: dict | None = None) -> bytes:
    """The bytes of a local path or URI: all of them, or the first ``n_bytes`` (one ranged read
    on object stores). Local files are read with a plain ``open`` (the cheapest read).
    ``fs_cache`` is :func:`resolve_filesystem`'s ``cache``. Errors are the filesystem's own:
    ``OSError`` (``FileNotFoundError``, ...), ``ValueError`` for a malformed URI."""
    fs, path = resolve_filesystem(path_or_uri, fs_cache)
    if isinstance(fs, pafs.LocalFileSystem):
        with open(path, "rb") as f:
            return f.read() if n_bytes is None else f.read(n_bytes)
    if n_bytes is None:
        with fs.open_input_stream(path) as f:
            return f.read()
    with fs.open_input_file(path) as f:
        return f.read(n_bytes)


def path_problem(value: str) -> str | None:
    """Why ``value`` may not stand in a manifest's path column, or None when it may: a full URI
    (a scheme, ``://`` and more) or a relative POSIX path that does not escape the root."""
    if is_uri(value) and re.match(r"\S", value.split("://", 1)[1]):
        return None
    if value == "" or value.strip() != value:
        return "is empty or has surrounding spaces"
    if value.startswith("/") or re.match(r"^[a-zA-Z]:[\\/]", value) or "\\" in value:
        return "is absolute (use a path relative to the manifest root or a full URI)"
    norm = posixpath.normpath(value)
    if norm == ".." or norm.startswith("../"):
        return "escapes the manifest root"
    return None
