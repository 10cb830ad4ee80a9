"""Does DeblurNet trained on photographic synth scenes transfer? A 2x2 of train and test kinds.

Renders (into ``--out``) a procedural-only training set (kinds procedural=1, cards=0,
textured=0) and a photographic-only one (procedural=0, cards=1, textured=1) of ``--scenes``
scenes each with the default config, and a held-out set of each kind (``heldout.toml``: another
dataset seed, every scene split "val") of ``--heldout-scenes`` scenes. Trains the tiny DeblurNet
(``train/configs/deblurnet_tiny.toml``) on each training set for ``--steps`` steps with each of
``--seeds`` (the training sets share their dataset seed and scene ids, so their "train" splits
hold the same number of scenes), then scores every trained model on both held-out sets, on
whole frames, with ``train.evaluate``'s deblur section (``load_scenes``, ``Model``,
``deblur_section``: each DoF render in, the AIF expected; the blurry input itself is the
identity row). Prints and writes ``OUT/transfer.{json,md}``: rows trained on {procedural,
photographic}, columns evaluated on {procedural, photographic}, cells the mean +- sample std
over seeds of DeblurNet's PSNR gain over the blurry input (dB), with each held-out set's
identity PSNR; the same for SSIM.

Every step leaves a marker in ``OUT/stages`` (with its settings); a rerun skips finished
renders, trainings and evaluations (more ``--seeds`` or other ``--steps`` add runs beside the
old ones, on the same renders), and refuses renders made with other settings.

Measured at the defaults (24 + 24 training scenes, 8 + 8 held out, 128 px, 16 spp, 800 steps,
seeds 0 1 2; 2 shared cores, 14 min 49 s wall), PSNR gain over the blurry input on whole
held-out frames, mean +- std over seeds:

    trained on / evaluated on   procedural       photographic
    procedural                 +0.55 +- 0.14    +0.38 +- 0.03
    photographic               +0.32 +- 0.05    +0.64 +- 0.13
    identity PSNR              21.09 dB         20.34 dB

Each model is best on its own kind: on photographic held-out frames the photographic model
gains 0.26 dB more than the procedural one, on procedural frames 0.23 dB less. SSIM gains are
all within -0.006..-0.004 at 800 steps (too short for SSIM to move).

  .venv/bin/python bench/synth_transfer.py [--out runs/bench-transfer] [--scenes 24] \\
      [--heldout-scenes 8] [--steps 800] [--seeds 0 1 2] [--resolution 128] [--samples 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

KINDS = {
    "procedural": {"procedural": 1, "cards": 0, "textured": 0},
    "photographic": {"procedural": 0, "cards": 1, "textured": 1},
}
HELDOUT_CONFIG = REPO / "synth" / "configs" / "heldout.toml"
TRAIN_CONFIG = "deblurnet_tiny.toml"
IDENTITY = "identity (blurry input)"


class BenchError(RuntimeError):
    """Bad input or a stale OUT; ``str()`` is one line."""


def stage(out: Path, name: str, settings: dict, fn, *args) -> dict:
    """Run ``fn(*args)`` once: its result (with ``settings``) is kept in OUT/stages/NAME.json;
    a rerun with the same settings reuses it, other settings are refused."""
    marker = out / "stages" / f"{name}.json"
    if marker.is_file():
        result = json.loads(marker.read_text())
        if result.get("settings") != settings:
            raise BenchError(
                f"{marker}: made with {result.get('settings')}, now {settings}; "
                "use another --out (or delete that folder)"
            )
        print(f"[{name}] done before, reused", flush=True)
        return result
    t0 = time.perf_counter()
    print(f"[{name}] ...", flush=True)
    result = fn(*args)
    result.update(settings=settings, seconds=round(time.perf_counter() - t0, 1))
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(marker)
    print(f"[{name}] {result.get('summary', 'done')} ({result['seconds']} s)", flush=True)
    return result


def render(root: Path, kind: str, scenes: int, heldout: bool, a) -> dict:
    """``python -m synth render`` of one set (it resumes finished scenes itself)."""
    cmd = [
        sys.executable, "-m", "synth", "render", "--out", str(root), "--scenes", str(scenes),
        "--resolution", str(a.resolution), "--samples", str(a.samples), "--quiet",
    ]  # fmt: skip
    if heldout:
        cmd += ["--config", str(HELDOUT_CONFIG)]
    for k, w in KINDS[kind].items():
        cmd += ["--set", f"scene.kinds.{k}={w}"]
    if a.photos and kind == "photographic":
        cmd += ["--photos", a.photos]
    p = subprocess.run(cmd, cwd=REPO)
    if p.returncode != 0:
        raise BenchError(f"render of {root} exited {p.returncode} (see {root}/logs)")
    from collections import Counter

    from manifests import read_table

    rows = read_table(str(root), "synthetic_pairs", ["scene_id", "split", "scene_kind"])
    scenes = {r["scene_id"]: r for r in rows.to_pylist()}
    splits = dict(Counter(r["split"] for r in scenes.values()))
    kinds = dict(Counter(r["scene_kind"] or "procedural" for r in scenes.values()))
    if not heldout and not splits.get("train"):
        raise BenchError(f"{root}: no scene in split 'train' among {splits}; render more scenes")
    return {
        "scenes_by_split": splits,
        "scenes_by_kind": kinds,
        "dof_renders": len(rows),
        "summary": f"{len(scenes)} scenes {kinds}, splits {splits}, {len(rows)} DoF renders",
    }


def train(run: Path, root: Path, seed: int, steps: int) -> dict:
    """The tiny DeblurNet on ``root``'s "train" split, as the demo trains it (one process)."""
    from train.config import load_train_config
    from train.launch.local import train_local

    cfg = load_train_config(TRAIN_CONFIG)
    cfg.seed = seed
    cfg.data.eval_split = "val"
    cfg.eval.every = 10**9  # the trainer's own eval (crops of the set's few val scenes) only
    cfg.eval.batches = 1  # at the end, once: the table comes from whole held-out frames
    cfg.checkpoint.every = max(10, steps // 4)
    m = train_local(cfg, [str(root)], run, steps=steps, resume=True, show_progress=False)
    loss = m.get("final_loss") or float("nan")
    return {
        "run": str(run),
        "final_loss": m.get("final_loss"),
        "trainer_eval": {k: m.get(k) for k in ("psnr", "psnr_identity", "ssim")},
        "summary": f"final loss {loss:.4g} after {steps} steps",
    }


_SCENES: dict[tuple[str, int], list] = {}


def evaluate(run: Path, heldout: Path) -> dict:
    """``train.evaluate``'s deblur sections of ``run`` on every frame of ``heldout``."""
    from train.evaluate.methods import Model
    from train.evaluate.scenes import load_scenes
    from train.evaluate.sections import deblur_section

    model = Model(run, "deblurnet")
    key = (str(heldout), model.cfg.granularity_px)
    if key not in _SCENES:
        _SCENES[key] = load_scenes([str(heldout)], model.cfg.granularity_px)
    r = deblur_section(model, _SCENES[key])
    d = r["deblur"]
    gain = d["deblurnet"]["psnr"] - d[IDENTITY]["psnr"]
    return {"results": r, "summary": f"PSNR gain {gain:+.2f} dB over {d[IDENTITY]['images']}"}


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    import numpy as np

    v = np.asarray(values, float)
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else None)


