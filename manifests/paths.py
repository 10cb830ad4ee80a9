"""Which paths a manifest may hold, one rule for every reader: the manifest-path rule
(:func:`path_problem`: a relative POSIX path that stays inside the root, or a full URI) and the
root-escape rule (:func:`inside_root`: a local file, links followed, must resolve inside the
root). :func:`resolve_in_root` applies both to one value and gives the path to open (the
aperture kernel PNGs of the trainer); ``manifests.files`` adds the readable-file rule.
Imports ``infra.uri`` only.
"""

from __future__ import annotations

import os
import posixpath
import re

from infra.uri import is_uri, join_root


def inside_root(real: str | bytes, real_root: str | bytes | None) -> bool:
    """The root-escape rule: ``real`` (a resolved local path, links followed) lies inside
    ``real_root`` (the resolved manifest or input root; None: no local root, nothing is
    inside). ``str`` or ``bytes`` paths (curate's listing walks bytes), both the same."""
    return real_root is not None and os.path.commonpath([real, real_root]) == real_root


def resolve_in_root(value: str, root: str | None) -> str:
    """``value`` (a path column's value) as the path or URI to open, against ``root``
    (:func:`infra.uri.join_root`); ``ValueError`` (one line naming the file) when it breaks the
    manifest-path rule or, local, resolves outside the root (links followed)."""
    why = path_problem(str(value))
    if why:
        raise ValueError(f"{value!r} {why}")
    full = join_root(str(value), root)
    if root is not None and not is_uri(str(value)) and not is_uri(str(root)):
        real = os.path.realpath(full)
        if not inside_root(real, os.path.realpath(root)):
            raise ValueError(f"{full} resolves outside the manifest root {root} (to {real})")
    return full


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
