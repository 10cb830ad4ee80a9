"""One Ray start-up for every stage: join the cluster the user names, or start a private local
Ray that never joins a stranger's.

:func:`start_ray` joins ``address`` (``--ray-address``, else ``RAY_ADDRESS``: ``auto``,
``ray://head:10001``, ``host:port``) or starts a new local Ray on loopback (``address="local"``:
never the cluster a dead run's address file points at) with no dashboard, usage statistics
off, its session folder under ``temp_dir`` (else ``RAY_TMPDIR``) and this checkout on the
workers' ``PYTHONPATH``, so local workers import the same code as the driver. Ray is imported
only when called.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    temp_dir: str | None = None,
    log_to_driver: bool = True,
) -> bool:
    """Initialise Ray unless it already is; True when this call started a private local Ray
    (the caller shuts it down), False when it joined a cluster or Ray was already running."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=log_to_driver)
        return False
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs = {}
    if num_cpus:
        kwargs["num_cpus"] = int(num_cpus)
    temp_dir = temp_dir or os.environ.get("RAY_TMPDIR")
    if temp_dir:
        kwargs["_temp_dir"] = temp_dir
    ray.init(
        address="local",
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=log_to_driver,
        **kwargs,
    )
    return True
