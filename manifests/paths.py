"""Which paths a manifest may hold, one rule for every reader: the manifest-path rule
(:func:`path_problem`: a relative POSIX path that stays inside the root, or a full URI) and the
root-escape rule (:func:`inside_root`: a local file, links followed, must resolve inside the
root). :func:`resolve_in_root` applies both to one value and gives the path to open (the
aperture kernel PNGs of the trainer); :func:`walk_inside` lists a folder by the escape rule (a
predictions folder, a real dataset's root); ``manifests.files`` adds the readable-file rule.
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


class WalkProblem(ValueError):
    """A folder :func:`walk_inside` cannot list by the rule: ``rel`` (the entry, relative to the
    start), ``kind`` (``"list"``: unreadable, ``"outside"``: a link resolving outside the root,
    ``"loop"``: a folder link back to one of its own ancestors) and ``detail``."""

    def __init__(self, rel: str, kind: str, detail: str = ""):
        self.rel, self.kind, self.detail = rel, kind, detail
        super().__init__(f"{rel}: {kind} {detail}".strip())


def walk_inside(real_start: str, real_root: str, skip=None) -> dict[str, str]:
    """Every non-folder entry under ``real_start`` (resolved) as ``{POSIX name relative to it:
    resolved path}``, links followed while they resolve inside ``real_root``; names starting
    with ``.`` are skipped at any depth, and so is any entry ``skip(rel_dir, entry)`` is true
    for. Raises :class:`WalkProblem`."""
    found: dict[str, str] = {}
    stack = [("", real_start, (real_start,))]  # (relative folder, real folder, real ancestors)
    while stack:
        rel_dir, real_dir, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(real_dir), key=lambda e: e.name)
        except OSError as e:
            raise WalkProblem(rel_dir, "list", f"({e.strerror or e})") from None
        for entry in entries:
            if entry.name.startswith(".") or (skip is not None and skip(rel_dir, entry)):
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            real = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
            if not inside_root(real, real_root):
                raise WalkProblem(rel, "outside", real)
            if is_dir_entry(entry):
                if real in ancestors:
                    raise WalkProblem(rel, "loop")
                stack.append((rel, real, (*ancestors, real)))
            else:
                found[rel] = real
    return found


def is_dir_entry(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a link loop or a vanished entry: read as a file, refused when read
        return False
