"""List input files (local folders, ``s3://``/``gs://`` prefixes) and cut them into shards.

Every input becomes an ``Entry(uri, size_bytes)``, or a ``Rejected(uri, reason, detail)`` when
the listing itself must turn it down. Local files get RFC 8089 ``file://`` URIs (absolute,
percent-encoded by ``infra.uri.file_uri``: any name, non-UTF-8 bytes included, round-trips),
object-store files keep their ``s3://bucket/key`` form, so a manifest row always names its source
without depending on the output folder. The listing is sorted by URI and cut into consecutive
shards of ``shard_size``: shard ``k`` is ``entries[k·size : (k+1)·size]``, deterministic for a
given listing, so a re-run finds the same shards and skips the finished ones. Hidden files (a
name starting with ``.``) are never listed; files whose extension is not in the configured list
are counted as ``ignored`` and not treated as inputs.

Local folders are walked with ``os.scandir`` on bytes paths (pyarrow's selectors fail on names
that are not UTF-8). Links are followed only to a target whose real path lies inside the real
path of one of the given local inputs (the *roots*); every real file is listed once, under its
real path's URI (a link to a file of the root and the file itself are one input; hard links,
two names of one inode, stay two inputs). What the walk cannot follow is an input rejected at
stage ``list``: a link whose target leaves the roots (``link_outside_root``, never read), a
dangling link (``broken_link``), a link that loops (``link_loop``: ELOOP, or a folder link to a
folder that contains it, e.g. ``ln -s . loop``; the folder's files are listed once through
their real paths), a FIFO, socket or device (``not_a_file``) and a sub-folder that cannot be read
(``unreadable``). Folders (and folder links) are walked whatever their name; any other name
(a file, a file link, a dangling or looping link, a FIFO) is an input only when the hidden-file
and extension rules keep its own name. A folder link to a folder inside the roots that is walked
anyway is no input (its files are listed once, under their real paths).

Object stores are listed through ``pyarrow.fs`` (a prefix has no links); credentials come from
the standard environment and config files, never from a URI here. URIs are resolved and read by
``infra.uri``. Imports pyarrow and ``infra`` only.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes

import pyarrow.fs as pafs

from infra.uri import file_uri, read_bytes, resolve_filesystem, to_uri
from manifests.paths import inside_root


class ListingError(ValueError):
    """An input that cannot be listed; ``str()`` is one line naming it and the reason."""


@dataclass(frozen=True, slots=True)  # a listing may hold millions
class Entry:
    uri: str
    size_bytes: int


@dataclass(frozen=True)
class Rejected:
    """An input the listing turns down (stage ``list``): ``reason`` from
    ``manifests.REJECT_REASONS``, ``detail`` one line."""

    uri: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Listing:
    entries: list[Entry]
    ignored: int  # files skipped because of their extension
    rejects: list[Rejected] = field(default_factory=list)  # sorted by URI

    @property
    def n_inputs(self) -> int:
        """Inputs of the job: listed files plus the listing's own rejects."""
        return len(self.entries) + len(self.rejects)


