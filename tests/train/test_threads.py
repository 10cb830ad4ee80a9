"""Compute threads per training process (``compute_threads``, train/threads.py): the auto rule
as pure functions, range errors, the user's OMP_NUM_THREADS, and that a run applies and states
its count (local here; torchrun in test_loop's DDP test)."""

import json

import pytest
import torch

import train.threads as threads
from train.config import TrainConfigError, load_train_config
from train.threads import (
    auto_threads,
    busy_cores,
    cgroup_quota_cores,
    choose_threads,
    running_elsewhere,
    usable_cores,
    using_threads,
)


@pytest.mark.parametrize(
    "usable, processes, busy, data_workers, want",
    [
        (2, 1, 0, 0, 2),  # quiet 2-core machine, one process
        (2, 2, 0, 0, 1),  # torchrun 2 ranks: one thread each
        (16, 2, 0, 0, 8),
        (16, 3, 0, 0, 5),  # an equal share, rounded down
        (1, 4, 0, 0, 1),  # never 0
        (2, 1, 1, 0, 1),  # one core already busy: one thread
        (2, 1, 2, 0, 1),  # a loaded machine: one thread, never fewer
        (16, 2, 4, 0, 6),
        (2, 1, 0, 1, 1),  # a DataLoader worker process needs a core too
        (64, 8, 0, 1, 7),
        (4, 0, 0, 0, 4),  # no processes given: one
    ],
)
def test_auto_rule(usable, processes, busy, data_workers, want):
    assert auto_threads(usable, processes, busy, data_workers) == want


@pytest.mark.parametrize(
    "load, usable, online, want",
    [
        (0.3, 2, 2, 0),
        (0.6, 2, 2, 1),  # rounded: a busy loop shows as 0.63 after one minute
        (4.4, 2, 2, 2),  # at most the usable cores
        (50.0, 4, 64, 3),  # a 4-core slice of a busy 64-core host: its share of the load
        (0.0, 8, 8, 0),
    ],
)
def test_busy_cores_are_the_load_on_our_share(load, usable, online, want):
    assert busy_cores(load, usable, online) == want


@pytest.mark.parametrize(
    "cpu_max, want",
    [("max 100000", None), ("200000 100000", 2.0), ("150000 100000", 1.5), ("x y", None),
     ("", None), ("0 100000", None)],
)  # fmt: skip
def test_cgroup_quota(cpu_max, want):
    assert cgroup_quota_cores(cpu_max) == want


@pytest.mark.parametrize(
    "affinity, quota, want", [(16, None, 16), (16, 2.0, 2), (16, 1.5, 2), (4, 0.5, 1), (2, 8.0, 2)]
)
def test_usable_cores_are_the_affinity_capped_by_the_quota(affinity, quota, want):
    assert usable_cores(affinity, quota) == want


def test_choose_reads_the_machine_and_a_configured_count_wins(monkeypatch):
    monkeypatch.setattr(threads, "machine_cores", lambda: (16, 16))
    monkeypatch.setattr(threads, "load_now", lambda: 2.2)
    auto = choose_threads(0, processes=2)
    assert auto.threads == 7  # (16 - 2 busy) // 2
    assert auto.why == "auto: 16 usable cores, 2 busy (load 2.2), 2 processes on this node"
    ray = choose_threads(0, processes=2, reserved_cpus=1.0)
    assert ray.threads == 1 and ray.why.endswith("at most the 1 CPU(s) Ray reserved")
    assert choose_threads(0, processes=2, reserved_cpus=0.5).threads == 7  # no whole CPU
    fixed = choose_threads(3, processes=2)
    assert (fixed.threads, fixed.why) == (3, "compute_threads = 3")


def test_the_load_now_is_what_runs_elsewhere_at_this_moment():
    stat = "cpu  1 2 3\nprocs_running 3\nprocs_blocked 0\n"
    assert running_elsewhere(stat) == 2  # the reader is one of the three
    assert running_elsewhere("procs_running 1\n") == 0
    with pytest.raises(ValueError):
        running_elsewhere("cpu 1 2 3\n")
    assert 0.0 <= threads.load_now(samples=2, interval_s=0.0) < 1000


