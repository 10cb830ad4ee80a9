"""curate at scale: the driver's peak memory and the files/s of whole jobs from 10k to 100k inputs.

Each size is a folder of hard links to a few generated camera JPEGs (a link is a separate
input with its own URI, so the listing, shards, pass 1, rejects and stats all scale with the
count, while the disk holds only the few real files). Most base files fail pass 1's f-number
filter, a few survive into pass 2 (decode, quality, dedup: their copies are exact duplicates),
so the run measures the job's bookkeeping rather than JPEG decoding. Every job runs in its own
process (`python curate/job.py` semantics through ``curate.job.main``, a private local Ray with
``--num-cpus``); that process reports its own peak resident memory (``VmHWM``: the driver only,
not the Ray workers). Printed per size: inputs, kept, rejected, seconds, files/s and the driver's
peak RSS; last lines: the peak RSS growth between the smallest and the largest size, in MiB
and per 1,000 inputs.

Example: python bench/curate_scale.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

# Runs in the child: the job, then the driver's own peak RSS and the stats as one JSON line.
_CHILD = """
import json, sys
from curate import job
rc = job.main(sys.argv[1:])
hwm_kib = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))
stats = json.load(open(sys.argv[sys.argv.index('--out') + 1] + '/stats.json'))
print('BENCH ' + json.dumps({'rc': rc, 'hwm_kib': hwm_kib, 'stats': stats}))
"""


def build_folder(folder: Path, base: Path, n: int) -> None:
    """``n`` hard links, spread over sub-folders of 1,000, to the files in ``base``."""
    files = sorted(base.iterdir())
    for i in range(n):
        sub = folder / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True)
        os.link(files[i % len(files)], sub / f"{i:07d}.jpg")


def run_job(folder: Path, out: Path, num_cpus: int, max_f_number: float) -> dict:
    argv = [
        "--input", str(folder), "--out", str(out), "--num-cpus", str(num_cpus),
        "--no-progress", "--set", f"filters.max_f_number={max_f_number}",
        "--set", "filters.min_short_side_px=256",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"the job failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    result = json.loads(line[len("BENCH ") :])
    result["seconds"] = seconds
    return result


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--base-files", type=int, default=50, help="distinct generated JPEGs")
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 2)
    p.add_argument("--max-f-number", type=float, default=1.4, help="pass 1 keeps f/1.2..this")
    a = p.parse_args()
    if any(s < 1 or s > 10_000_000 for s in a.sizes) or not 1 <= a.base_files <= 10_000:
        p.error("--sizes must lie in 1..10,000,000 and --base-files in 1..10,000")
    from curate_throughput import make_files

    root = Path(tempfile.mkdtemp(prefix="cscale"))
    rows = []
    try:
        base = root / "base"
        base.mkdir()
        make_files(base, a.base_files)
        for n in sorted(a.sizes):
            folder, out = root / f"in{n}", root / f"out{n}"
            build_folder(folder, base, n)
            r = run_job(folder, out, a.num_cpus, a.max_f_number)
            s = r["stats"]
            rows.append((n, r["hwm_kib"] / 1024, r["seconds"]))
            print(
                f"{n:>9,} inputs: kept {s['kept']:>6,}  rejected {s['rejected']:>7,}  "
                f"counts_ok {s['counts_ok']}  {r['seconds']:6.1f} s  "
                f"{n / r['seconds']:6.0f} files/s "
                f"(pass 1 {s['timing']['pass1']['files_per_s']:.0f})"
                f"  driver peak RSS {r['hwm_kib'] / 1024:7.1f} MiB  reasons {s['reasons']}",
                flush=True,
            )
            shutil.rmtree(folder)
            shutil.rmtree(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load: {load}")
    if len(rows) > 1:
        (n0, m0, _), (n1, m1, _) = rows[0], rows[-1]
        print(
            f"driver peak RSS growth {n0:,} -> {n1:,} inputs: {m1 - m0:+.1f} MiB "
            f"({(m1 - m0) / ((n1 - n0) / 1000):+.3f} MiB per 1,000 inputs; {m1 / m0:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
