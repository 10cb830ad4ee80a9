"""curate job: photo folders / buckets -> real_photos + rejects manifests (the only Ray module).

Usage (all three run the same code):

  # 1. Local: starts a private Ray on this machine when no cluster is given
  python curate/job.py --input ~/photos --input s3://bucket/raw/ --out runs/curate

  # 2. A running cluster (`ray start --head` on the head node, `ray start --address` on workers)
  RAY_ADDRESS=http://HEAD:8265 ray job submit --working-dir . -- \\
      python curate/job.py --input s3://bucket/raw/ --out s3://bucket/curated --config my.toml

  # 3. A cluster launched from a YAML (see curate/cluster.yaml)
  ray up curate/cluster.yaml
  ray submit curate/cluster.yaml curate/job.py --input s3://bucket/raw/ --out s3://bucket/cur

Inside a job started by `ray job submit`/`ray submit`, RAY_ADDRESS is set and the job joins that
cluster; `--ray-address auto` joins a cluster started on this machine. Object-store credentials come
from the standard environment and config files (AWS_*, ~/.aws, GOOGLE_APPLICATION_CREDENTIALS)
and are never printed or written. A re-run with the same --input/--out skips finished shards.

Flow: lock OUT (OUT/_work/lock.json, one writer per OUT; a second job refuses, exit 2) -> list
(links followed only inside the inputs; links that leave them, loop or dangle, and
FIFOs/devices are rejects of stage list, in OUT/rejects/part-list) -> shard (sorted on disk,
OUT/_work/listing.parquet, one row group of fixed size per shard, written once the resume checks
pass; all of this before Ray starts) -> pass 1 tasks (EXIF head read,
filters) -> pass 2 tasks (full read, decode, weight-free quality, phash) -> CLIP actor pool
(optional) -> per-shard candidates under OUT/_work/ -> global dedup -> OUT/real_photos/part-K,
OUT/rejects/part-K -> stats.json (inputs = kept + rejected, checked), summary.png, summary.html.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__" and str(REPO) not in sys.path:  # `python curate/job.py`
    sys.path.insert(0, str(REPO))

import ray  # noqa: E402

from curate import merge, outputs, passes, spill  # noqa: E402
from curate.config import DEFAULT_CONFIG, ConfigError, CurateConfig, load_config  # noqa: E402
from curate.listing import ListingError  # noqa: E402
from curate.lock import OutLock  # noqa: E402
from curate.stats import job_stats, rate, read_reject_reasons  # noqa: E402
from curate.summary import PLOT_COLUMNS, text_summary  # noqa: E402
from infra.config_file import add_set_argument, integer  # noqa: E402
from infra.progress import progress_bar  # noqa: E402
from infra.ray_start import start_ray  # noqa: E402
from manifests import ManifestError, read_table  # noqa: E402


class JobError(RuntimeError):
    """A job-level problem; ``str()`` is one line saying what and what to do."""


# ---- Ray wrappers -----------------------------------------------------------------------------

# A node lost mid-run (a crash, a preempted spot machine) costs only the work in flight there:
# Ray runs a lost task again elsewhere (also to rebuild a result stored on that node), and
# restarts a lost CLIP actor elsewhere and sends it the calls it had not answered. Every task and
# call is a pure function of its inputs, so a rerun gives the same rows. RETRIES bounds how often
# one task is redone (Ray's default for tasks, made explicit) and how often the actor restarts;
# its calls are retried without a bound (-1) while it can restart: a call sent while its node is
# down but not yet declared dead fails at once, and with a bound of 3 such tries were spent in
# moments (ActorUnavailableError, tests/curate/test_node_loss.py). A job that still fails
# resumes with a re-run, which skips finished shards.
RETRIES = 3


@ray.remote(num_cpus=1, num_returns=3, max_retries=RETRIES)
def pass1_task(listing_path: str, k: int, cfg: CurateConfig):
    """Pass 1 over shard ``k``, read by the task from the spilled listing (shared storage)."""
    survivors, rejects = passes.pass1(spill.read_shard(listing_path, k), cfg)
    return survivors, rejects, len(survivors)


@ray.remote(num_cpus=1, num_returns=3, max_retries=RETRIES)
def pass2_task(survivors: list[dict], p1_rejects: list[dict], cfg: CurateConfig, clip_size_px):
    """Pass 2 over pass 1's survivors; the shard's rejects are pass 1's followed by pass 2's."""
    rows, rejects, crops = passes.pass2(survivors, cfg, clip_size_px)
    return rows, p1_rejects + rejects, crops


@ray.remote(max_restarts=RETRIES, max_task_retries=-1, allow_out_of_order_execution=True)
class ClipActor:
    """One CLIP model per actor (one GPU each when the cluster has GPUs); rebuilt from its
    arguments when its node is lost, so its scores stay the same. It scores shards in the order
    their crops arrive, not the order they were sent (one slow pass-2 shard holds back no other
    shard's scores, so the pipeline of :func:`run_shards` keeps flowing)."""

    def __init__(self, clip_cfg, threads: int | None):
        from curate.scoring import ClipScorer, ScoringError

        self.batch_size = clip_cfg.batch_size
        self.scorer, self.error = None, None
        try:
            self.scorer = ClipScorer(clip_cfg, threads=threads, flush_denormal=True)
        except ScoringError as e:  # reported by size_px, so the driver can say it in one line
            self.error = str(e)

    def size_px(self) -> tuple[int | None, str | None]:
        """``(CLIP input size, None)``, or ``(None, why the model could not be built)``."""
        return (self.scorer.size_px, None) if self.scorer is not None else (None, self.error)

    def score(self, clip_inputs):
        if self.scorer is None:
            raise RuntimeError(self.error)
        out = {"clip_quality": [], "clip_shallow_dof": [], "clip_embedding": []}
        for i in range(0, len(clip_inputs), self.batch_size):
            part = self.scorer.score(clip_inputs[i : i + self.batch_size])
            for k in out:
                out[k].extend(part[k])
        return out


def start_clip(clip_cfg, needed: bool) -> tuple[list, int | None, dict]:
    """``(actors, CLIP input size, the stats' clip entry)``. CLIP runs from a local checkpoint
    or not at all (never random weights, never a download); no actors when no shard needs them."""
    clip_stats = {"enabled": False, "model": clip_cfg.model}
    if not clip_cfg.checkpoint:
        clip_stats["reason"] = "no checkpoint configured (set clip.checkpoint to a local file)"
        return [], None, clip_stats
    if not needed:
        return [], None, {**clip_stats, "enabled": True, "actors": 0}
    gpus = int(ray.cluster_resources().get("GPU", 0))
    n = clip_cfg.actors or (gpus if gpus else 1)
    threads = max(1, int(clip_cfg.cpus_per_actor))
    options = {"num_cpus": clip_cfg.cpus_per_actor, "num_gpus": 1 if gpus else 0}
    actors = [ClipActor.options(**options).remote(clip_cfg, threads) for _ in range(n)]
    size_px, error = ray.get(actors[0].size_px.remote())
    if error is not None:
        for a in actors:
            ray.kill(a)
        raise JobError(f"clip.checkpoint {error}")
    clip_stats.update(enabled=True, actors=len(actors))
    return actors, size_px, clip_stats


def shards_in_flight() -> int:
    """How many shards the driver keeps submitted at once: enough to keep every CPU busy with
    the next shard queued, few enough that the driver holds a bounded number of results."""
    return max(4, 2 * int(ray.cluster_resources().get("CPU", 1)))


def run_shards(out, todo, listing, cfg, actors, clip_size, progress=True) -> dict:
    """Every shard of ``todo`` through pass 1, pass 2 and CLIP as chained Ray tasks; each
    shard's candidates are written as soon as it finishes. At most :func:`shards_in_flight`
    shards are submitted at a time, each pass-1 task reads its shard from the spilled
    ``listing`` (``curate.spill.SpilledListing``) and a shard's survivors go from its pass-1
    task to its pass-2 task without passing through the driver, so the driver's memory does not
    grow with the listing. Returns the stats' ``timing`` entries ``pass1`` and ``pass2`` (the
    passes overlap: each counts seconds from the start to its last shard)."""
    t0 = time.perf_counter()
    window, queue = shards_in_flight(), list(reversed(todo))
    p1_done: dict = {}  # pass-1 survivor-count ref -> shard
    written: dict = {}  # pass-2 rows ref -> (shard, its count ref, rejects ref, scores ref)
    n_p1 = sum(listing.shard_len(k) for k in todo)
    seconds = {"pass1": 0.0, "pass2": 0.0}
    n_p2 = 0
    bar1 = progress_bar(total=n_p1, desc="pass 1 EXIF", unit="file", disable=not progress)
    bar2 = progress_bar(total=0, desc="pass 2 decode+score", unit="file", disable=not progress)
    survivors_of: dict[int, int] = {}

    def pass1_finished(ref) -> None:
        nonlocal n_p2
        k = p1_done.pop(ref)
        survivors_of[k] = ray.get(ref)
        n_p2 += survivors_of[k]
        bar1.update(listing.shard_len(k))
        bar2.total += survivors_of[k]
        bar2.refresh()
        seconds["pass1"] = time.perf_counter() - t0

    with bar1, bar2:
        while queue or p1_done or written:
            while queue and len(written) < window:
                k = queue.pop()
                survivors, p1_rejects, n_survivors = pass1_task.remote(listing.path, k, cfg)
                rows, rejects, crops = pass2_task.remote(survivors, p1_rejects, cfg, clip_size)
                scores = actors[k % len(actors)].score.remote(crops) if actors else None
                p1_done[n_survivors] = k
                written[rows] = (k, n_survivors, rejects, scores)
            done, _ = ray.wait([*p1_done, *written], num_returns=1)
            if done[0] in p1_done:
                pass1_finished(done[0])
                continue
            k, n_survivors, rejects, scores = written.pop(done[0])
            if n_survivors in p1_done:  # both were ready; count pass 1 first
                pass1_finished(n_survivors)
            rows = ray.get(done[0])
            if scores is not None:
                merge.attach_scores(rows, ray.get(scores))
            merge.write_candidates(out, k, rows, ray.get(rejects))
            bar2.update(survivors_of.pop(k))
            seconds["pass2"] = time.perf_counter() - t0
    return {"pass1": rate(n_p1, seconds["pass1"]), "pass2": rate(n_p2, seconds["pass2"])}


# ---- the job ------------------------------------------------------------------------------------


class ResumeRefused(JobError):
    """OUT holds an earlier run over another listing or with other settings (exit 2)."""


def check_settings(out: str, previous: dict | None, settings: dict) -> None:
    """Refuse a resume with other settings: finished shards were filtered with the first run's."""
    changed = (
        outputs.settings_changes(previous.get("settings") or settings, settings) if previous else []
    )
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise ResumeRefused(
            f"{out}: written with other settings ({'; '.join(changed[:3])}{more}); a resume "
            "keeps its first run's settings: rerun with them, or use a fresh --out"
        )


def prepare(inputs: list[str], out: str, cfg: CurateConfig) -> spill.SpilledListing:
    """Everything before Ray, with OUT's lock held (``curate.lock``): the settings are checked
    against OUT's ``_work/listing.json``, the inputs listed and spilled to a staging file, the
    fingerprint checked, and only then are ``listing.parquet``, ``listing.json`` and the
    listing's rejects written. A refused resume (``ResumeRefused``) leaves OUT as it was."""
    previous, settings = outputs.previous_listing(out), outputs.result_settings(cfg)
    check_settings(out, previous, settings)
    staged_path = outputs.staged_listing(out)
    try:
        staged = spill.spill_listing(
            inputs,
            cfg.listing.extensions,
            staged_path,
            cfg.listing.shard_size,
            scratch=outputs.listing_scratch(out),
        )
        if previous is not None and previous["fingerprint"] != staged.fingerprint:
            raise ResumeRefused(
                f"{out}: holds parts of a different listing (files were added/removed or "
                "listing.shard_size changed); use a fresh --out or delete it to start over"
            )
        listing = spill.publish(staged, outputs.listing_path(out))
    finally:
        if os.path.exists(staged_path):  # refused, or the listing or the move failed
            os.unlink(staged_path)
    outputs.write_listing(out, listing.fingerprint, listing.n_entries, settings)
    outputs.write_listing_rejects(out, listing.rejects)  # once; a resume keeps its part
    return listing


def execute(
    out: str,
    listing: spill.SpilledListing,
    cfg: CurateConfig,
    *,
    progress: bool = True,
    lock: OutLock | None = None,
    t_start: float | None = None,
) -> dict:
    """The Ray part of the job over a prepared ``listing``; returns the stats dict."""
    t_start = time.perf_counter() if t_start is None else t_start
    n_shards = listing.n_shards
    # Finished shards are skipped; shards with candidates from a killed run only need the merge.
    done = [outputs.shard_done(out, k) for k in range(n_shards)]
    todo = [k for k in range(n_shards) if not done[k] and not outputs.has_candidates(out, k)]
    actors, clip_size, clip_stats = start_clip(cfg.clip, needed=bool(todo))
    timing = run_shards(out, todo, listing, cfg, actors, clip_size, progress)
    for a in actors:
        ray.kill(a)
    if lock is not None:
        lock.check()  # another job took OUT over while this one hung: merge nothing
    merge.finalize(out, n_shards, cfg.dedup.phash_max_distance)

    kept = read_table(out, "real_photos", columns=PLOT_COLUMNS)  # the plots' and its rows
    rejects = read_reject_reasons(out)  # the counts need no more
    stats = job_stats(kept, rejects, listing, n_shards, sum(done), out, clip_stats, cfg)
    outputs.write_summaries(out, stats, kept, rejects)
    stats["timing"] = {**timing, "total_seconds": round(time.perf_counter() - t_start, 3)}
    outputs.write_json(out, "stats.json", stats)
    return stats


def run(inputs: list[str], out: str, cfg: CurateConfig, *, progress: bool = True) -> dict:
    """Run the whole job on the current Ray (``ray.init`` first); returns the stats dict. Takes
    OUT's lock for the whole run (``LockError`` when another job holds it)."""
    if not ray.is_initialized():
        raise JobError("Ray is not initialised; call infra.ray_start.start_ray() or use main()")
    out = outputs.out_root(out)
    t_start = time.perf_counter()
    outputs.check_out(out)
    with OutLock.acquire(out) as lock:
        listing = prepare(inputs, out, cfg)
        return execute(out, listing, cfg, progress=progress, lock=lock, t_start=t_start)


# ---- command line -------------------------------------------------------------------------------


MAX_CPUS = 4096  # --num-cpus of a local Ray: one machine's cores, generously (Ray takes any)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python curate/job.py",
        description="Curate real photos into bokeh-ready Parquet manifests (Ray).",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", action="append", required=True, help="folder, file or s3:// gs://")
    p.add_argument("--out", required=True, help="output root (folder or s3:// / gs:// prefix)")
    p.add_argument("--config", help=f"TOML config (defaults: {DEFAULT_CONFIG.relative_to(REPO)})")
    add_set_argument(p, "filters.max_f_number=4")
    p.add_argument(
        "--ray-address",
        "--address",
        dest="address",
        help="Ray cluster address ('auto' joins one on this machine)",
    )
    p.add_argument(
        "--num-cpus",
        type=integer(1, MAX_CPUS),
        help=f"CPUs for a local Ray, 1-{MAX_CPUS} (default: all)",
    )
    p.add_argument("--ray-temp-dir", help="temp dir for a local Ray (keep it short)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    from infra.quiet import quiet_library_logs

    quiet_library_logs()
    a = _parser().parse_args(argv)
    t_start = time.perf_counter()
    # Before Ray starts, and before anything is written under OUT but the lock: the config, OUT
    # itself, the lock (one writer per OUT), the resume checks. A refusal is one line, exit 2.
    try:
        cfg = load_config(a.config, a.set)
        out = outputs.out_root(a.out)
        outputs.check_out(out)
        lock = OutLock.acquire(out)
    except (ConfigError, outputs.OutputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        try:
            listing = prepare(a.input, out, cfg)
        except (ResumeRefused, outputs.OutputError, ListingError) as e:  # bad --input/--out
            print(f"error: {e}", file=sys.stderr)
            return 2
        except (JobError, ManifestError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        started = start_ray(
            a.address, num_cpus=a.num_cpus, temp_dir=a.ray_temp_dir, log_to_driver=False
        )
        try:
            stats = execute(
                out, listing, cfg, progress=not a.no_progress, lock=lock, t_start=t_start
            )
        except (ListingError, JobError, ManifestError, ConfigError, outputs.OutputError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        finally:
            if started:
                ray.shutdown()
    finally:
        lock.release()  # also on a failure or Ctrl-C
    print(text_summary(stats))
    for problem in stats["count_problems"]:
        print(f"error: {problem}", file=sys.stderr)
    return 0 if stats["counts_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