def test_using_threads_restores_the_count():
    before = torch.get_num_threads()
    with using_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    "override, needle",
    [
        ("compute_threads=-1", "compute_threads: must be >= 0, got -1"),
        ("compute_threads=5000", "compute_threads: must be <= 1024, got 5000"),
        ("compute_threads=1.5", "compute_threads: "),
    ],
)
def test_compute_threads_out_of_range_is_a_one_line_error(override, needle):
    with pytest.raises(TrainConfigError) as e:
        load_train_config("deblurnet_tiny.toml", [override])
    assert needle in str(e.value) and "\n" not in str(e.value)


def fit_argv(tmp_path, *extra):
    base = ["fit", "--config", "deblurnet_tiny.toml", "--manifest", "m", "--out"]
    return [*base, str(tmp_path / "run"), *extra]


@pytest.mark.parametrize("value", ["0", "two", "-3", "5000"])
def test_a_bad_omp_num_threads_is_exit_2_with_one_line(monkeypatch, tmp_path, capsys, value):
    from train.cli import main

    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert main(fit_argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: OMP_NUM_THREADS must be") and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_the_users_omp_num_threads_reaches_every_launcher(monkeypatch, tmp_path):
    import train.launch.local
    import train.launch.ray
    import train.launch.torchrun
    from train.cli import main

    seen = {}
    monkeypatch.setattr(
        train.launch.local, "train_local", lambda cfg, *a, **k: seen.update(cfg=cfg) or {}
    )
    monkeypatch.setattr(
        train.launch.torchrun, "run_torchrun", lambda args, n: seen.update(args=args) or 0
    )
    monkeypatch.setattr(
        train.launch.ray, "run_ray", lambda *a, overrides=None, **k: seen.update(o=overrides) or {}
    )
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert main(fit_argv(tmp_path)) == 0 and seen["cfg"].compute_threads == 3
    assert main(fit_argv(tmp_path, "--launcher", "torchrun", "--num-workers", "2")) == 0
    assert seen["args"][-2:] == ["--set", "compute_threads=3"]
    assert main(fit_argv(tmp_path, "--launcher", "ray", "--set", "optim.steps=2")) == 0
    assert seen["o"] == ["optim.steps=2", "compute_threads=3"]
    # a configured count wins over OMP_NUM_THREADS; ranks (--launcher worker) never read it,
    # since torchrun sets it there itself
    assert main(fit_argv(tmp_path, "--set", "compute_threads=2")) == 0
    assert seen["cfg"].compute_threads == 2
    assert main(fit_argv(tmp_path, "--launcher", "worker")) == 0
    assert seen["cfg"].compute_threads == 0
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert main(fit_argv(tmp_path)) == 0 and seen["cfg"].compute_threads == 0


def test_a_local_run_computes_on_the_configured_threads_and_says_so(
    synth_manifest, tiny_cfg, tmp_path, capsys
):
    from train.data.feed import MapStyleSource, TrainData
    from train.dist import DistContext
    from train.loop import Hooks, fit

    cfg = tiny_cfg("deblurnet_tiny.toml")
    cfg.compute_threads, cfg.checkpoint.every = 1, 1
    data = TrainData.load(cfg, [synth_manifest])
    during = []
    hooks = Hooks(on_checkpoint=lambda m, d: during.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    with using_threads(2):
        m = fit(cfg, tmp_path, data, MapStyleSource(data), DistContext(), hooks, steps=2)
        assert torch.get_num_threads() == 2  # restored
    assert torch.get_num_threads() == before
    assert during == [1, 1]
    assert (m["compute_threads"], m["compute_threads_rule"]) == (1, "compute_threads = 1")
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[0]["compute_threads"] == 1 and "compute_threads" not in log[1]
    err = capsys.readouterr().err
    assert "deblurnet_tiny: 1 compute thread per process (compute_threads = 1)" in err
