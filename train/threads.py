"""How many intra-op compute threads each training process gives torch (``compute_threads``).

``compute_threads = N > 0`` is used as given (the ``fit`` CLI turns the user's
``OMP_NUM_THREADS`` into it). ``0`` (auto) gives each process on this node an equal share of the
cores nobody else is using when the run starts:

    threads = max(1, (usable − busy − processes · data_workers) // processes)

- ``usable``: the cores this process may run on: its CPU affinity (``taskset``, cpusets, a
  Slurm allocation), further capped by a cgroup CPU quota (``docker --cpus``, a Kubernetes CPU
  limit), which the affinity does not show;
- ``busy``: the threads running elsewhere on the machine at the start (the median of a few
  ``/proc/stat`` ``procs_running`` readings, :func:`load_now`; the 1-minute load average where
  that file is missing), scaled to our share of the machine (``load · usable / online cores``);
- ``processes``: the training processes on this node (1 alone, ``LOCAL_WORLD_SIZE`` under
  torchrun and Ray Train); each DataLoader worker process (``data_workers``) needs a core too;
- under Ray Train at most the CPUs Ray reserved for the worker (Ray Data's tasks use the rest).

Why so careful: the threads of one process wait for each other at the end of every parallel
operation, so when outside work takes the core of one of them the whole step waits. Measured on
2 cores at load 5-11 (tiny DeblurNet): 2.0-2.9 s a step (median) on two threads, 0.25-0.32 s on
one; quiet, two threads gained only 1.3x (docs/train.md, "Compute threads"). The count is chosen
once (it changes the numerics at the 1e-6 level, so a run keeps it): where other work may start
later, set ``compute_threads = 1``.

Pure functions (``auto_threads``, ``busy_cores``, ``usable_cores``, ``cgroup_quota_cores``,
``running_elsewhere``) hold
the rule; :func:`choose_threads` reads the machine and :func:`using_threads` applies a choice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAX_COMPUTE_THREADS = 1024  # the config's upper bound


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    why: str  # how it was chosen, for the run log


def auto_threads(usable: int, processes: int, busy: int = 0, data_workers: int = 0) -> int:
    """Threads per process: an equal share of the cores left free, at least 1."""
    processes = max(1, processes)
    return max(1, (usable - busy - processes * data_workers) // processes)


def busy_cores(load_1min: float, usable: int, online: int) -> int:
    """Cores of ours already taken: the load average scaled to our share of the machine."""
    return min(usable, max(0, round(load_1min * usable / max(1, online))))


def cgroup_quota_cores(cpu_max: str) -> float | None:
    """The cores a cgroup v2 ``cpu.max`` line allows (``"200000 100000"`` -> 2.0; ``"max
    100000"`` -> None: no limit)."""
    parts = cpu_max.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def usable_cores(affinity: int, quota: float | None) -> int:
    """The cores we may use: the affinity, capped by a CPU quota rounded up (at least 1)."""
    if quota is not None:
        affinity = min(affinity, math.ceil(quota))
    return max(1, affinity)


def _read_quota() -> float | None:
    """This machine's cgroup CPU quota in cores (v2 ``cpu.max``, else v1 CFS files), or None."""
    try:
        return cgroup_quota_cores(Path("/sys/fs/cgroup/cpu.max").read_text())
    except OSError:
        pass
    try:
        v1 = Path("/sys/fs/cgroup/cpu")
        quota = int((v1 / "cpu.cfs_quota_us").read_text())
        period = int((v1 / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def machine_cores() -> tuple[int, int]:
    """(usable cores of this process, online cores of the machine)."""
    online = os.cpu_count() or 1
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        affinity = online
    return usable_cores(affinity, _read_quota()), online


def running_elsewhere(proc_stat: str) -> int:
    """Runnable threads other than the reader, from ``/proc/stat``'s ``procs_running`` line
    (the reader itself is running when it reads the file)."""
    for line in proc_stat.splitlines():
        if line.startswith("procs_running "):
            return max(0, int(line.split()[1]) - 1)
    raise ValueError("no procs_running line")


def load_now(samples: int = 5, interval_s: float = 0.05) -> float:
    """The work running on the machine now: the median of ``samples`` readings of the runnable
    threads other than ours, over ``samples · interval_s`` seconds; the 1-minute load average
    where ``/proc/stat`` cannot be read. Not the load average first: it trails by a minute, so a
    pipeline's own stage that just finished (the demo's renders before its training) would count
    as outside work and leave the cores idle."""
    import statistics
    import time

    try:
        readings = []
        for i in range(samples):
            if i:
                time.sleep(interval_s)
            readings.append(running_elsewhere(Path("/proc/stat").read_text()))
        return float(statistics.median(readings))
    except (OSError, ValueError):
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0


def choose_threads(
    configured: int,
    processes: int = 1,
    data_workers: int = 0,
    reserved_cpus: float | None = None,
) -> ThreadChoice:
    """``configured`` (> 0) or the auto rule on this machine now (see the module docstring)."""
    if configured > 0:
        return ThreadChoice(configured, f"compute_threads = {configured}")
    usable, online = machine_cores()
    load = load_now()
    busy = busy_cores(load, usable, online)
    threads = auto_threads(usable, processes, busy, data_workers)
    why = (
        f"auto: {usable} usable cores, {busy} busy (load {load:.1f}), {processes} "
        f"process{'es' if processes > 1 else ''} on this node"
    )
    if data_workers:
        why += f" with {data_workers} data worker{'s' if data_workers > 1 else ''} each"
    if reserved_cpus is not None and reserved_cpus >= 1 and threads > int(reserved_cpus):
        threads = int(reserved_cpus)
        why += f", at most the {threads} CPU(s) Ray reserved"
    return ThreadChoice(threads, why)


@contextmanager
def using_threads(threads: int) -> Iterator[None]:
    """Run with ``torch.set_num_threads(threads)``, restoring the process's count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
