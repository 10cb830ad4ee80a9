"""Losing a worker node mid-run (slow): Ray Train with two workers placed on two nodes of a
multi-node Ray on this machine (a head without CPUs, 2-CPU worker nodes: a train worker and Ray
Data on each). After the step-2 checkpoint is reported, rank 0's node is taken away while both
workers wait at the step-4 report; a replacement node joins (as an autoscaler would add one).
The run resumes from the step-2 checkpoint on the surviving and the new node, reaches its step
count, and every checkpoint loads with the strict loader."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STEPS, EVERY = 6, 2

HELD_RUN = """
import sys
import time
from pathlib import Path

import ray

from train.launch.ray import run_ray


class HoldAfter:
    \"\"\"Every report appends `step rank node` to reports.txt. At the first report after
    step `after`, each worker writes its node id to held-rank<r> and waits for `release`.\"\"\"

    def __init__(self, after: int, folder: Path):
        self.after, self.folder = after, folder

    def __call__(self, metrics: dict, is_rank0: bool) -> None:
        rank, node = 0 if is_rank0 else 1, ray.get_runtime_context().get_node_id()
        with open(self.folder / "reports.txt", "a") as f:
            f.write(f"{metrics['step']} {rank} {node}\\n")
        release = self.folder / "release"
        if metrics["step"] <= self.after or release.exists():
            return
        (self.folder / f"held-rank{rank}").write_text(node)
        deadline = time.monotonic() + 600
        while not release.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the test never released the held workers")
            time.sleep(0.05)


cfg, manifest, out, gate, steps, every = sys.argv[1:7]
hook = HoldAfter(int(every), Path(gate))  # defined in __main__: pickled by value
overrides = [f"checkpoint.every={every}", "eval.batches=1", "eval.batch_size=2"]
run_ray(cfg, [manifest], out, int(steps), False, 2, 0.0, overrides=overrides,
        before_report=hook, placement_strategy="SPREAD")
"""


def registered_steps(snapshot: Path) -> set[int]:
    """The steps of the checkpoints Ray Train's controller has registered (from the snapshot it
    keeps in the storage path; empty before the first)."""
    try:
        results = json.loads(snapshot.read_text())["checkpoint_results"]
    except (OSError, ValueError, KeyError):
        return set()
    return {int(r["metrics"]["step"]) for r in results}


@pytest.mark.slow
def test_ray_train_loses_a_node_and_resumes_from_the_last_reported_checkpoint(
    local_cluster, synth_manifest, tmp_path
):
    cluster = local_cluster(worker_cpus=2)
    run, gate = tmp_path / "run", tmp_path / "gate"
    gate.mkdir()
    script = tmp_path / "held_run.py"
    script.write_text(HELD_RUN)
    cmd = [sys.executable, str(script), "deblurnet_tiny.toml", synth_manifest, str(run), str(gate)]
    job = subprocess.Popen(
        [*cmd, str(STEPS), str(EVERY)],
        env=cluster.driver_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not all((gate / f"held-rank{r}").exists() for r in (0, 1)):
            assert job.poll() is None, job.communicate()[1][-5000:]
            assert time.monotonic() < deadline, "the workers never reached the step-4 report"
            time.sleep(0.1)
        # Ray Train's controller collects reports every 2 s: a checkpoint counts for a restart
        # once it is registered (its snapshot in the storage path lists it)
        snapshot = run / "ray" / "run" / "checkpoint_manager_snapshot.json"
        while not registered_steps(snapshot) >= {EVERY}:
            assert time.monotonic() < deadline, "the step-2 checkpoint was never registered"
            time.sleep(0.1)
        held = [(gate / f"held-rank{r}").read_text() for r in (0, 1)]
        lost = next(n for n in cluster.workers if n.node_id == held[0])
        survivor = next(n.node_id for n in cluster.workers if n is not lost)
        titles = cluster.crash(lost, "RayTrainWorker")  # rank 0, waiting at its step-4 report
        new = cluster.add_worker(2).node_id
        (gate / "release").write_text("go\n")
        stdout, stderr = job.communicate(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert job.returncode == 0, stdout[-3000:] + stderr[-5000:]
    # SPREAD put the two workers on the two nodes; the lost one held rank 0
    assert held[0] != held[1] and held[1] == survivor
    assert titles[0].startswith("ray::RayTrainWorker"), titles

    m = json.loads((run / "metrics.json").read_text())
    assert m["step"] == STEPS and m["world_size"] == 2 and m["ddp_param_max_diff"] == 0.0
    # resumed from the step-2 checkpoint, the last one reported before the loss: steps 3..6 ran
    # again, and the restarted workers skipped the 2 steps of the stream before it
    assert m["steps_run"] == STEPS - EVERY and m["ray_batches_skipped"] == EVERY
    steps = [json.loads(x)["step"] for x in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 3, 4, 5, 6], steps
    # the final report came from the survivor and the new node, one worker on each
    reports = [x.split() for x in (gate / "reports.txt").read_text().splitlines()]
    last = {(int(r), node) for s, r, node in reports if int(s) == STEPS}
    assert {node for _, node in last} == {survivor, new} and {r for r, _ in last} == {0, 1}, last

    # every checkpoint loads with the strict loader: the run's and the ones reported to Ray
    from train.checkpoint import latest_checkpoint
    from train.config import load_train_config
    from train.state import TrainState

    cfg = load_train_config("deblurnet_tiny.toml", [f"checkpoint.every={EVERY}"])
    assert latest_checkpoint(run).name == f"step-{STEPS:06d}"
    reported = sorted(p for p in (run / "ray").glob("*/checkpoint_*") if p.is_dir())
    assert len(reported) >= STEPS // EVERY, reported
    for ckpt in [*sorted((run / "checkpoints").glob("step-*")), *reported]:
        state = TrainState.create(cfg, "cpu", STEPS)
        state.start(ckpt, None)  # weights, optimiser, schedule: strict
        assert state.step in (EVERY, 2 * EVERY, STEPS), (ckpt, state.step)
