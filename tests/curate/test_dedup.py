"""Perceptual hash robustness and the duplicate decision (best copy kept)."""

import io

import numpy as np
from PIL import Image

from curate.dedup import Item, find_duplicates, hamming, phash, sha256_hex


def recompress(rgb, size, quality):
    buf = io.BytesIO()
    Image.fromarray(rgb).resize(size, Image.BILINEAR).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def test_phash_survives_resize_and_recompression_but_separates_photos(pixels):
    a = pixels(3, 640, 480)
    h = phash(a)
    assert 0 <= h < 2**64
    assert hamming(h, phash(recompress(a, (320, 240), 60))) <= 4
    others = [hamming(h, phash(pixels(s, 640, 480))) for s in range(10, 20)]
    assert min(others) > 10


def item(uri, sha, ph, score):
    return Item(uri, sha, ph, (score,))


def test_exact_and_near_duplicates_keep_the_best_copy():
    items = [
        item("a", "s1", 0b1111, 0.5),
        item("b", "s1", 0b1111, 0.9),  # same bytes as a, better score
        item("c", "s2", 0b1110, 0.2),  # 1 bit from a/b: near
        item("d", "s3", (1 << 63) | 0xFFFF0000, 0.1),  # far away
    ]
    dups = find_duplicates(items, max_distance=4)
    assert dups == {
        "a": ("b", "exact duplicate (same sha256)"),
        "c": ("b", "near duplicate (phash distance 1 bits)"),
    }


def test_ties_are_deterministic_and_distance_zero_disables_near():
    items = [item("z", "s1", 5, 1.0), item("y", "s1", 5, 1.0), item("x", "s2", 4, 1.0)]
    assert find_duplicates(items, 4) == {
        "z": ("x", "near duplicate (phash distance 1 bits)"),
        "y": ("x", "near duplicate (phash distance 1 bits)"),
    }
    assert find_duplicates(list(reversed(items)), 0) == {
        "z": ("y", "exact duplicate (same sha256)")
    }


def test_multi_index_finds_every_pair_within_the_distance():
    rng = np.random.default_rng(0)
    base = [int(x) for x in rng.integers(0, 2**63, size=200, dtype=np.int64)]
    items, expected = [], {}
    for i, h in enumerate(base):
        items.append(item(f"k{i:03d}", f"s{i}", h, 1.0))
        flips = rng.choice(64, size=4, replace=False)
        near = h
        for b in flips:
            near ^= 1 << int(b)
        items.append(item(f"n{i:03d}", f"t{i}", near, 0.5))
        expected[f"n{i:03d}"] = f"k{i:03d}"
    dups = find_duplicates(items, 4)
    assert {k: v[0] for k, v in dups.items()} == expected


def test_sha256():
    assert sha256_hex(b"abc").startswith("ba7816bf")
