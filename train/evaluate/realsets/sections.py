"""The sections of ``python -m train benchmark-real``: each dataset's items scored by its rows
(``scoring.Rows``), every image read when its item is scored.

* Pairs (DPDD, RealDOF): the blurred image in, its all-in-focus target expected; rows
  ``identity (blurry input)``, ``deblurnet`` (a trained run, ``train.evaluate.methods.Model``)
  and ``predictions`` (an external method's folder).
* Focal stacks: slice *i* in, slice *j* of the same scene expected, every ordered pair *i ≠ j*;
  rows ``identity (input slice)`` and ``predictions``, PSNR also by the distance ``|i − j|`` in
  focal positions.
* Aperture sweeps (RealBokeh): the f/22 photo in, each wider-aperture photo expected (rows
  ``identity (f/22 input)`` and ``predictions``), and the controllability family against the real
  sweep (``sweeps``): rows ``real sweep``, ``identity (f/22 input)``, ``predictions``.
"""

from __future__ import annotations

from collections import defaultdict

from train.evaluate.control import MIN_FRAMES, summarise
from train.evaluate.realsets import focalstack, pairs, realbokeh
from train.evaluate.realsets.files import PredictionsFolder, RealSetError, read_image
from train.evaluate.realsets.scoring import Rows, at_size, to_unit, working_size
from train.evaluate.realsets.sweeps import SweepLV, sweep_regions

IDENTITY_DEBLUR = "identity (blurry input)"
DEBLURNET = "deblurnet"
PREDICTIONS = "predictions"
IDENTITY_SLICE = "identity (input slice)"
IDENTITY_BOKEH = "identity (f/22 input)"
TRUTH = "real sweep"


def pairs_section(
    items,
    rows: Rows,
    model=None,
    preds: PredictionsFolder | None = None,
    max_side: int = 0,
    granularity: int = 1,
) -> None:
    """Score every pair of ``items`` (``pairs.Pair``) with each row."""
    for p in items:
        src, tgt = pairs.read_pair(p)
        full = (src.shape[1], src.shape[0])
        size = working_size(*full, max_side, granularity)
        s, t = at_size(src, size), at_size(tgt, size)
        rows.add(IDENTITY_DEBLUR, s, t)
        if model is not None:
            rows.add(DEBLURNET, model([s]).clamp(-1.0, 1.0), t)
        if preds is not None:
            img = preds.image(pairs.prediction_name(p.name), full, p.shown_target)
            rows.add(PREDICTIONS, at_size(img, size), t)


def _same_size(img, size: tuple[int, int], shown: str, first: str) -> None:
    if (img.shape[1], img.shape[0]) != size:
        raise RealSetError(
            shown,
            f"{img.shape[1]}x{img.shape[0]} px, but {first} is {size[0]}x{size[1]} px "
            "(one scene's photos must be the same size)",
        )


def stacks_section(
    items, rows: Rows, preds: PredictionsFolder | None = None, max_side: int = 0
) -> None:
    """Score every ordered pair of slices of every stack of ``items`` (``focalstack.Stack``)."""
    for st in items:
        first = st.slices[0].shown
        imgs, full, size = [], None, None
        for sl in st.slices:
            img = read_image(sl.path, sl.shown)
            if full is None:
                full = (img.shape[1], img.shape[0])
                size = working_size(*full, max_side)
            _same_size(img, full, sl.shown, first)
            imgs.append(at_size(img, size))
        for a, sa in enumerate(st.slices):
            for b, sb in enumerate(st.slices):
                if a == b:
                    continue
                d = abs(sa.position - sb.position)
                rows.add(IDENTITY_SLICE, imgs[a], imgs[b], group=d)
                if preds is not None:
                    name = focalstack.prediction_name(st.scene, sa.position, sb.position)
                    out = at_size(preds.image(name, full, sb.shown), size)
                    rows.add(PREDICTIONS, out, imgs[b], group=d)


def sweeps_section(
    items, rows: Rows, preds: PredictionsFolder | None = None, max_side: int = 0
) -> dict:
    """Score every sweep of ``items`` (``realbokeh.Sweep``); returns the controllability
    summary (``control.summarise`` against the real sweep) and how many scenes had too few
    apertures for it (fewer than ``control.MIN_FRAMES`` photos)."""
    per_scene: dict[str, list] = defaultdict(list)
    short = 0
    for sw in items:
        scores = _sweep(sw, rows, preds, max_side)
        short += not scores
        for method, s in scores.items():
            per_scene[method].append(s)
    return {
        "control": summarise(dict(per_scene), TRUTH) if per_scene else {},
        "scenes_scored": len(items) - short,
        "scenes_too_short": short,
        "min_frames": MIN_FRAMES,
    }


def _sweep(sw, rows: Rows, preds: PredictionsFolder | None, max_side: int) -> dict:
    """One scene: the fidelity rows, and the LV sequences of every method; its control scores
    (empty when the sweep is too short)."""
    src = read_image(sw.source.path, sw.source.shown)
    full = (src.shape[1], src.shape[0])
    size = working_size(*full, max_side)
    src_t = at_size(src, size)
    loaded = {}
    for i in {0, len(sw.frames) - 1}:
        f = sw.frames[i]
        img = src if f.source else read_image(f.path, f.shown)
        _same_size(img, full, f.shown, sw.source.shown)
        loaded[i] = at_size(img, size)
    lv = SweepLV(sweep_regions(to_unit(loaded[0]), to_unit(loaded[len(sw.frames) - 1])))
    src_u = to_unit(src_t)
    for i, f in enumerate(sw.frames):
        if i in loaded:
            truth = loaded[i]
        else:
            img = read_image(f.path, f.shown)
            _same_size(img, full, f.shown, sw.source.shown)
            truth = at_size(img, size)
        lv.add(TRUTH, to_unit(truth))
        lv.add(IDENTITY_BOKEH, src_u)
        out = src_t
        if preds is not None and not f.source:
            out = at_size(preds.image(realbokeh.prediction_name(f.name), full, f.shown), size)
        if preds is not None:
            lv.add(PREDICTIONS, to_unit(out))
        if not f.source:
            rows.add(IDENTITY_BOKEH, src_t, truth)
            if preds is not None:
                rows.add(PREDICTIONS, out, truth)
    return lv.scores(sw.k_values(), TRUTH)
