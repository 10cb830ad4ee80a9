"""Independent training stages at once: one process per lane, an equal share of the cores each.

The demo's tiny networks do not keep two cores busy: a step of the tiny DeblurNet on two threads
is only ~1.2x as fast as on one (docs/train.md, "Compute threads"). So DeblurNet trains in one
process while BokehNet stage 1 and then the shape-conditioned BokehNet train in another, each on
``cores // lanes`` threads (measured on 2 cores: 300 steps of both took 28 s side by side against
44 s one after the other on two threads). A lane is a list of stages run in order
(``demo.stages.run_stage``: each leaves its marker, a rerun skips it); lanes whose stages are all
done are not started, and with one lane left or one core everything runs here, in order.

Each lane's process writes its output to ``OUT/logs/<stages>.log``; this process shows one
progress bar per stage from the runs' ``log.jsonl`` and each stage's summary as it finishes. A
lane that fails stops the others (their checkpoints are kept: a rerun resumes) and raises one
line naming the stage, the exit status and the log. A lane's process ends when the demo's does
(even on ``kill -9``), so a rerun never races an orphan.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

from demo.stages import marker, run_stage

POLL_S = 1.0


def lane_threads(cores: int, lanes: int) -> int:
    """Compute threads per lane: an equal share of the cores, at least one."""
    return max(1, cores // max(1, lanes))


def last_step(log_jsonl: Path) -> int:
    """The step of a run's last complete ``log.jsonl`` line (0 when there is none yet)."""
    try:
        with open(log_jsonl, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().split(b"\n")
    except OSError:
        return 0
    for line in reversed(lines[:-1]):  # the last piece may be a line being written
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def _lane_main(cfg, out: Path, lane: list[str], threads: int, log: str, train) -> None:
    """A lane's process: its output to ``log``, its stages in order on ``threads`` threads."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    for name in lane:
        run_stage(out, name, train, cfg, out, name, threads)


def _exit_with_parent(parent: int) -> None:
    """End this lane when the demo's process is gone (``kill -9``): a rerun must not race an
    orphan writing the same run folder."""
    while os.getppid() == parent:
        time.sleep(POLL_S)
    print(f"demo.lanes: parent process {parent} ended; stopping", file=sys.stderr, flush=True)
    os._exit(1)


def _tail(log: Path) -> str:
    try:
        lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def run_lanes(
    cfg, out: Path, lanes: list[list[str]], steps: dict[str, int], train
) -> dict[str, dict]:
    """Run ``lanes`` (lists of stage names, see the module docstring) side by side; returns each
    stage's result. ``steps``: the training steps of each stage (its progress bar's total);
    ``train(cfg, out, name, threads)``: trains stage ``name`` (a module-level function: the
    lanes' processes receive it by name)."""
    from train.threads import machine_cores

    pending = [lane for lane in lanes if not all(marker(out, n).is_file() for n in lane)]
    cores = machine_cores()[0]
    if len(pending) < 2 or cores < 2:
        return {n: run_stage(out, n, train, cfg, out, n) for lane in lanes for n in lane}
    results = {
        n: run_stage(out, n, train, cfg, out, n)
        for lane in lanes
        if lane not in pending
        for n in lane
    }
    threads = lane_threads(cores, len(pending))
    (out / "logs").mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")  # no forked torch/Ray state
    procs = []
    for lane in pending:
        log = out / "logs" / f"{'+'.join(lane)}.log"
        p = ctx.Process(target=_lane_main, args=(cfg, out, lane, threads, str(log), train))
        p.start()
        procs.append((lane, p, log))
    shown = " | ".join(" -> ".join(lane) for lane in pending)
    print(
        f"[{shown}] side by side, {threads} compute thread{'s' if threads > 1 else ''} each "
        f"({cores} cores); logs in {out / 'logs'}",
        flush=True,
    )
    try:
        _watch(out, procs, steps)
    finally:
        for _, p, _ in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    failed = [(lane, p, log) for lane, p, log in procs if p.exitcode != 0]
    if failed:  # the lane that failed on its own, not one stopped because of it
        lane, p, log = min(failed, key=lambda f: f[1].exitcode < 0)
        name = next((n for n in lane if not marker(out, n).is_file()), lane[-1])
        raise RuntimeError(
            f"demo: stage {name} failed (exit status {p.exitcode}); see {log}: {_tail(log)}"
        )
    for lane in pending:
        for n in lane:
            results[n] = json.loads(marker(out, n).read_text())
    return {n: results[n] for lane in lanes for n in lane}


def progress_line(counts: dict[str, tuple[int, int]], elapsed_s: float) -> str:
    """One status line for a log: each stage's steps done of its total."""
    parts = [f"{n} {done}/{total}" for n, (done, total) in counts.items()]
    return f"training: {', '.join(parts)} ({elapsed_s:.0f} s)"


def _watch(out: Path, procs: list, steps: dict[str, int]) -> None:
    """Progress until every lane's process has ended (or one failed): stacked bars on a
    terminal, a line every few seconds otherwise (:mod:`infra.progress`)."""
    from infra.progress import LOG_INTERVAL_S, progress_bar

    names = [n for lane, _, _ in procs for n in lane if not marker(out, n).is_file()]
    tty = sys.stderr.isatty()
    bars = {
        n: progress_bar(total=steps.get(n, 0), desc=n, unit="step", position=i, leave=True)
        for i, n in enumerate(names)
        if tty
    }
    counts = {n: (0, steps.get(n, 0)) for n in names}
    done: set[str] = set()
    t0 = last_line = time.perf_counter()
    try:
        while True:
            for n in names:
                if n in done:
                    continue
                step = last_step(out / n / "log.jsonl")
                counts[n] = (max(step, counts[n][0]), counts[n][1])
                if n in bars and step > bars[n].n:
                    bars[n].update(step - bars[n].n)
                if marker(out, n).is_file():
                    done.add(n)
                    r = json.loads(marker(out, n).read_text())
                    line = f"[{n}] {r.get('summary', 'done')} ({r.get('seconds')} s)"
                    if tty:
                        bars[n].write(line)
                    else:
                        print(line, flush=True)
            now = time.perf_counter()
            if not tty and now - last_line >= LOG_INTERVAL_S:
                print(progress_line(counts, now - t0), file=sys.stderr, flush=True)
                last_line = now
            if not any(p.is_alive() for _, p, _ in procs) or any(
                p.exitcode not in (None, 0) for _, p, _ in procs
            ):
                return  # all done, or one failed (run_lanes stops the others)
            time.sleep(POLL_S)
    finally:
        for bar in bars.values():
            bar.close()
