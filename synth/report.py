"""``python -m synth report OUT``: how natural a render root's all-in-focus images look, by kind.

Reads OUT's ``synthetic_pairs`` manifest (one AIF per scene; grouped by ``scene_kind``, a null
kind, from manifests older than 1.2, counting as "procedural") and the photos of the pool the
scenes were built from (``OUT/pool.json``, or ``--photos`` read with ``synth.pool.load_pool``),
measures every group with ``synth.imagestats`` against the photos (``synth.stats_report``:
``natural_stats.{json,md,png}``) and checks the photographic kinds' targets:

* spectral slope: ``|mean slope - the photos' mean slope| <= 0.2`` (:data:`SLOPE_GAP_MAX`);
* log-gradient distribution: W1 to the photos ``<= 0.5 x`` the procedural kind's
  (:data:`GRADIENT_W1_SHARE_MAX`; not checked when OUT has no procedural scenes).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from infra.images import PhotoError, read_photo
from infra.uri import join_root
from synth.spec import SCENE_KINDS

REFERENCE = "photos"
SLOPE_GAP_MAX = 0.2
GRADIENT_W1_SHARE_MAX = 0.5
PHOTO_KINDS = tuple(k for k in SCENE_KINDS if k != "procedural")  # built from the pool
POOL_INDEX = "pool.json"


class ReportError(ValueError):
    """Bad input to the report; ``str()`` is one line naming what is wrong."""


def scene_aifs(out: Path) -> dict[str, list[np.ndarray]]:
    """One all-in-focus image per scene of OUT's manifest, by scene kind (in SCENE_KINDS order)."""
    from manifests import ManifestError, list_parts, read_valid_table

    try:
        has_pairs = bool(list_parts(str(out)).get("synthetic_pairs"))
    except ManifestError:
        has_pairs = False
    if not has_pairs:
        raise ReportError(
            f"{out}: no synthetic_pairs manifest (render into it first: "
            f"python -m synth render --out {out} ...)"
        )
    try:  # validated where it is read: no path may lead outside OUT
        table, _ = read_valid_table(str(out), "synthetic_pairs", ("aif_path",))
    except ManifestError as e:
        raise ReportError(str(e)) from None
    cols = ("dataset_id", "scene_id", "aif_path", "scene_kind")
    rows = table.select([c for c in cols if c in table.column_names]).to_pylist()
    aif_by_scene: dict[tuple, tuple[str, str]] = {}
    for r in rows:
        key = (r.get("dataset_id"), r["scene_id"])
        aif_by_scene.setdefault(key, (r.get("scene_kind") or "procedural", r["aif_path"]))
    if not aif_by_scene:
        raise ReportError(f"{out}: the synthetic_pairs manifest has no rows")
    groups: dict[str, list[np.ndarray]] = {}
    root = str(out.resolve())
    for key in sorted(aif_by_scene, key=lambda k: (str(k[0]), k[1])):
        kind, path = aif_by_scene[key]
        groups.setdefault(kind, []).append(_read(join_root(path, root)))
    order = [k for k in SCENE_KINDS if k in groups] + sorted(set(groups) - set(SCENE_KINDS))
    return {k: groups[k] for k in order}


def _read(uri: str, max_long_edge_px: int | None = None) -> np.ndarray:
    try:
        return read_photo(uri, max_long_edge_px)
    except PhotoError as e:
        raise ReportError(str(e).splitlines()[0]) from None


