"""Versioned benchmark sets: a checked-in definition (``train/evaluate/sets/<name>.toml``) of
which scenes a benchmark render must hold, and the check that a render is that set.

A definition names the synth config that renders the set, the photo pool's hash, the width
and samples, how many of each scene's DoF renders are regular (the rest, by ``render_id``, are
its K sweep at the first render's focus; v3: on the K grid ``sweep_k``, the same for every
scene; v4: at ``sweep_samples``), the rows' ``render_engine`` (v2: Cycles with computed
highlight discs) and every scene's spec hash (which fixes its geometry, camera, focus planes,
f-numbers and apertures). :func:`check_rows` refuses, in one line, a render whose scene ids,
spec hashes, widths, samples, render engine or render counts differ: numbers from another set
are not the benchmark's. ``tests/train/test_sets.py`` re-samples every definition
from its synth config, so a change of the sampler that moves a scene is a new version.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SETS_DIR = Path(__file__).with_name("sets")
K_TOLERANCE = 1e-3  # relative: a sweep render's K label against the grid (its f-number rounded)
REPO = Path(__file__).resolve().parents[2]


class SetError(ValueError):
    """A render that is not the named set, or a bad definition; one line."""


@dataclass(frozen=True)
class BenchmarkSet:
    name: str
    version: int
    synth_config: str  # relative to the repository root
    pool_hash: str
    resolution_px: int
    samples: int
    regular_renders: int
    sweep_renders: int
    spec_hashes: dict[int, str]
    render_engine: str = "CYCLES"  # the rows' render_engine (synth.worker.render_engine)
    sweep_k: tuple[float, ...] = ()  # v3: the sweep renders' K at the set's width, in order
    sweep_samples: int = 0  # v4: the sweep renders' samples (0: ``samples``)

    @property
    def renders_per_scene(self) -> int:
        return self.regular_renders + self.sweep_renders


def set_names() -> list[str]:
    return sorted(p.stem for p in SETS_DIR.glob("*.toml"))


def load_set(name: str) -> BenchmarkSet:
    """The checked-in set ``name`` (``small``, ``full``), or a definition file of the same form
    (a path ending in ``.toml``); SetError in one line else."""
    path = Path(name) if name.endswith(".toml") else SETS_DIR / f"{name}.toml"
    if not name.endswith(".toml") and name not in set_names():
        raise SetError(f"--set {name!r}: no such benchmark set (sets: {', '.join(set_names())})")
    try:
        d = tomllib.loads(path.read_text())
        hashes = {int(k): str(v) for k, v in d.pop("spec_hashes").items()}
        sweep_k = tuple(float(k) for k in d.pop("sweep_k", ()))
        return BenchmarkSet(spec_hashes=hashes, sweep_k=sweep_k, **d)
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SetError(f"{path}: not a benchmark set definition ({why})") from None


def check_rows(bset: BenchmarkSet, rows: list[dict], source: str) -> None:
    """``rows`` (a render's ``synthetic_pairs`` rows) are exactly the set ``bset``."""
    label = f"{source}: not the benchmark set {bset.name!r} v{bset.version}"
    by_scene: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        by_scene[int(r["scene_id"])].append(r)
    missing = sorted(set(bset.spec_hashes) - set(by_scene))
    extra = sorted(set(by_scene) - set(bset.spec_hashes))
    if missing or extra:
        what = f"scenes {missing[:5]} missing" if missing else f"extra scenes {extra[:5]}"
        raise SetError(f"{label} ({what}; render it with {bset.synth_config})")
    for scene_id, group in sorted(by_scene.items()):
        _check_scene(bset, scene_id, group, label)


def _check_scene(bset: BenchmarkSet, scene_id: int, group: list[dict], label: str) -> None:
    want = bset.spec_hashes[scene_id]
    hashes = {str(r.get("spec_hash")) for r in group}
    if hashes != {want}:
        got = ", ".join(sorted(hashes))
        raise SetError(f"{label} (scene {scene_id}: spec hash {got}, the set's is {want})")
    ids = sorted(int(r["render_id"]) for r in group)
    if ids != list(range(bset.renders_per_scene)):
        raise SetError(
            f"{label} (scene {scene_id}: renders {ids}, the set has 0-{bset.renders_per_scene - 1})"
        )
    for r in group:
        if int(r["width_px"]) != bset.resolution_px:
            raise SetError(
                f"{label} (scene {scene_id}: {r['width_px']} px wide, the set {bset.resolution_px})"
            )
        engine = r.get("render_engine")
        if engine is not None and str(engine) != bset.render_engine:
            raise SetError(
                f"{label} (scene {scene_id}: rendered by {engine}, the set by {bset.render_engine})"
            )
        sweep = int(r["render_id"]) - bset.regular_renders
        if bset.sweep_k and sweep >= 0 and r.get("k_genrefocus") is not None:
            k, want_k = float(r["k_genrefocus"]), bset.sweep_k[sweep]
            if not abs(k - want_k) <= K_TOLERANCE * want_k:
                raise SetError(
                    f"{label} (scene {scene_id}: sweep render {r['render_id']} at K {k:.4g}, "
                    f"the set's {want_k:g})"
                )
        want_spp = bset.sweep_samples if sweep >= 0 and bset.sweep_samples else bset.samples
        if r.get("render_samples") is not None and int(r["render_samples"]) != want_spp:
            raise SetError(
                f"{label} (scene {scene_id}: render {r['render_id']} at {r['render_samples']} "
                f"samples, the set's at {want_spp})"
            )
