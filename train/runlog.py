"""What a run shows and leaves behind while it trains (rank 0 only; other ranks get a no-op).

Progress (a tqdm bar on a terminal, a line every few seconds otherwise) after one line with
the compute threads per process and how they were chosen, ``config.json``, ``log.jsonl`` (one
JSON line per step: step, loss, lr, time; a launch's first line also ``compute_threads`` and
its rule), TensorBoard scalars under ``tb/`` (and the validation strips as images, tag
``validation``, when ``eval.images_every > 0``; their PNGs, ``validation/step-NNNNNN.png``, are
``train.evaluate.validation``'s), and at the end ``metrics.json``, ``metrics.csv``,
``loss.png``, ``samples.png`` and ``k_sweep.png`` (BokehNet).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


class RunLog:
    def __init__(
        self, out: Path, cfg, start: int, steps: int, main: bool, progress: bool, threads=None
    ):
        self.out, self.main, self.t0 = Path(out), main, time.perf_counter()
        self.writer = self.log = self.bar = None
        self.first = {}  # extra keys of the first log line
        if not main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=str))
        self.log = open(self.out / "log.jsonl", "a")  # noqa: SIM115
        self.writer = _tensorboard(self.out)
        if threads is not None:  # train.threads.ThreadChoice: said once, at the start
            self.first = {"compute_threads": threads.threads, "compute_threads_rule": threads.why}
            if progress:
                n = threads.threads
                print(
                    f"{cfg.name}: {n} compute thread{'s' if n > 1 else ''} per process "
                    f"({threads.why})",
                    file=sys.stderr,
                    flush=True,
                )
        if progress:
            from infra.progress import progress_bar

            self.bar = progress_bar(total=steps, initial=start, desc=cfg.name, unit="step")

    def step(self, done: int, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        if not self.main:
            return
        t = time.perf_counter() - self.t0
        record = {"step": done, "loss": loss, "lr": lr, "time_s": t, **self.first}
        self.first = {}
        self.log.write(json.dumps(record) + "\n")
        self.scalars("train", {"loss": loss}, done)

    def scalars(self, group: str, values: dict, step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, float):
                    self.writer.add_scalar(f"{group}/{key}", value, step)

    def image(self, tag: str, image_hwc_u8, step: int) -> None:
        """An H×W×3 uint8 image (a validation strip) under ``tag`` in TensorBoard."""
        if self.writer is not None:
            self.writer.add_image(tag, image_hwc_u8, step, dataformats="HWC")

    def flush(self) -> None:
        if self.log is not None:
            self.log.flush()

    def elapsed_s(self) -> float:
        if self.bar is not None:
            self.bar.close()
        return time.perf_counter() - self.t0

    def finish(self, metrics: dict, losses: list[float], grid: dict, steps: int) -> None:
        """Write the final metrics and plots, close the logs."""
        if not self.main:
            return
        write_run_outputs(self.out, metrics, losses, grid)
        self.scalars("eval", metrics, steps)
        if self.writer is not None:
            self.writer.close()
        self.log.close()


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tb"))


def write_run_outputs(out: Path, metrics: dict, losses: list[float], grid: dict) -> None:
    """``metrics.json``/``.csv``, ``loss.png``, ``samples.png`` (one row per held-out sample, at
    most 4) and ``k_sweep.png`` when the grid has a K sweep."""
    from train.outputs import write_loss_curve, write_metrics, write_sample_grid

    write_metrics(metrics, out)
    if losses:
        write_loss_curve(list(range(1, len(losses) + 1)), losses, out / "loss.png")
    if grid:
        kinds = [k for k in grid if k not in ("k_sweep", "k_values")]
        n = min(4, len(grid[kinds[0]]))
        write_sample_grid(
            [[grid[k][i] for k in kinds] for i in range(n)], kinds, out / "samples.png"
        )
        if "k_sweep" in grid:
            labels = [f"K={k:g}" for k in grid["k_values"]]
            write_sample_grid([list(grid["k_sweep"])], labels, out / "k_sweep.png")
