"""Atomic file writes for the trainer's outputs and caches (metrics, plots, pseudo-AIF and depth
caches, prompt embeddings): ``write(tmp)`` fills a hidden temp file beside ``path``, which is
then renamed over it, so a reader or a killed run never sees a half-written file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Create ``path``'s folder, call ``write(tmp)``, rename ``tmp`` to ``path``; the temp file
    is removed if ``write`` fails."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
