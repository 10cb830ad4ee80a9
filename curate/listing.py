"""List input files (local folders, ``s3://``/``gs://`` prefixes) and cut them into shards.

Every input becomes an ``Entry(uri, size_bytes)``. Local files get ``file://`` URIs (absolute),
object-store files keep their ``s3://bucket/key`` form, so a manifest row always names its source
without depending on the output folder. The listing is sorted by URI and cut into consecutive
shards of ``shard_size``: shard ``k`` is ``entries[k·size : (k+1)·size]``, deterministic for a
given listing, so a re-run finds the same shards and skips the finished ones. Hidden files (a
name starting with ``.``) are never listed; files whose extension is not in the configured list
are counted as ``ignored`` and not treated as inputs. Object-store credentials come from the
standard environment and config files (pyarrow.fs); they are never part of a URI here. URIs
are resolved and read by ``manifests.uri``. Imports pyarrow and ``manifests`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.fs as pafs

from manifests.uri import read_bytes, resolve_filesystem, to_uri


class ListingError(ValueError):
    """An input that cannot be listed; ``str()`` is one line naming it and the reason."""


@dataclass(frozen=True)
class Entry:
    uri: str
    size_bytes: int


@dataclass(frozen=True)
class Listing:
    entries: list[Entry]
    ignored: int  # files skipped because of their extension


def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path)`` for a ``file://``, ``s3://`` or ``gs://`` URI or a local path
    (:func:`manifests.uri.resolve_filesystem`; a location it cannot open is a ListingError)."""
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
    """Recursively list every input (folder, prefix or single file), sorted and deduplicated."""
    exts = {e.lower().lstrip(".") for e in extensions}
    found: dict[str, Entry] = {}
    ignored = 0
    for given in inputs:
        fs, path = filesystem_for(given)
        try:
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.File:
                infos = [info]
            elif info.type == pafs.FileType.Directory or (
                info.type == pafs.FileType.NotFound and not isinstance(fs, pafs.LocalFileSystem)
            ):
                infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
            else:
                raise ListingError(f"{given}: no such file or folder")
        except OSError as e:
            raise ListingError(f"{given}: cannot list ({_first_line(e)})") from None
        for i in infos:
            if i.type != pafs.FileType.File:
                continue
            rel_parts = i.path.split("/")
            if any(part.startswith(".") for part in rel_parts[-1:]):
                continue
            if not _wanted(i.base_name, exts):
                ignored += 1
                continue
            uri = to_uri(fs, i.path, like=given)
            found[uri] = Entry(uri, int(i.size or 0))
    return Listing(sorted(found.values(), key=lambda e: e.uri), ignored)


def shard_count(n_entries: int, shard_size: int) -> int:
    return (n_entries + shard_size - 1) // shard_size


def shards(entries: list[Entry], shard_size: int) -> list[list[Entry]]:
    """Consecutive slices of the sorted listing: shard k holds entries[k*size:(k+1)*size]."""
    return [entries[k : k + shard_size] for k in range(0, len(entries), shard_size)]


def read_head(uri: str, n_bytes: int, fs_cache: dict | None = None) -> bytes:
    """The first ``n_bytes`` of a file (one ranged read on object stores); ``fs_cache`` keeps
    one filesystem per bucket across a shard's files."""
    return read_bytes(uri, n_bytes, fs_cache=fs_cache)


def read_all(uri: str, fs_cache: dict | None = None) -> bytes:
    return read_bytes(uri, fs_cache=fs_cache)
