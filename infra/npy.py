"""``.npy`` files read from bytes without trusting them: the header is checked against the file's
size before anything is allocated, and nothing is ever unpickled. numpy only.
"""

from __future__ import annotations

import io

import numpy as np
from numpy.lib import format as npy_format


def npy_header(data: bytes, file_bytes: int | None = None) -> tuple[tuple, str | None]:
    """``(shape, problem)`` of a ``.npy`` file from its first bytes (``data``; the whole file
    unless ``file_bytes`` gives its size): ``problem`` says why a reader may not load it, or is
    None. A pickled (object) array is refused, and so is a header whose shape and dtype need
    other bytes than the file holds (a 193-byte file claiming 100000 x 100000 floats would make
    ``np.load`` allocate 37 GiB before it fails)."""
    f = io.BytesIO(data)
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(f)
        else:
            return (), f"unsupported .npy version {version}"
    except (ValueError, EOFError, SyntaxError, TypeError) as e:
        return (), f"not a .npy array ({' '.join(str(e).split())[:120] or type(e).__name__})"
    if dtype.hasobject:
        return shape, "holds Python objects (a pickle), not numbers"
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = (len(data) if file_bytes is None else file_bytes) - f.tell()
    if need != have:
        return (
            shape,
            f"its header claims {dtype} {tuple(shape)} ({need} bytes), the file holds {have}",
        )
    return shape, None


def npy_header_problem(data: bytes) -> str | None:
    """:func:`npy_header`'s problem for a whole file's bytes."""
    return npy_header(data)[1]


def npy_from_bytes(data: bytes, source: str):
    """A ``.npy`` file's array, its header checked first (:func:`npy_header_problem`), never
    unpickled; ``ValueError`` naming ``source`` otherwise."""
    problem = npy_header_problem(data)
    if problem:
        raise ValueError(f"{source}: {problem}")
    return np.load(io.BytesIO(data), allow_pickle=False)
