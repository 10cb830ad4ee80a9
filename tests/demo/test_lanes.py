"""demo.lanes: trainings side by side, their progress, and a failing lane's one-line error."""

import json

import pytest

from demo.config import DemoConfig
from demo.lanes import lane_threads, last_step, progress_line, run_lanes
from demo.training import train_net


def test_each_lane_gets_an_equal_share_of_the_cores():
    assert lane_threads(2, 2) == 1
    assert lane_threads(16, 2) == 8
    assert lane_threads(7, 3) == 2
    assert lane_threads(1, 2) == 1  # never zero
    assert lane_threads(4, 0) == 4


def test_last_step_reads_the_last_complete_line(tmp_path):
    log = tmp_path / "log.jsonl"
    assert last_step(log) == 0  # not written yet
    log.write_text("")
    assert last_step(log) == 0
    lines = [json.dumps({"step": s, "loss": 0.1}) for s in range(1, 2001)]
    log.write_text("\n".join(lines) + "\n" + '{"step": 2001, "lo')  # a line being written
    assert last_step(log) == 2000
    log.write_text('{"step": 5}\nnot json\n')
    assert last_step(log) == 5


def test_progress_line_names_every_stage():
    line = progress_line({"deblur": (1200, 3000), "bokeh_stage1": (800, 1500)}, 95.4)
    assert line == "training: deblur 1200/3000, bokeh_stage1 800/1500 (95 s)"


def test_a_failing_lane_raises_one_line_naming_the_stage_and_its_log(tmp_path, monkeypatch):
    import train.threads

    monkeypatch.setattr(train.threads, "machine_cores", lambda: (2, 2))  # side by side
    out = tmp_path / "demo"  # no renders: every training fails on its manifest
    cfg = DemoConfig.small(out=str(out))
    with pytest.raises(RuntimeError) as e:
        run_lanes(
            cfg, out, [["deblur"], ["bokeh_stage1"]], {"deblur": 20, "bokeh_stage1": 20}, train_net
        )
    msg = str(e.value)
    assert "\n" not in msg
    assert "failed (exit status 1)" in msg and "see " in msg
    name = "deblur" if "stage deblur " in msg else "bokeh_stage1"
    log = out / "logs" / f"{name}.log"
    assert str(log) in msg and "synth" in log.read_text()
    assert not (out / "stages" / f"{name}.json").exists()  # a rerun trains it again


def test_finished_lanes_are_not_started_again(tmp_path, capsys):
    out = tmp_path / "demo"
    (out / "stages").mkdir(parents=True)
    for name in ("deblur", "bokeh_stage1"):
        (out / "stages" / f"{name}.json").write_text(json.dumps({"summary": f"{name} ok"}))
    cfg = DemoConfig.small(out=str(out))
    res = run_lanes(cfg, out, [["deblur"], ["bokeh_stage1"]], {}, train_net)
    assert res == {n: {"summary": f"{n} ok"} for n in ("deblur", "bokeh_stage1")}
    assert "done before, reused (deblur ok)" in capsys.readouterr().out


def _gone(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/status").read().split("State:")[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")  # a zombie has ended (its new parent may not reap it at once)


def test_a_lane_ends_when_the_demo_process_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing as mp, os, time\n"
        "from demo.lanes import _exit_with_parent\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('spawn').Process(target=_exit_with_parent, args=(os.getpid(),))\n"
        "    p.start()\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(120)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        child = int(parent.stdout.readline())
        time.sleep(1.5)
        assert not _gone(child)  # it waits while its parent lives
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 15
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(child)
    finally:
        parent.kill()
