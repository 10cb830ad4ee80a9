"""The latent cache's folder: safetensors shards and their JSON sidecars, checked on every use.

A shard ``shard-<id>.safetensors`` holds tensors named by their keys; its sidecar
``shard-<id>.json`` (written after it) lists, per key, the SHA-256 of the tensor's bytes, and
the shard's size in bytes and the stat and SHA-256 of every source file its latents came from.
Both are written to a temporary name and renamed, and ``<id>`` is a hash of the shard's keys, so
two builders writing the same latents write the same file and neither can leave a partial one.
Opening a store reads every sidecar; a shard that is missing, of another size, or whose header or
sidecar does not parse is reported in one line (``warning: <shard>: <reason>; its N latents are
encoded again``), removed, and its latents count as missing. :meth:`LatentStore.read` checks the
latent's SHA-256; a mismatch removes the shard and raises one ``OSError`` naming it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import OrderedDict, defaultdict
from pathlib import Path

import torch

from infra.files import atomic_write

FORMAT = 1
SUFFIX = ".safetensors"


def tensor_sha256(t: torch.Tensor) -> str:
    """SHA-256 of a tensor's bytes (any dtype, bfloat16 included)."""
    raw = t.detach().cpu().contiguous().view(torch.uint8).numpy()
    return hashlib.sha256(raw).hexdigest()


def say_line(line: str) -> None:
    """A progress or warning line of the cache, on standard error."""
    print(line, file=sys.stderr, flush=True)


class LatentStore:
    """The shards of one cache folder; ``entries`` maps a key to its shard and SHA-256."""

    def __init__(self, folder: str | Path, say=None):
        self.folder = Path(folder)
        self.say = say or say_line
        self.entries: dict[str, tuple[Path, str]] = {}
        self.sources: dict[str, list] = {}  # source file -> [size, mtime_ns, sha256]
        self._open: OrderedDict[Path, object] = OrderedDict()
        if self.folder.exists() and not self.folder.is_dir():
            raise OSError(f"{self.folder}: the latent cache must be a folder, this is a file")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(f"{self.folder}: cannot create the latent cache ({e.strerror})") from None
        self.refresh()

    def refresh(self) -> None:
        """Read every sidecar again (another builder may have added shards)."""
        self.entries.clear()
        for sidecar in sorted(self.folder.glob("shard-*.json")):
            self._add(sidecar)

    def _add(self, sidecar: Path) -> None:
        shard = sidecar.with_suffix(SUFFIX)
        try:
            meta = json.loads(sidecar.read_text())
            why = _shard_problem(shard, meta)
        except (OSError, ValueError, KeyError, TypeError) as e:
            meta, why = {"entries": {}}, f"unreadable sidecar {sidecar.name} ({e})"
        if why:
            n = len(meta.get("entries", {})) if isinstance(meta, dict) else 0
            self.say(f"warning: {shard}: {why}; its {n} latents are encoded again")
            self.remove(shard)
            return
        for key, sha in meta["entries"].items():
            self.entries[key] = (shard, sha)
        self.sources.update(meta.get("sources", {}))

    def remove(self, shard: Path) -> None:
        self._open.pop(shard, None)
        for path in (shard, shard.with_suffix(".json")):
            path.unlink(missing_ok=True)
        self.entries = {k: v for k, v in self.entries.items() if v[0] != shard}

    def missing(self, keys) -> list[str]:
        """The keys (in order, once each) that no shard holds."""
        return [k for k in dict.fromkeys(keys) if k not in self.entries]

    def write(self, tensors: dict[str, torch.Tensor], sources: dict[str, list]) -> Path:
        """One shard of ``tensors`` (key -> tensor) and its sidecar; returns the shard."""
        from safetensors.torch import save_file

        ident = hashlib.sha256("\n".join(sorted(tensors)).encode()).hexdigest()[:20]
        shard = self.folder / f"shard-{ident}{SUFFIX}"
        data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        atomic_write(shard, lambda p: save_file(data, p, metadata={"format": str(FORMAT)}))
        meta = {
            "format": FORMAT,
            "bytes": shard.stat().st_size,
            "entries": {k: tensor_sha256(v) for k, v in data.items()},
            "sources": sources,
        }
        atomic_write(shard.with_suffix(".json"), lambda p: Path(p).write_text(json.dumps(meta)))
        for key, sha in meta["entries"].items():
            self.entries[key] = (shard, sha)
        self.sources.update(sources)
        return shard

    def read(self, key: str) -> torch.Tensor:
        """The latent ``key``, its SHA-256 checked (a mismatch: the shard is removed and one
        ``OSError`` names it)."""
        shard, sha = self.entries[key]
        try:
            t = self._handle(shard).get_tensor(key)
        except Exception as e:  # safetensors raises its own error types
            self.remove(shard)
            raise OSError(f"{shard}: unreadable cache shard ({e}); removed, run again") from None
        if tensor_sha256(t) != sha:
            self.remove(shard)
            raise OSError(
                f"{shard}: corrupt cache shard (latent {key[:12]} does not match its SHA-256); "
                "removed: run again (fit --resume or python -m train cache) to encode it again"
            )
        return t

    def _handle(self, shard: Path):
        from safetensors import safe_open

        handle = self._open.get(shard)
        if handle is None:
            handle = safe_open(str(shard), framework="pt")
            self._open[shard] = handle
            while len(self._open) > 16:
                self._open.popitem(last=False)
        self._open.move_to_end(shard)
        return handle

    def verify(self) -> int:
        """Read every latent once (each one's SHA-256 checked); corrupt shards are reported and
        removed. Returns the number of latents that passed."""
        ok, by_shard = 0, defaultdict(list)
        for key, (shard, _) in self.entries.items():
            by_shard[shard].append(key)
        for shard in sorted(by_shard):
            for key in by_shard[shard]:
                try:
                    self.read(key)
                except OSError as e:
                    self.say(f"warning: {e}")
                    break
                ok += 1
        return ok

    def __getstate__(self):  # DataLoader workers: shards are opened again in each process
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()
        return state


def _shard_problem(shard: Path, meta: dict) -> str | None:
    """Why a shard cannot be used (None: it can): missing, another size, or a bad header."""
    if meta.get("format") != FORMAT:
        return f"cache format {meta.get('format')!r}, this code writes {FORMAT}"
    if not shard.is_file():
        return "missing"
    size = shard.stat().st_size
    if size != int(meta["bytes"]):
        return f"truncated or changed ({size} of {int(meta['bytes'])} bytes)"
    with open(shard, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < n <= size - 8:
            return "not a safetensors file (bad header length)"
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            return f"not a safetensors file ({e})"
    if set(header) - {"__metadata__"} != set(meta["entries"]):
        return "its tensors are not the ones its sidecar lists"
    return None