def summarise(evals: dict, seeds: list[int]) -> dict:
    """``evals[(train kind, seed, held-out kind)]`` -> the 2x2 tables (mean, std, per seed)."""
    cells, identity = {}, {}
    for tk in KINDS:
        for ek in KINDS:
            per_seed = []
            for s in seeds:
                d = evals[(tk, s, ek)]["results"]["deblur"]
                per_seed.append(
                    {
                        "seed": s,
                        "psnr_gain_db": d["deblurnet"]["psnr"] - d[IDENTITY]["psnr"],
                        "ssim_gain": d["deblurnet"]["ssim"] - d[IDENTITY]["ssim"],
                        "psnr_db": d["deblurnet"]["psnr"],
                        "ssim": d["deblurnet"]["ssim"],
                    }
                )
                identity[ek] = {
                    "psnr_db": d[IDENTITY]["psnr"],
                    "ssim": d[IDENTITY]["ssim"],
                    "images": d[IDENTITY]["images"],
                }
            cell = {"per_seed": per_seed}
            for key in ("psnr_gain_db", "ssim_gain"):
                cell[key], cell[f"{key}_std"] = _mean_std([p[key] for p in per_seed])
            cells[f"{tk}->{ek}"] = cell
    return {"cells": cells, "identity": identity}