def pool_photos(out: Path, photos: str | None = None) -> tuple[str, list[np.ndarray]]:
    """``(where from, images)``: the pool given with ``--photos``, else ``OUT/pool.json``'s
    photos, each decoded as the render farm decodes them (long edge at most
    ``synth.pool.DECODE_LONG_EDGE_PX``)."""
    from synth.pool import DECODE_LONG_EDGE_PX, load_pool

    if photos is not None:
        pool = load_pool(photos)  # PoolError: one line, shown by the CLI
        uris, source = [p.uri for p in pool.photos], pool.source
    else:
        index = out / POOL_INDEX
        if not index.is_file():
            raise ReportError(
                f"{index}: no photo pool index (the render used no photos); "
                "name the photos to compare with: --photos DIR_OR_MANIFEST"
            )
        try:
            uris = [p["uri"] for p in json.loads(index.read_text())["photo_list"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ReportError(f"{index}: not a readable pool index ({e})") from None
        source = str(index)
    if not uris:
        raise ReportError(f"{source}: the photo pool has no photos")
    return source, [_read(u, DECODE_LONG_EDGE_PX) for u in uris]


def check_targets(rows: list[dict]) -> list[dict]:
    """The targets of each photographic kind present in ``rows`` (``stats_report`` rows against
    the photos): name, kind, value, threshold and ``ok`` (None when it cannot be checked)."""
    by_name = {r["name"]: r for r in rows}
    procedural = by_name.get("procedural")
    photos = by_name.get(REFERENCE, {})
    spread = (photos.get("spectral_slope_min"), photos.get("spectral_slope_max"))
    targets = []
    for kind in PHOTO_KINDS:
        r = by_name.get(kind)
        if r is None:
            continue
        gap = r["slope_gap_to_reference"]
        targets.append(
            {
                "kind": kind,
                "target": f"|slope - photos' slope| <= {SLOPE_GAP_MAX:g}",
                "value": gap,
                "threshold": SLOPE_GAP_MAX,
                "ok": bool(gap <= SLOPE_GAP_MAX),
                # a mean between two groups of photos is no photo's slope (docs/synth.md)
                "note": None if None in spread else "photos' slopes {:.2f}..{:.2f}".format(*spread),
            }
        )
        w1 = r["gradient_w1_to_reference"]
        limit = (
            GRADIENT_W1_SHARE_MAX * procedural["gradient_w1_to_reference"] if procedural else None
        )
        targets.append(
            {
                "kind": kind,
                "target": f"log-grad W1 <= {GRADIENT_W1_SHARE_MAX:g} x procedural's",
                "value": w1,
                "threshold": limit,
                "ok": None if limit is None else bool(w1 <= limit),
            }
        )
    return targets


def format_targets(targets: list[dict]) -> str:
    """One line per target: kind, target, value against threshold, pass / FAIL / n/a, and the
    target's note (the slope's: the photos' steepest and flattest slope)."""
    if not targets:
        return "targets: no photographic scenes (kinds cards, textured) to check"
    lines = []
    for t in targets:
        verdict = {True: "pass", False: "FAIL", None: "n/a (no procedural scenes)"}[t["ok"]]
        limit = "-" if t["threshold"] is None else f"{t['threshold']:.3g}"
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(
            f"  {t['kind']:<10} {t['target']:<34} {t['value']:.3g} (limit {limit}): {verdict}{note}"
        )
    return "targets:\n" + "\n".join(lines)


def make_report(
    out: Path, photos: str | None = None, report_dir: Path | None = None, long_edge_px: int = 128
) -> dict:
    """Measure OUT's scenes by kind against the photos; write ``natural_stats.{json,md,png}``
    (with the targets) into ``report_dir`` (default ``OUT/report``); return the JSON."""
    from infra.files import atomic_write
    from synth.stats_report import format_table, write_natural_stats

    out = Path(out)
    if not out.is_dir():
        raise ReportError(f"{out}: no such folder")
    if long_edge_px < 16:
        raise ReportError(f"--long-edge {long_edge_px}: need at least 16 px")
    kinds = scene_aifs(out)
    source, reference = pool_photos(out, photos)
    report_dir = Path(report_dir) if report_dir else out / "report"
    groups = {REFERENCE: reference, **kinds}
    report = write_natural_stats(groups, report_dir, REFERENCE, long_edge_px)
    report["settings"]["photos"] = source
    report["targets"] = check_targets(report["rows"])
    text = json.dumps(report, indent=1)
    atomic_write(report_dir / "natural_stats.json", lambda p: Path(p).write_text(text))
    md = format_table(report["rows"]) + "\n\n" + format_targets(report["targets"]) + "\n"
    atomic_write(report_dir / "natural_stats.md", lambda p: Path(p).write_text(md))
    report["report_dir"] = str(report_dir)
    return report
