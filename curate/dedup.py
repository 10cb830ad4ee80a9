"""Duplicates: exact (same SHA-256 of the bytes) and near (close 64-bit perceptual hashes).

``phash``: the DCT hash: luma resized to 32x32, 2-D DCT-II, the 8x8 lowest frequencies, one
bit per coefficient ``> median`` of those 64 (row-major, first coefficient in the top bit).
Resizing, recompression and mild edits move few bits; different photos differ in ~32.

``find_duplicates(items, max_distance)``: items are ranked best first by their ``rank`` key;
each item, in that order, is a duplicate of the best already-kept item with the same SHA-256 or
a perceptual hash within ``max_distance`` bits, else it is kept. So every duplicate points at a
kept copy and the best-scored copy of each group survives. Near neighbours are found with
multi-index hashing: split the 64 bits into ``max_distance + 1`` chunks; two hashes within
``max_distance`` bits agree exactly on at least one chunk (pigeonhole), so only items sharing a
chunk value are compared. Pure numpy / Pillow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from curate.quality import luma


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def phash(rgb: np.ndarray) -> int:
    """64-bit DCT perceptual hash of an RGB uint8 image (see module doc)."""
    y = luma(rgb)
    small = np.asarray(
        Image.fromarray(y.astype(np.float32), mode="F").resize((32, 32), Image.BILINEAR),
        dtype=np.float64,
    )
    coeffs = (_DCT32 @ small @ _DCT32.T)[:8, :8].ravel()
    bits = coeffs > np.median(coeffs)
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return value


def hamming(a: int, b: int) -> int:
    return (int(a) ^ int(b)).bit_count()


@dataclass(frozen=True)
class Item:
    id: str  # the uri
    sha256: str
    phash: int | None
    rank: tuple  # larger is better


def _chunks(value: int, n_chunks: int) -> list[tuple[int, int]]:
    bounds = np.linspace(0, 64, n_chunks + 1).astype(int)
    return [
        (c, (value >> int(lo)) & ((1 << int(hi - lo)) - 1))
        for c, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    ]


def find_duplicates(items: list[Item], max_distance: int = 4) -> dict[str, tuple[str, str]]:
    """``{duplicate id: (kept id, "exact"|"near detail")}``; ids absent from it are kept."""
    order = sorted(items, key=lambda it: (it.rank, _neg(it.id)), reverse=True)
    n_chunks = max(1, max_distance + 1)
    by_sha: dict[str, str] = {}
    buckets: dict[tuple[int, int], list[Item]] = {}
    dups: dict[str, tuple[str, str]] = {}
    for it in order:
        if it.sha256 in by_sha:
            dups[it.id] = (by_sha[it.sha256], "exact duplicate (same sha256)")
            continue
        match = None
        if it.phash is not None and max_distance >= 0:
            keys = _chunks(it.phash, n_chunks)
            best = None
            for key in keys:
                for kept in buckets.get(key, ()):
                    d = hamming(it.phash, kept.phash)
                    if d <= max_distance and (best is None or kept.rank > best[0].rank):
                        best = (kept, d)
            if best is not None:
                match = best
        if match is not None:
            dups[it.id] = (match[0].id, f"near duplicate (phash distance {match[1]} bits)")
            continue
        by_sha[it.sha256] = it.id
        if it.phash is not None:
            for key in _chunks(it.phash, n_chunks):
                buckets.setdefault(key, []).append(it)
    return dups


class _neg(str):
    """Reverse string order inside a descending sort: ties keep the lexicographically first id."""

    def __lt__(self, other):
        return str.__gt__(self, other)

    def __gt__(self, other):
        return str.__lt__(self, other)