def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path)`` for a ``file://``, ``s3://`` or ``gs://`` URI or a local path
    (:func:`infra.uri.resolve_filesystem`; a location it cannot open is a ListingError)."""
    try:
        return resolve_filesystem(uri)
    except (ValueError, OSError) as e:
        raise ListingError(f"{uri}: cannot open this location ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _wanted(name: str, extensions: set[str]) -> bool:
    if not extensions:
        return True
    return name.rsplit(".", 1)[-1].lower() in extensions if "." in name else False


def list_inputs(inputs: list[str], extensions: list[str] | tuple[str, ...] = ()) -> Listing:
    """Recursively list every input (folder, prefix or single file), sorted and deduplicated;
    local links and special files as the module doc says. Holds the whole listing in memory
    (the job spills it to disk instead: ``curate.spill``)."""
    found: dict[str, Entry] = {}
    ignored, rejects = scan_inputs(inputs, extensions, lambda e: found.setdefault(e.uri, e))
    return Listing(sorted(found.values(), key=lambda e: e.uri), ignored, rejects)


def scan_inputs(
    inputs: list[str], extensions: list[str] | tuple[str, ...], emit: Callable[[Entry], object]
) -> tuple[int, list[Rejected]]:
    """Walk every input, calling ``emit`` with each file found, in no particular order; a file
    may come twice (one URI: listed directly and through a link, or under two given inputs), so
    the caller keeps the first of each URI. Returns ``(ignored count, rejects sorted by URI)``.
    Keeps no per-file state beyond the files reached through links or given as files."""
    exts = {e.lower().lstrip(".") for e in extensions}
    located = [(given, *filesystem_for(given)) for given in inputs]
    local = _LocalWalk(exts, emit)
    for given, fs, path in located:
        if isinstance(fs, pafs.LocalFileSystem):
            local.add_root(given, path)
    ignored = 0
    for given, fs, path in located:
        if isinstance(fs, pafs.LocalFileSystem):
            local.walk(given, path)
            continue
        for entry in _list_store(given, fs, path, exts):
            if entry is None:
                ignored += 1
            else:
                emit(entry)
    rejects = sorted(local.rejected.values(), key=lambda r: r.uri)
    return ignored + local.n_ignored(), rejects


def _list_store(given: str, fs: pafs.FileSystem, path: str, exts: set[str]):
    """An object-store prefix or key: an ``Entry`` per wanted file, ``None`` per ignored one."""
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            infos = [info]
        else:  # a prefix (object stores have no folders to find)
            infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except OSError as e:
        raise ListingError(f"{given}: cannot list ({_first_line(e)})") from None
    for i in infos:
        if i.type != pafs.FileType.File or i.base_name.startswith("."):
            continue
        if not _wanted(i.base_name, exts):
            yield None
            continue
        yield Entry(to_uri(fs, i.path, like=given), int(i.size or 0))


def _shown(path: bytes) -> str:
    """A path for a one-line detail: printable, bytes that are not UTF-8 as ``\\xNN``."""
    return path.decode("utf-8", "backslashreplace")


_SPECIAL = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _kind(mode: int) -> str:
    return _SPECIAL.get(stat.S_IFMT(mode), "not a regular file")


class _LocalWalk:
    """The walk over local roots (bytes paths); see the module doc for the rules. Files go to
    ``emit`` as they are found; what the walk keeps grows with the folders, the links and the
    rejects, not with the files of the folders."""

    def __init__(self, exts: set[str], emit: Callable[[Entry], object]):
        self.exts = exts
        self.exts_bytes = {os.fsencode(e) for e in exts}
        self.emit = emit
        self.roots: list[bytes] = []  # real paths of the given local inputs
        self.rejected: dict[str, Rejected] = {}  # uri -> reject
        self.n_ignored_children = 0  # files of walked folders skipped by extension
        self.ignored: set[bytes] = set()  # other paths skipped by extension (links, given files)
        self.linked: set[bytes] = set()  # real paths of files found through a link or given
        self.visited: set[tuple[int, int]] = set()  # (device, inode) of walked folders
        self.walked: set[bytes] = set()  # real paths of walked folders

    def n_ignored(self) -> int:
        """Paths skipped by extension, less the files listed anyway (through a link): counted
        from the walk's counter and its few kept paths (see :meth:`_ignored_child`)."""
        linked_ignored = sum(self._ignored_child(p) for p in self.linked)
        others = self.ignored - self.linked
        return (
            self.n_ignored_children
            - linked_ignored
            + len(others)
            - sum(self._ignored_child(p) for p in others)
        )

    def _ignored_child(self, path: bytes) -> bool:
        """True when the walk counted ``path`` in ``n_ignored_children``: a plain file (no link,
        no folder) of a walked folder whose name the extension rule skips."""
        folder, name = os.path.split(path)
        if folder not in self.walked or name.startswith(b".") or self._ext_kept(name):
            return False
        try:
            return not stat.S_ISDIR(os.lstat(path).st_mode) and not os.path.islink(path)
        except OSError:
            return False

    def add_root(self, given: str, path: str) -> None:
        real = os.path.realpath(os.fsencode(path))
        if os.path.exists(real):
            self.roots.append(real)

    def _inside_roots(self, real: bytes) -> bool:
        return any(inside_root(real, r) for r in self.roots)

    def _ext_kept(self, name: bytes) -> bool:
        _, dot, ext = name.rpartition(b".")
        return not self.exts or bool(dot) and ext.lower() in self.exts_bytes

    def _name_kept(self, path: bytes, name: bytes | None = None) -> bool:
        """The hidden-file and extension rules on a (non-folder) name; counts the ignored (a
        ``name`` given: ``path`` is a plain file of a walked folder, counted without keeping
        its path)."""
        child, name = name is not None, os.path.basename(path) if name is None else name
        if name.startswith(b"."):
            return False
        if not self._ext_kept(name):
            if child:
                self.n_ignored_children += 1
            else:
                self.ignored.add(path)
            return False
        return True

    def _reject(self, path: bytes, reason: str, detail: str) -> None:
        uri = file_uri(path)
        self.rejected.setdefault(uri, Rejected(uri, reason, " ".join(detail.split())))

    def _add_linked(self, real: bytes, size: int) -> None:
        """A file reached through a link or given as a file (it may also be listed directly)."""
        self.linked.add(real)
        self.emit(Entry(file_uri(real), int(size)))

    def walk(self, given: str, path: str) -> None:
        """List one given local input (a folder or a single file)."""
        raw = os.fsencode(path)
        try:
            st = os.stat(raw)
        except FileNotFoundError:
            raise ListingError(f"{given}: no such file or folder") from None
        except OSError as e:
            raise ListingError(f"{given}: cannot list ({e.strerror})") from None
        real = os.path.realpath(raw)
        if stat.S_ISDIR(st.st_mode):
            self._walk_folder(given, real, st)
        elif not self._name_kept(raw):  # the rules see the name given
            return
        elif stat.S_ISREG(st.st_mode):
            self._add_linked(real, st.st_size)
        else:
            self._reject(raw, "not_a_file", f"{_kind(st.st_mode)}, not a file with bytes to read")

    def _walk_folder(self, given: str, root: bytes, root_stat: os.stat_result) -> None:
        stack = [(root, root_stat)]
        while stack:
            folder, st = stack.pop()
            if (st.st_dev, st.st_ino) in self.visited:
                continue
            self.visited.add((st.st_dev, st.st_ino))
            try:
                with os.scandir(folder) as it:
                    children = list(it)
                self.walked.add(folder)
            except OSError as e:
                if folder == root:
                    raise ListingError(f"{given}: cannot list ({e.strerror})") from None
                self._reject(folder, "unreadable", f"folder cannot be listed ({e.strerror})")
                continue
            prefix = file_uri(folder)  # encoded once per folder
            prefix += "" if prefix.endswith("/") else "/"  # the folder "/" is "file:///"
            for child in children:
                sub = self._child(folder, child, prefix)
                if sub is not None:
                    stack.append(sub)

    def _child(self, folder: bytes, child: os.DirEntry, prefix: str):
        """Handle one name in ``folder`` (a real path, whose URI + ``/`` is ``prefix``); returns
        ``(real folder, its stat)`` to walk, or None."""
        path = child.path
        try:
            if not child.is_symlink():
                st = child.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    return path, st
                if not self._name_kept(path, child.name):
                    return None
                if stat.S_ISREG(st.st_mode):
                    self.emit(Entry(prefix + quote_from_bytes(child.name), int(st.st_size)))
                else:
                    self._reject(path, "not_a_file", f"{_kind(st.st_mode)}, not a file")
                return None
        except FileNotFoundError:  # removed while listing: not an input any more
            return None
        except OSError as e:
            if self._name_kept(path):
                self._reject(path, "unreadable", f"cannot stat ({e.strerror})")
            return None
        return self._link(folder, path)

    def _link(self, folder: bytes, path: bytes):
        try:
            st = os.stat(path)
        except OSError as e:
            if not self._name_kept(path):
                return None
            try:
                target = _shown(os.readlink(path))
            except OSError:
                target = "?"
            if e.errno == errno.ELOOP:
                self._reject(path, "link_loop", f"link to {target} loops (too many levels)")
            elif e.errno in (errno.ENOENT, errno.ENOTDIR):
                self._reject(path, "broken_link", f"dangling link to {target} (no such file)")
            else:
                self._reject(path, "unreadable", f"link to {target}: {e.strerror}")
            return None
        real = os.path.realpath(path)
        if stat.S_ISDIR(st.st_mode):
            if not self._inside_roots(real):
                self._reject(
                    path,
                    "link_outside_root",
                    f"link to the folder {_shown(real)}, outside the input folder(s); "
                    "give it as its own --input to include it",
                )
            elif inside_root(folder, real):
                self._reject(
                    path,
                    "link_loop",
                    f"link to {_shown(real)}, a folder that contains it (its files are listed "
                    "once, under their real paths)",
                )
            else:
                return real, st
            return None
        if not self._name_kept(path):
            return None
        if not self._inside_roots(real):
            self._reject(
                path,
                "link_outside_root",
                f"link to {_shown(real)}, outside the input folder(s); not read",
            )
        elif stat.S_ISREG(st.st_mode):
            self._add_linked(real, st.st_size)
        else:
            self._reject(path, "not_a_file", f"link to {_kind(st.st_mode)}, not a file")
        return None


def read_head(uri: str, n_bytes: int, fs_cache: dict | None = None) -> bytes:
    """The first ``n_bytes`` of a file (one ranged read on object stores); ``fs_cache`` keeps
    one filesystem per bucket across a shard's files."""
    return read_bytes(uri, n_bytes, fs_cache=fs_cache)


def read_all(uri: str, fs_cache: dict | None = None) -> bytes:
    return read_bytes(uri, fs_cache=fs_cache)
