"""The photo pool: the real photographs that photographic scenes are built from.

A pool is read from a ``real_photos`` manifest (curate's output, local or ``s3://``; validated
where it is read, like the trainer reads it), from a folder of images, or, when none is given,
from the eight photographs scikit-image ships (:data:`EMBEDDED_PHOTOS`; no download). Every
photo is read through :mod:`infra.images` (one URI and decoding path) and decoded once here,
before any render: a photo that cannot be read or decoded is skipped with its reason; a pool
that is empty or mostly undecodable is a one-line :class:`PoolError`. A photo is named by the
SHA-256 of its bytes (``photo_id``), so the pool's hash (:attr:`PhotoPool.pool_hash`, part of
every scene's spec) changes exactly when its content does, whatever the paths. Workers read the
photos again from the same URIs (never a node-local copy), through :class:`PhotoCache`.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from infra.images import MAX_PHOTO_BYTES, PhotoError, decode_photo
from infra.uri import file_uri, is_uri, join_root, read_bytes

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif", ".bmp")
EMBEDDED_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "brick.png",
    "grass.png",
    "gravel.png",
)
# Photos are decoded at most this large (long edge): textures never need more at the render
# sizes this farm uses, and big JPEGs then decode at a reduced DCT scale.
DECODE_LONG_EDGE_PX = 1024
MAX_UNDECODABLE_SHARE = 0.5  # more than this skipped: the pool is refused


class PoolError(RuntimeError):
    """A pool that cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class PoolPhoto:
    photo_id: str  # SHA-256 of the file's bytes
    uri: str  # absolute: file:// or an object-store URI
    width_px: int  # upright (EXIF orientation applied), as decoded here
    height_px: int


@dataclass(frozen=True)
class PhotoPool:
    source: str
    photos: tuple[PoolPhoto, ...]  # sorted by photo_id, one per distinct content
    skipped: tuple[tuple[str, str], ...] = ()  # (uri, reason)
    duplicates: int = 0
    duplicate_of: tuple[tuple[str, str], ...] = ()  # (uri, the uri of the photo kept instead)
    by_id: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self.by_id.update({p.photo_id: p for p in self.photos})

    @property
    def pool_hash(self) -> str:
        """16 hex digits of the SHA-256 over the sorted photo ids: the pool's content."""
        text = "\n".join(p.photo_id for p in self.photos)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def summary(self) -> dict:
        reasons = Counter(reason.split(" (", 1)[0] for _, reason in self.skipped)
        return {
            "source": self.source,
            "pool_hash": self.pool_hash,
            "photos": len(self.photos),
            "skipped": len(self.skipped),
            "skipped_reasons": dict(sorted(reasons.items())),
            "duplicates": self.duplicates,
        }

    def write_index(self, path: Path) -> None:
        """``pool.json``: every photo used and every one skipped, with its reason."""
        from infra.files import atomic_write

        doc = {
            **self.summary(),
            "photo_list": [asdict(p) for p in self.photos],
            "skipped_list": [{"uri": u, "reason": r} for u, r in self.skipped],
            "duplicate_list": [{"uri": u, "same_as": s} for u, s in self.duplicate_of],
        }

        def write(tmp: str) -> None:
            Path(tmp).write_text(json.dumps(doc, indent=1))

        atomic_write(path, write)


def embedded_dir() -> Path:
    """scikit-image's data folder, which holds :data:`EMBEDDED_PHOTOS` in its wheel."""
    import skimage

    return Path(skimage.__file__).parent / "data"