def _pm(mean: float, std: float | None, fmt: str) -> str:
    return f"{mean:{fmt}} ± {'-' if std is None else format(std, fmt.lstrip('+'))}"


def table_markdown(summary: dict, seeds: list[int]) -> str:
    cells, ident = summary["cells"], summary["identity"]
    head = "| trained on \\ evaluated on | " + " | ".join(KINDS) + " |"
    rule = "|---" * (len(KINDS) + 1) + "|"
    n = len(seeds)
    lines = [
        f"DeblurNet PSNR gain over the blurry input, dB (mean ± sample std over {n} seed(s), "
        "whole held-out frames):",
        "",
        head,
        rule,
    ]

    def block(key: str, fmt: str, identity: str, shown) -> list[str]:
        """One row per training kind (mean +- std of ``key``), then the identity row."""
        out = []
        for tk in KINDS:
            vals = [cells[f"{tk}->{ek}"] for ek in KINDS]
            out.append(
                f"| {tk} | " + " | ".join(_pm(c[key], c[f"{key}_std"], fmt) for c in vals) + " |"
            )
        return [*out, f"| {identity} | " + " | ".join(shown(ident[ek]) for ek in KINDS) + " |"]

    lines += block(
        "psnr_gain_db",
        "+.2f",
        "identity PSNR (blurry input)",
        lambda i: f"{i['psnr_db']:.2f} dB ({i['images']} images)",
    )
    lines += ["", "SSIM gain over the blurry input (same runs):", "", head, rule]
    lines += block(
        "ssim_gain", "+.3f", "identity SSIM (blurry input)", lambda i: f"{i['ssim']:.3f}"
    )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/bench-transfer")
    p.add_argument("--scenes", type=int, default=24, help="scenes per training set")
    p.add_argument("--heldout-scenes", type=int, default=8, help="scenes per held-out set")
    p.add_argument("--steps", type=int, default=800, help="training steps of every run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--resolution", type=int, default=128, help="render width, px")
    p.add_argument("--samples", type=int, default=16, help="Cycles samples")
    p.add_argument("--photos", help="photo pool of the photographic sets (default: embedded)")
    a = p.parse_args(argv)
    if min(a.scenes, a.heldout_scenes, a.steps, a.resolution, a.samples) < 1:
        p.error("--scenes, --heldout-scenes, --steps, --resolution, --samples: at least 1")
    if len(set(a.seeds)) != len(a.seeds) or not all(0 <= s < 2**31 for s in a.seeds):
        p.error("--seeds: distinct integers in [0, 2^31)")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    render_settings = {"resolution": a.resolution, "samples": a.samples, "photos": a.photos}
    try:
        sets = {}
        for kind in KINDS:
            for heldout, n in ((False, a.scenes), (True, a.heldout_scenes)):
                name = f"{'heldout' if heldout else 'train'}_{kind}"
                root = out / "data" / name
                settings = {**render_settings, "scenes": n, "kinds": KINDS[kind]}
                stage(out, f"render_{name}", settings, render, root, kind, n, heldout, a)
                sets[name] = root
        evals = {}
        for tk in KINDS:
            for s in a.seeds:
                name = f"{tk}_seed{s}_{a.steps}steps"  # other --steps: other runs
                run = out / "runs" / name
                settings = {"steps": a.steps, "seed": s, "config": TRAIN_CONFIG}
                stage(out, f"train_{name}", settings, train, run, sets[f"train_{tk}"], s, a.steps)
                for ek in KINDS:
                    evals[(tk, s, ek)] = stage(
                        out, f"eval_{name}_on_{ek}", settings, evaluate, run,
                        sets[f"heldout_{ek}"],
                    )  # fmt: skip
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = summarise(evals, a.seeds)
    md = table_markdown(summary, a.seeds)
    doc = {
        "settings": {**vars(a), "train_config": TRAIN_CONFIG},
        **summary,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "transfer.json").write_text(json.dumps(doc, indent=1))
    (out / "transfer.md").write_text(md)
    print("\n" + md)
    print(f"wrote {out / 'transfer.json'} and {out / 'transfer.md'} ({doc['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
