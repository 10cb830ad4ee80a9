"""A demo stage: run once, leave ``OUT/stages/<name>.json`` (its result, with its seconds), and
on a rerun reuse that marker instead of running again."""

from __future__ import annotations

import json
import time
from pathlib import Path


def marker(out: Path, name: str) -> Path:
    """The file that says stage ``name`` of the demo in ``out`` has finished."""
    return Path(out) / "stages" / f"{name}.json"


def run_stage(out: Path, name: str, fn, *args) -> dict:
    """``fn(*args)`` (a dict with a ``summary``), or its result from before."""
    done = marker(out, name)
    if done.is_file():
        result = json.loads(done.read_text())
        print(f"[{name}] done before, reused ({result.get('summary', '')})")
        return result
    t0 = time.perf_counter()
    print(f"[{name}] ...", flush=True)
    result = fn(*args)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(result, indent=1, default=str))
    print(f"[{name}] {result.get('summary', 'done')} ({result['seconds']} s)", flush=True)
    return result
