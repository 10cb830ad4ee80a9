"""One run of ``python -m train benchmark-real``: list the dataset's items from the root the user
gave, check a predictions folder whole, score the sections and write ``real_benchmark.json``
(strict JSON, non-finite values as strings) and ``real_benchmark.md`` in ``out``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from infra.files import atomic_write
from train.evaluate.realsets import focalstack, pairs, realbokeh
from train.evaluate.realsets.files import PredictionsFolder
from train.evaluate.realsets.report import DATASETS, table_markdown
from train.evaluate.realsets.scoring import Rows, size_note
from train.evaluate.realsets.sections import pairs_section, stacks_section, sweeps_section
from train.outputs import json_safe
from train.threads import choose_threads, using_threads

MODEL_DATASETS = tuple(pairs.LAYOUTS)  # where a trained DeblurNet can be scored


def options_problem(dataset: str, deblur) -> str | None:
    """Why these options cannot run together, or None."""
    if dataset not in DATASETS:
        return f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}"
    if deblur and dataset not in MODEL_DATASETS:
        return (
            f"--deblur scores DeblurNet on {' and '.join(MODEL_DATASETS)}; on {dataset} our models "
            "would need depth the dataset lacks: score their outputs with --predictions DIR"
        )
    return None


def _perceptual(lpips_weights, dists_weights) -> tuple[dict, dict]:
    from train.evaluate.realsets.perceptual import DISTS, LPIPS

    metrics, labels = {}, {}
    if lpips_weights:
        metrics["lpips"] = LPIPS(lpips_weights)
    if dists_weights:
        metrics["dists"] = DISTS(dists_weights)
    for name, m in metrics.items():
        labels[name] = m.label
    return metrics, labels


def _predictions(folder, allowed: list[str], required: list[str]):
    return PredictionsFolder(folder, set(allowed), required) if folder else None


def _run_pairs(dataset, root, rows, deblur, predictions, max_items, max_side) -> dict:
    items = pairs.list_pairs(dataset, root)
    scored = items[: max_items or None]
    names = [pairs.prediction_name(p.name) for p in items]
    preds = _predictions(predictions, names, names[: len(scored)])
    model, gran = None, 1
    if deblur:
        from train.evaluate.methods import Model

        model = Model(deblur, "deblurnet")
        gran = model.cfg.granularity_px
    pairs_section(scored, rows, model, preds, max_side, gran)
    return {"items": len(items), "scored": len(scored), "unit": "pairs", "granularity": gran}


def _run_stacks(root, rows, predictions, max_items, max_side) -> dict:
    items = focalstack.list_stacks(root)
    scored = items[: max_items or None]

    def names(stacks):
        return [
            focalstack.prediction_name(st.scene, a.position, b.position)
            for st in stacks
            for a in st.slices
            for b in st.slices
            if a is not b
        ]

    preds = _predictions(predictions, names(items), names(scored))
    stacks_section(scored, rows, preds, max_side)
    return {
        "items": len(items),
        "scored": len(scored),
        "unit": "scenes; every ordered pair of slices",
        "by_distance": rows.by_group(),
    }


def _run_sweeps(root, rows, predictions, max_items, max_side) -> dict:
    items = realbokeh.list_sweeps(root)
    scored = items[: max_items or None]

    def names(sweeps):
        return [realbokeh.prediction_name(f.name) for s in sweeps for f in s.frames if not f.source]

    preds = _predictions(predictions, names(items), names(scored))
    control = sweeps_section(scored, rows, preds, max_side)
    return {"items": len(items), "scored": len(scored), "unit": "scenes", "control": control}


def run_real_benchmark(
    dataset: str,
    root: str,
    out: str,
    *,
    deblur: str | None = None,
    predictions: str | None = None,
    max_items: int = 0,
    max_side: int = 0,
    lpips_weights: str | None = None,
    dists_weights: str | None = None,
) -> dict:
    """Score ``dataset`` under ``root`` and write the outputs to ``out``; returns the results.
    Bad input is one ``RealSetError`` (or ``BenchmarkError`` for a run that does not load)."""
    problem = options_problem(dataset, deblur)
    if problem:
        raise ValueError(problem)
    root = os.fspath(root)
    threads = choose_threads(0)  # the cores nobody else is using (train.threads)
    with using_threads(threads.threads):
        metrics, labels = _perceptual(lpips_weights, dists_weights)
        rows = Rows(metrics)
        if dataset in pairs.LAYOUTS:
            part = _run_pairs(dataset, root, rows, deblur, predictions, max_items, max_side)
        elif dataset == "focalstack":
            part = _run_stacks(root, rows, predictions, max_items, max_side)
        else:
            part = _run_sweeps(root, rows, predictions, max_items, max_side)
    results = {
        "dataset": dataset,
        "root": root,
        "methods": {
            "deblur": os.fspath(deblur) if deblur else None,
            "predictions": os.fspath(predictions) if predictions else None,
        },
        "max_side": max_side,
        "working_size": size_note(max_side, part.pop("granularity", 1)),
        "perceptual": labels,
        "compute_threads": threads.why,
        **part,
        "fidelity": rows.summary(),
    }
    write_outputs(Path(out), results)
    return results


def write_outputs(out: Path, results: dict) -> None:
    text = json.dumps(json_safe(results), indent=1, sort_keys=True, allow_nan=False)
    atomic_write(out / "real_benchmark.json", lambda p: Path(p).write_text(text))
    md = table_markdown(results)
    atomic_write(out / "real_benchmark.md", lambda p: Path(p).write_text(md))
