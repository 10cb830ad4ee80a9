"""Ray Train: 2 workers on a local Ray (127.0.0.1) survive an injected worker failure (slow)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

FAILING_RUN = """
import sys
from pathlib import Path

from train.launch.ray import run_ray


class FailOnce:
    \"\"\"Fail every worker once, at the first report after the step-{after} checkpoint.\"\"\"

    def __init__(self, after: int, marker: Path):
        self.after, self.marker = after, marker

    def __call__(self, metrics: dict, is_rank0: bool) -> None:
        if metrics["step"] > self.after and not self.marker.exists():
            if is_rank0:
                self.marker.write_text("failed once\\n")
            raise RuntimeError(f"injected worker failure at step {metrics['step']}")


cfg, manifest, out = sys.argv[1:4]
hook = FailOnce(2, Path(out) / ".injected_failure")  # defined in __main__: pickled by value
run_ray(cfg, [manifest], out, 4, False, 2, 0.0, before_report=hook)
"""


@pytest.mark.slow
def test_ray_train_two_workers_survive_a_failure(synth_manifest, tmp_path):
    run = tmp_path / "ray_run"
    ray_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    repo = Path(__file__).parents[2]
    env = dict(os.environ, RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(repo))
    cfg = tmp_path / "cfg.toml"

    text = (repo / "train/configs/deblurnet_tiny.toml").read_text()
    cfg.write_text(
        text.replace("every = 100", "every = 2").replace("sample_steps = 8", "sample_steps = 2")
    )
    script = tmp_path / "failing_run.py"
    script.write_text(FAILING_RUN)
    try:
        p = subprocess.run(
            [sys.executable, str(script), str(cfg), synth_manifest, str(run)],
            capture_output=True,
            text=True,
            timeout=1200,
            env=env,
            cwd=repo,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    assert (run / ".injected_failure").exists()  # the failure really happened
    m = json.loads((run / "metrics.json").read_text())
    assert m["step"] == 4 and m["world_size"] == 2 and m["ddp_param_max_diff"] == 0.0
    steps = [json.loads(x)["step"] for x in (run / "log.jsonl").read_text().splitlines()]
    # failed at the step-4 report, resumed from the reported step-2 checkpoint (not from 0)
    assert steps == [1, 2, 3, 4, 3, 4], steps
    assert m["ray_batches_skipped"] == 2  # the 2 steps before the checkpoint: not trained twice
    # each worker shares the node with the other and stays within its 1 reserved CPU
    assert m["compute_threads"] == 1 and "2 processes on this node" in m["compute_threads_rule"]
    assert any((run / "ray").iterdir())  # checkpoints reported to the storage path


def test_a_resumed_ray_launch_starts_the_data_stream_at_the_checkpoint(
    synth_manifest, tiny_cfg, tmp_path
):
    from train.launch.local import train_local
    from train.launch.ray import checkpoint_step, restart_point

    assert checkpoint_step(str(tmp_path / "none")) == 0
    cfg = tiny_cfg("deblurnet_tiny.toml")
    cfg.checkpoint.every = 2
    run = tmp_path / "run"
    train_local(cfg, [synth_manifest], run, steps=3, show_progress=False)
    assert checkpoint_step(str(run)) == 3  # the final checkpoint

    # Where a worker group starts (and how many steps of the launch's stream it skips).
    step2, step3 = run / "checkpoints" / "step-000002", run / "checkpoints" / "step-000003"
    assert restart_point(None, False, str(run), 0) == (False, 0)  # a fresh launch
    assert restart_point(step2, False, str(run), 0) == (step2, 2)  # restart: Ray's checkpoint
    assert restart_point(step2, True, str(run), 2) == (step2, 0)  # ... even with a newer one here
    # a --resume launch at step 2 restarted before Ray registered a checkpoint: the step-3 one
    # written since (the stream's first step is skipped), not the launch's step 2 with no skip
    assert restart_point(None, True, str(run), 2) == (step3, 1)
