"""An infinite, deterministic, resumable stream of ``("synthetic", i)`` / ``("real", i)`` draws.

Global draw ``g`` (rank ``r`` of ``W`` takes ``g = position · W + r``, so ranks see disjoint
draws and advance in lockstep) is real with probability ``real_ratio``: ``u_g < real_ratio``
with ``u`` from ``default_rng([seed, 0, g // BLOCK])``. Its index walks a fresh permutation per
pass: the synthetic index is ``perm_e[g mod n]`` with ``e = g // n`` and
``perm_e = default_rng([seed, 1, e]).permutation(n)`` (real: stream 2), so within one pass no two
draws (on any rank) share an index. Everything is a pure function of ``(seed, g)``: the state is
just ``position``, and resuming at a position continues with exactly the next pair.

With ``second_share`` set, the synthetic indices are two kinds: ``[0, n_synthetic − n_second)``
(path-traced renders) and the last ``n_second`` (the 2.5-D pairs of ``synth photos``). A
synthetic draw is of the second kind with probability ``second_share`` (``v_g`` from
``default_rng([seed, 3, g // BLOCK])``), and walks that kind's own permutation (stream 4 for the
second kind, stream 1 for the first), so the mix is a config weight whatever the two counts.
"""

from __future__ import annotations

import numpy as np

BLOCK = 8192
SOURCES = ("synthetic", "real")


class MixtureSampler:
    """Iterator of ``(source, index)``; ``n_real == 0`` gives synthetic only, ``n_synthetic == 0``
    real only."""

    def __init__(
        self,
        n_synthetic: int,
        n_real: int,
        real_ratio: float,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        n_second: int = 0,
        second_share: float | None = None,
    ):
        if n_synthetic < 0 or n_real < 0 or n_synthetic + n_real == 0:
            raise ValueError(
                f"MixtureSampler needs samples, got {n_synthetic} synthetic, {n_real} real"
            )
        if not 0.0 <= real_ratio <= 1.0:
            raise ValueError(f"MixtureSampler real_ratio must be in [0, 1], got {real_ratio}")
        if not 0 <= rank < world_size:
            raise ValueError(f"MixtureSampler rank {rank} not in [0, {world_size})")
        self.n_synthetic = int(n_synthetic)
        self.n_real = int(n_real)
        self.real_ratio = float(real_ratio)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        if not 0 <= n_second <= n_synthetic:
            raise ValueError(f"MixtureSampler n_second {n_second} not in [0, {n_synthetic}]")
        if second_share is not None and not 0.0 <= second_share <= 1.0:
            raise ValueError(f"MixtureSampler second_share must be in [0, 1], got {second_share}")
        self.n_second = int(n_second)
        self.second_share = None if second_share is None else float(second_share)
        if self.n_real == 0:
            self.effective_ratio = 0.0
        elif self.n_synthetic == 0:
            self.effective_ratio = 1.0
        else:
            self.effective_ratio = self.real_ratio
        self.position = 0
        self._u_cache: tuple[int, np.ndarray] | None = None
        self._v_cache: tuple[int, np.ndarray] | None = None
        self._perm_cache: dict[tuple[int, int], np.ndarray] = {}

    def __iter__(self):
        return self

    def __next__(self) -> tuple[str, int]:
        pair = self.draw(self.position * self.world_size + self.rank)
        self.position += 1
        return pair

    def draw(self, g: int) -> tuple[str, int]:
        """Global draw ``g`` (a pure function of ``seed`` and ``g``)."""
        if self.effective_ratio <= 0.0:
            real = False
        elif self.effective_ratio >= 1.0:
            real = True
        else:
            block = g // BLOCK
            if self._u_cache is None or self._u_cache[0] != block:
                u = np.random.default_rng([self.seed, 0, block]).random(BLOCK)
                self._u_cache = (block, u)
            real = bool(self._u_cache[1][g % BLOCK] < self.effective_ratio)
        stream, n, offset = (2, self.n_real, 0) if real else self._synthetic_kind(g)
        key = (stream, g // n)
        perm = self._perm_cache.get(key)
        if perm is None:
            if len(self._perm_cache) > 8:
                self._perm_cache.clear()
            perm = np.random.default_rng([self.seed, stream, g // n]).permutation(n)
            self._perm_cache[key] = perm
        return SOURCES[0 if stream in (1, 4) else 1], offset + int(perm[g % n])

    def _synthetic_kind(self, g: int) -> tuple[int, int, int]:
        """``(stream, count, first index)`` of the synthetic kind draw ``g`` takes."""
        first = self.n_synthetic - self.n_second
        if self.second_share is None or self.n_second == 0 or first == 0:
            return 1, self.n_synthetic, 0
        block = g // BLOCK
        if self._v_cache is None or self._v_cache[0] != block:
            self._v_cache = (block, np.random.default_rng([self.seed, 3, block]).random(BLOCK))
        if self._v_cache[1][g % BLOCK] < self.second_share:
            return 4, self.n_second, first
        return 1, first, 0

    def state_dict(self) -> dict:
        return {
            "position": self.position,
            "seed": self.seed,
            "n_synthetic": self.n_synthetic,
            "n_real": self.n_real,
            "real_ratio": self.real_ratio,
            "world_size": self.world_size,
            "n_second": self.n_second,
            "second_share": self.second_share,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue at ``state["position"]``; refuses a state of a different stream."""
        names = ("seed", "n_synthetic", "n_real", "real_ratio", "world_size")
        for name in (*names, "n_second", "second_share"):
            if name in state and state[name] != getattr(self, name):
                raise ValueError(
                    f"MixtureSampler state has {name}={state[name]!r}, this sampler "
                    f"{getattr(self, name)!r}: not the same stream"
                )
        self.position = int(state["position"])
