"""Test-wide settings: offline model hubs, no Ray usage stats, the ``slow`` marker, fixtures."""

import os
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest

from infra.quiet import quiet_library_logs

quiet_library_logs()
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

REPO = Path(__file__).resolve().parents[1]
# Real camera files (CC BY-SA 4.0, see their README) that the repository carries itself.
CAMERA_EXIF = REPO / "tests" / "data" / "camera-exif"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long tests (renders, Ray clusters, learning runs); `make test-slow`"
    )


@pytest.fixture(scope="session")
def camera_exif_dir() -> Path:
    if not (CAMERA_EXIF / "exiftool-reference.json").exists():
        pytest.fail(f"camera test files missing: {CAMERA_EXIF} (part of the repository)")
    return CAMERA_EXIF


def numeric_keys(model, prefix=""):
    """``(dotted key, default)`` of every number, or list of numbers, in a config model."""
    for name, info in type(model).model_fields.items():
        key, value = f"{prefix}{info.alias or name}", getattr(model, name)
        if hasattr(type(value), "model_fields"):
            yield from numeric_keys(value, f"{key}.")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, (int, float)):
            yield key, value
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], (int, float)):
            yield key, value


def huge(default, sign):
    """A number of the default's kind far outside any range (a list: its last item, or with
    ``sign`` -1 every item, so that a ``[low, high]`` pair stays ordered)."""

    def one(v):
        return sign * 10**20 if isinstance(v, int) else sign * 1e40

    if isinstance(default, (list, tuple)):
        items = [one(v) if sign < 0 or i == len(default) - 1 else v for i, v in enumerate(default)]
        return "[" + ", ".join(map(repr, items)) + "]"
    return repr(one(default))


@pytest.fixture(scope="session")
def config_numbers():
    """``(numeric_keys, huge)`` for the tests that every config number has both bounds."""
    return numeric_keys, huge