def folder_images(folder: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """``(uris, skipped)``: the image files under ``folder`` (sorted, recursive, hidden names
    skipped) and, with a reason, the image names that cannot be used: a link that leaves the
    folder, dangles or loops, and anything that is not a regular file (FIFO, device, folder).
    Links are followed only where they stay inside the folder."""
    root = folder.resolve()
    uris, skipped = [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            path = Path(dirpath) / name
            why = _folder_file_problem(path, root)
            if why:
                skipped.append((file_uri(path), why))
            else:
                uris.append(file_uri(path))
    return uris, skipped


def _folder_file_problem(path: Path, root: Path) -> str | None:
    try:
        real = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 raises this for a loop of links
        return "not_a_file (a loop of links)"
    except FileNotFoundError:
        return "not_a_file (a dangling link)"
    except OSError as e:  # ELOOP on some systems, EACCES, ...
        return f"not_a_file ({e.strerror or e})"
    if root not in real.parents:
        return f"outside_root (a link to {real}, outside {root})"
    try:
        regular = stat.S_ISREG(os.stat(real).st_mode)
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    return None if regular else "not_a_file (a FIFO, device or folder)"


def _manifest_uris(source: str) -> tuple[list[str], list[tuple[str, str]]]:
    """``(uris, skipped)``: the photos a ``real_photos`` manifest names, as absolute URIs
    (validated read), and the rows whose file a reader may not open, with the reason
    (``manifests.files.file_problem``: a path escaping the root, links included, a missing,
    special or oversized file), which the pool skips like an undecodable photo."""
    import pyarrow.fs as pafs

    from infra.uri import to_uri
    from manifests.files import file_problem
    from manifests.io import ManifestError
    from manifests.validate import read_valid_table

    try:
        table, loc = read_valid_table(source, "real_photos", ())
    except ManifestError as e:
        raise PoolError(f"--photos {source}: {e}") from None
    local = isinstance(loc.fs, pafs.LocalFileSystem)
    real_root = str(Path(loc.root).resolve()) if local else None
    root = file_uri(real_root) if local else to_uri(loc.fs, loc.root, like=source)
    uris, skipped = [], []
    for uri in table.column("uri").to_pylist():
        full = join_root(uri, root)
        full = full if is_uri(full) else file_uri(full)
        why = file_problem(uri, real_root) if local else None
        if why:
            skipped.append((full, f"unreadable ({why})"))
        else:
            uris.append(full)
    return uris, skipped


def _is_manifest(source: str) -> bool:
    if is_uri(source) and not source.startswith("file://"):
        return True  # an object-store prefix: only manifests are read from there
    path = Path(source)
    return (
        path.suffix == ".parquet"
        or (path / "real_photos").is_dir()
        or (path.name == "real_photos" and path.is_dir())
    )


EMBEDDED = "embedded"  # the source name of the embedded photos


def _source_uris(source: str) -> tuple[list[str], list[tuple[str, str]], str]:
    """``(uris, skipped, name shown)`` of one pool source."""
    if source == EMBEDDED:
        folder = embedded_dir()
        return [file_uri(folder / name) for name in EMBEDDED_PHOTOS], [], "embedded"
    if _is_manifest(source):
        try:
            return *_manifest_uris(source), source
        except (OSError, ValueError) as e:  # the store itself: unreachable, denied, ...
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise PoolError(f"--photos {source}: cannot read the manifest ({reason})") from None
    folder = Path(source).expanduser()
    if not folder.exists():
        raise PoolError(f"--photos {source}: no such folder or manifest")
    if not folder.is_dir():
        raise PoolError(f"--photos {source}: not a folder of photos or a real_photos manifest")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise PoolError(f"--photos {source}: folder is not readable")
    uris, skipped = folder_images(folder)
    if not uris and not skipped:
        raise PoolError(f"--photos {source}: no photos in it ({', '.join(IMAGE_SUFFIXES)})")
    return uris, skipped, source


def load_pool(sources: str | list[str] | None, progress: bool = False) -> PhotoPool:
    """Read and check a pool from one or more sources, each a ``real_photos`` manifest, an
    image folder or ``"embedded"`` (the default when none is given); duplicates count once."""
    if sources is None or sources == []:
        sources = [EMBEDDED]
    elif isinstance(sources, (str, os.PathLike)):
        sources = [str(sources)]
    uris, names, skipped = [], [], []
    for source in sources:
        found, refused, name = _source_uris(str(source))
        uris += found
        skipped += refused
        names.append(name)
    shown = " + ".join(names)
    photos: dict[str, PoolPhoto] = {}
    duplicates: list[tuple[str, str]] = []  # (uri, the kept uri of the same content)
    from infra.progress import progress_bar

    for uri in progress_bar(uris, desc="photo pool", unit="photo", disable=not progress):
        try:
            data = read_bytes(uri, max_bytes=MAX_PHOTO_BYTES)
        except (OSError, ValueError) as e:
            skipped.append((uri, f"unreadable ({getattr(e, 'strerror', None) or e})"))
            continue
        try:
            image = decode_photo(data, uri, DECODE_LONG_EDGE_PX)
        except PhotoError as e:
            skipped.append((uri, f"decode_failed ({str(e).split(': ', 1)[-1]})"))
            continue
        if min(image.shape[:2]) < 16:
            skipped.append((uri, f"too_small ({image.shape[1]}x{image.shape[0]} px)"))
            continue
        pid = hashlib.sha256(data).hexdigest()
        if pid in photos:
            duplicates.append((uri, photos[pid].uri))
            continue
        photos[pid] = PoolPhoto(pid, uri, int(image.shape[1]), int(image.shape[0]))
    total = len(photos) + len(skipped)
    if not photos or len(skipped) > MAX_UNDECODABLE_SHARE * total:
        first = f"; first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise PoolError(f"--photos {shown}: {len(skipped)} of {total} photos cannot be used{first}")
    return PhotoPool(
        source=shown,
        photos=tuple(sorted(photos.values(), key=lambda p: p.photo_id)),
        skipped=tuple(skipped),
        duplicates=len(duplicates),
        duplicate_of=tuple(duplicates),
    )


def pool_from_index(path: Path) -> PhotoPool:
    """The pool a rendered set was built from, as its ``pool.json`` lists it (photos read again
    from their URIs by :class:`PhotoCache`, which checks each one's SHA-256): for tools that
    render a set's specs again (``bench/cycles_k_sweep.py``)."""
    try:
        doc = json.loads(Path(path).read_text())
        photos = tuple(PoolPhoto(**p) for p in doc["photo_list"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PoolError(f"{path}: not a pool index ({type(e).__name__})") from None
    return PhotoPool(source=str(path), photos=tuple(sorted(photos, key=lambda p: p.photo_id)))


class PhotoCache:
    """Decoded pool photos for one worker process: a few kept, least recently used dropped."""

    def __init__(self, pool: PhotoPool, keep: int = 16):
        self.pool, self.keep = pool, keep
        self._images: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, photo_id: str) -> np.ndarray:
        if photo_id in self._images:
            self._images.move_to_end(photo_id)
            return self._images[photo_id]
        photo = self.pool.by_id.get(photo_id)
        if photo is None:
            raise PoolError(f"photo {photo_id[:12]} is not in the pool {self.pool.source}")
        try:
            data = read_bytes(photo.uri, max_bytes=MAX_PHOTO_BYTES)
        except (OSError, ValueError) as e:
            raise PhotoError(
                f"{photo.uri}: cannot read ({getattr(e, 'strerror', None) or e})"
            ) from None
        if hashlib.sha256(data).hexdigest() != photo_id:  # the spec names content, not a path
            raise PoolError(f"{photo.uri}: changed since the pool was read (another SHA-256)")
        image = decode_photo(data, photo.uri, DECODE_LONG_EDGE_PX)
        self._images[photo_id] = image
        while len(self._images) > self.keep:
            self._images.popitem(last=False)
        return image


def crop_pixels(image: np.ndarray, crop: tuple[float, float, float, float], max_px: int):
    """The ``crop`` (x0, y0, x1, y1 as fractions of the upright photo) of ``image``, at most
    ``max_px`` on its long side (box filter), as uint8 H×W×3."""
    from PIL import Image

    h, w = image.shape[:2]
    x0, y0, x1, y1 = crop
    c0, c1 = int(round(x0 * w)), max(int(round(x0 * w)) + 1, int(round(x1 * w)))
    r0, r1 = int(round(y0 * h)), max(int(round(y0 * h)) + 1, int(round(y1 * h)))
    part = image[r0:r1, c0:c1]
    long_edge = max(part.shape[:2])
    if long_edge > max_px:
        scale = max_px / long_edge
        size = (max(1, round(part.shape[1] * scale)), max(1, round(part.shape[0] * scale)))
        part = np.asarray(Image.fromarray(part).resize(size, Image.BOX))
    return np.ascontiguousarray(part)