def synth_cli(*args: str, timeout: int = 1800):
    """``python -m synth ARGS`` in a subprocess; returns the CompletedProcess (text output)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "synth", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _render_synth(out: Path, scenes: int, resolution: int, samples: int, *extra: str) -> Path:
    """Render ``scenes`` scenes into ``out`` with Blender; fails the test on error."""
    p = synth_cli(
        "render",
        "--out",
        out,
        "--scenes",
        scenes,
        "--resolution",
        resolution,
        "--samples",
        samples,
        "--quiet",
        *extra,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def render_synth():
    """``render_synth(out, scenes, resolution, samples, *extra_flags) -> out``."""
    return _render_synth


@pytest.fixture(scope="session")
def run_synth():
    """``run_synth(*args) -> CompletedProcess`` of ``python -m synth``."""
    return synth_cli


# ---- a multi-node Ray on this machine (slow node-loss tests) --------------------------------


class LocalCluster:
    """Ray nodes on this machine (``ray.cluster_utils.Cluster``), bound to 127.0.0.1: a head with
    no CPUs, where drivers attach and nothing runs, and worker nodes that a test can take away
    mid-run like a crashed machine (``crash``). Drivers run as subprocesses with ``driver_env()``.
    """

    def __init__(self, temp: Path):
        from ray.cluster_utils import Cluster

        self.temp = temp
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 0,
                "node_ip_address": "127.0.0.1",
                "temp_dir": str(temp),
                "include_dashboard": False,
            },
        )
        self.workers: list = []  # the live worker nodes

    @property
    def address(self) -> str:
        return self.cluster.address

    def add_worker(self, cpus: int):
        """A new worker node (an autoscaler's replacement, say); returns its ``Node``."""
        node = self.cluster.add_node(num_cpus=cpus, node_ip_address="127.0.0.1")
        self.cluster.wait_for_nodes()
        self.workers.append(node)
        return node

    def driver_env(self, **extra: str) -> dict:
        """The environment of a driver process that joins this cluster (``RAY_ADDRESS``)."""
        # A driver canonicalises 127.0.0.1 in its address to the machine's default-route IP,
        # where this cluster does not listen; with this flag it keeps the loopback address.
        return dict(
            os.environ, RAY_ADDRESS=self.address, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", **extra
        )

    @staticmethod
    def processes(node) -> dict[int, str]:
        """``{pid: process title}`` of the worker processes a node's raylet started (``ray::IDLE``,
        ``ray::<task>``, ``ray::<Actor>``, ``ray::<Actor>.<method>``, the node's agents)."""
        raylet = node.all_processes["raylet"][0].process.pid
        out = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == raylet:
                    title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    out[int(entry.name)] = title.strip()
            except (OSError, ValueError, IndexError):
                continue
        return out

    def crash(
        self, node, *running: str, timeout: float = 120.0, in_order: bool = False
    ) -> list[str]:
        """Take ``node`` away like a machine that crashed while its workers run, at once, a task
        or actor method of each kind in ``running`` (process titles ``ray::<kind>...``); returns
        those workers' titles.

        Each such worker is frozen (SIGSTOP) when found and its title read again, so it cannot
        finish while the others are awaited: the node provably held that work when it went. Then
        the node's raylet is killed (SIGKILL) and with it every process the raylet started. Fails,
        releasing the frozen workers, if they are not all found within ``timeout`` seconds.
        ``in_order``: freeze the kinds one after the other, in the order given (a frozen task
        must not be one that the next kind waits for).
        """
        frozen: dict[str, tuple[int, str]] = {}
        deadline = time.monotonic() + timeout
        try:
            while len(frozen) < len(running):
                if time.monotonic() > deadline:
                    missing = [k for k in running if k not in frozen]
                    raise AssertionError(f"no worker of the node ran {missing} in {timeout:.0f} s")
                for pid, title in self.processes(node).items():
                    wanted = running[len(frozen) :][:1] if in_order else running
                    kind = next((k for k in wanted if title.startswith(f"ray::{k}")), None)
                    if kind is None or kind in frozen:
                        continue
                    try:
                        os.kill(pid, signal.SIGSTOP)
                    except ProcessLookupError:
                        continue
                    title = self.processes(node).get(pid, "")
                    if title.startswith(f"ray::{kind}"):  # still running it, now frozen
                        frozen[kind] = (pid, title)
                    else:  # it finished before the freeze
                        os.kill(pid, signal.SIGCONT)
                time.sleep(0.005)
        except BaseException:
            for pid, _ in frozen.values():
                os.kill(pid, signal.SIGCONT)
            raise
        victims = self.processes(node)
        self.cluster.remove_node(node, allow_graceful=False)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.workers.remove(node)
        return [frozen[k][1] for k in running]

    def shutdown(self) -> None:
        self.cluster.shutdown()


@pytest.fixture
def local_cluster(monkeypatch):
    """``local_cluster(worker_cpus=1, workers=2) -> LocalCluster``: a multi-node Ray on this
    machine, shut down (every node) when the test ends, also on failure. Its workers import
    this checkout (``PYTHONPATH``); its address file lies in its own short temp folder."""
    clusters = []
    temp = Path("/tmp") / f"rn{uuid.uuid4().hex[:6]}"  # short: Ray socket paths are limited
    (temp / "ray").mkdir(parents=True)
    # Cluster writes its address file there; Ray processes that look a cluster up by it (Ray
    # Train's placement-group cleaner does) find this one, not another Ray on the machine
    monkeypatch.setenv("RAY_TMPDIR", str(temp))
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(
            [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        ),
    )

    def start(worker_cpus: int = 1, workers: int = 2) -> LocalCluster:
        clusters.append(LocalCluster(temp))
        for _ in range(workers):
            clusters[-1].add_worker(worker_cpus)
        return clusters[-1]

    try:
        yield start
    finally:
        for c in clusters:
            c.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


# ---- tiny random-init transformers models (nothing is downloaded) -----------------------------

SEGFORMER_LIKE = dict(
    num_encoder_blocks=4,
    depths=[1, 1, 1, 1],
    sr_ratios=[8, 4, 2, 1],
    hidden_sizes=[8, 8, 16, 16],
    num_attention_heads=[1, 1, 1, 1],
    patch_sizes=[7, 3, 3, 3],
    strides=[4, 2, 2, 2],
    mlp_ratios=[2, 2, 2, 2],
)


@pytest.fixture(scope="session")
def segformer_like() -> dict:
    """A tiny SegFormer-style encoder (GLPN and SegFormer share it)."""
    return dict(SEGFORMER_LIKE)


@pytest.fixture(scope="session")
def tiny_depth_model(tmp_path_factory) -> str:
    """A random-init GLPN (metric head: sigmoid · max_depth) saved to a local directory."""
    import torch
    from transformers import GLPNConfig, GLPNForDepthEstimation, GLPNImageProcessor

    path = tmp_path_factory.mktemp("glpn") / "tiny-glpn"
    torch.manual_seed(0)
    cfg = GLPNConfig(**SEGFORMER_LIKE, decoder_hidden_size=8, head_in_index=-1, max_depth=10)
    GLPNForDepthEstimation(cfg).save_pretrained(path)
    GLPNImageProcessor().save_pretrained(path)
    return str(path)
