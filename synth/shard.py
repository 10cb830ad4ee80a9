"""Shards, scene folders and done markers: the farm's resume contract.

Scene ``i`` of a dataset belongs to shard ``i % n`` of ``n`` (``--shard k/n``, or the array-job
variables ``SHARD_INDEX``/``SHARD_COUNT``). A scene is finished when ``scenes/<id>/DONE`` exists
and every file its ``meta.json`` names is there (:func:`is_done`); a folder whose ``DONE`` lies
counts as not done and is replaced by the next render of the scene.

Scenes are written to a hidden temp folder and renamed into place after a check of every file
(:func:`commit_scene_dir`), so a finished folder is always complete. Temp folders are named per
writer, ``.tmp-<id>-<host>-<pidns>-<pid>-<token>``, and hold an ``OWNER`` file; a writer removes
only stale ones (:func:`is_stale`): left by a dead process on this host, or untouched for
``STALE_TEMP_AGE_S``. Two writers of one scene (a requeued or retried task that is still alive)
never touch each other's files, and the first complete commit wins. Nothing here relies on file
locks, so it holds on shared storage (NFS) between hosts.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path

import numpy as np

from infra.files import pid_running
from infra.images import header_problem

DONE = "DONE"
SCENES = "scenes"
META = "meta.json"
OWNER = "OWNER"
# A temp folder untouched this long is stale whoever owns it (a writer on another host that
# died): generous, as a scene renders in minutes and a writer adds files to its folder as it goes.
STALE_TEMP_AGE_S = 24 * 3600.0
_ROW_FILE_KEYS = (
    "aif_path",
    "depth_path",
    "bokeh_path",
    "coc_path",
    "bokeh_jpeg_path",
    "bokeh_exr_path",
    "aperture_kernel_path",
)
_LIVE: set[str] = set()  # names of the temp folders this process is writing


class ShardError(ValueError):
    pass


def parse_shard(text: str | None, env: dict | None = None) -> tuple[int, int]:
    """``"k/n"`` -> ``(k, n)``; without it, ``SHARD_INDEX``/``SHARD_COUNT``; else ``(0, 1)``."""
    env = os.environ if env is None else env
    if text is None and "SHARD_INDEX" in env:
        text = f"{env['SHARD_INDEX']}/{env.get('SHARD_COUNT', '')}"
    if text is None:
        return 0, 1
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ShardError(f"shard {text!r} must look like k/n, e.g. 3/16 (0-based k)") from None
    if not 0 <= k < n:
        raise ShardError(f"shard {text!r}: need 0 <= k < n")
    return k, n


def scene_ids(n_scenes: int, k: int, n: int, first_id: int = 0) -> list[int]:
    """The scene ids of shard ``k`` of ``n`` among ``first_id .. first_id + n_scenes - 1``."""
    return [i for i in range(first_id, first_id + n_scenes) if i % n == k]


def shard_name(k: int, n: int) -> str:
    return f"{k:05d}-of-{n:05d}"


class IncompleteSceneError(RuntimeError):
    """A scene folder lacks a file its meta.json names; ``str()`` is one line naming it."""


def scene_dir(out: Path, scene_id: int) -> Path:
    return Path(out) / SCENES / f"{scene_id:06d}"


# ---- is a scene complete ----------------------------------------------------------------------


def scene_problem(folder: Path, scene_id: int) -> str | None:
    """Why the scene folder ``folder`` is not complete (one line naming the file), or None.

    Complete: ``meta.json`` parses and lists rows, and every file it names (its ``files`` list
    and each row's paths: AIF, depth, DoF PNG/JPEG/EXR, CoC maps, aperture kernels) exists and is
    not empty; ``.npy`` maps have the rows' ``(height_px, width_px)`` shape (header read only).
    """
    folder = Path(folder)
    rel = f"{SCENES}/{scene_id:06d}"
    try:
        meta = json.loads((folder / META).read_text())
    except FileNotFoundError:
        return f"{rel}/{META} missing"
    except (OSError, ValueError) as e:
        return f"{rel}/{META} unreadable ({type(e).__name__})"
    rows = meta.get("rows") if isinstance(meta, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return f"{rel}/{META} lists no rows"
    names = set(meta.get("files") or [])
    for row in rows:
        for key in _ROW_FILE_KEYS:
            path = row.get(key)
            if path is None:
                continue
            if not str(path).startswith(rel + "/"):
                return f"{rel}/{META}: {key} {path!r} is not in the scene folder"
            names.add(str(path)[len(rel) + 1 :])
    shape = (rows[0].get("height_px"), rows[0].get("width_px"))
    for name in sorted(names):
        path = folder / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return f"{rel}/{name} missing"
        if size == 0:
            return f"{rel}/{name} is empty"
        if name.endswith((".png", ".jpg")):  # cut short after its commit: the header says so
            why = header_problem(str(path))
            if why:
                return f"{rel}/{name}: {why}"
        if name.endswith(".npy"):
            try:
                got = np.load(path, mmap_mode="r").shape
            except (OSError, ValueError) as e:
                return f"{rel}/{name} unreadable ({type(e).__name__})"
            if got != shape:
                return f"{rel}/{name} has shape {got}, expected {shape}"
    return None


def done_problem(out: Path, scene_id: int) -> str | None:
    """For a scene marked ``DONE``: why it is not complete after all, else None (None also when
    it has no marker: such a folder is simply not done)."""
    folder = scene_dir(out, scene_id)
    if not (folder / DONE).is_file():
        return None
    return scene_problem(folder, scene_id)


def done_meta(out: Path, scene_id: int) -> dict | None:
    """The ``meta.json`` of a finished, complete scene, else None."""
    folder = scene_dir(out, scene_id)
    if not (folder / DONE).is_file() or scene_problem(folder, scene_id) is not None:
        return None
    try:
        return json.loads((folder / META).read_text())
    except (OSError, ValueError):  # replaced or moved aside by another writer meanwhile
        return None


def is_done(out: Path, scene_id: int) -> bool:
    """``DONE`` is there and the scene is complete (a lying marker counts as not done)."""
    folder = scene_dir(out, scene_id)
    return (folder / DONE).is_file() and scene_problem(folder, scene_id) is None


# ---- temp folders and their owners ------------------------------------------------------------


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname() or "host")[:63] or "host"


def _pid_namespace() -> str:
    """This process's PID namespace (containers on one host with one hostname differ here)."""
    try:
        return re.sub(r"\D", "", os.readlink("/proc/self/ns/pid")) or "0"
    except OSError:
        return "0"


def _pid_start(pid: int) -> str | None:
    """The start time (clock ticks since boot) of ``pid``, to tell a reused pid; None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


_OWNER_NAME = re.compile(r"\.(?:tmp|stale)-(\d+)-(.+)-(\d+)-(\d+)-([0-9a-f]+)")


def _owner_tag() -> str:
    return f"{_host()}-{_pid_namespace()}-{os.getpid()}-{secrets.token_hex(8)}"


def is_stale(folder: Path, now: float | None = None) -> bool:
    """Whether the temp (or set-aside) folder ``folder`` belongs to no live writer.

    Stale: untouched for ``STALE_TEMP_AGE_S`` (any host); or made on this host (and PID
    namespace) by a process that is gone (its pid is dead or now a different process), or by
    this process but no longer in use. A folder of another host is kept until it is that old:
    its pid means nothing here. A name this module did not make is judged by age only.
    """
    folder = Path(folder)
    now = time.time() if now is None else now
    try:
        touched = folder.stat().st_mtime
        try:
            touched = max(touched, (folder / OWNER).stat().st_mtime)
        except FileNotFoundError:
            pass
    except FileNotFoundError:
        return False  # gone already
    if now - touched > STALE_TEMP_AGE_S:
        return True
    m = _OWNER_NAME.fullmatch(folder.name)
    if m is None:
        return False
    _, host, ns, pid_text, _ = m.groups()
    pid = int(pid_text)
    if (host, ns) != (_host(), _pid_namespace()):
        return False
    if pid == os.getpid():
        return folder.name not in _LIVE
    if not pid_running(pid):
        return True
    try:
        recorded = json.loads((folder / OWNER).read_text()).get("pid_start")
    except (OSError, ValueError, AttributeError):
        return False  # not written yet, or unreadable: keep it
    current = _pid_start(pid)
    return recorded is not None and current is not None and recorded != current


def remove_stale_temps(out: Path, scene_ids: list[int] | None = None) -> list[Path]:
    """Remove the stale temp and set-aside folders (of ``scene_ids``, default all); returns
    them. Live writers' folders are left alone."""
    parent = Path(out) / SCENES
    wanted = None if scene_ids is None else {f"{i:06d}" for i in scene_ids}
    removed = []
    try:
        entries = list(os.scandir(parent))
    except FileNotFoundError:
        return removed
    now = time.time()
    for entry in entries:
        m = re.match(r"\.(?:tmp|stale)-(\d+)-", entry.name)
        if m is None or (wanted is not None and m.group(1) not in wanted):
            continue
        path = Path(entry.path)
        if is_stale(path, now):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def temp_scene_dir(out: Path, scene_id: int) -> Path:
    """A fresh hidden temp folder for ``scene_id``, unique to this writer (host, PID namespace,
    pid, random token) with an ``OWNER`` file; stale ones of the scene are removed first."""
    parent = Path(out) / SCENES
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out, [scene_id])
    tmp = parent / f".tmp-{scene_id:06d}-{_owner_tag()}"
    tmp.mkdir()
    _LIVE.add(tmp.name)
    owner = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_start": _pid_start(os.getpid()),
        "token": tmp.name.rsplit("-", 1)[1],
        "created": time.time(),
    }
    (tmp / OWNER).write_text(json.dumps(owner) + "\n")
    return tmp


def discard_temp_scene_dir(tmp: Path) -> None:
    """Remove this writer's temp folder (a failed or lost render)."""
    shutil.rmtree(tmp, ignore_errors=True)
    _LIVE.discard(Path(tmp).name)


# ---- commit -----------------------------------------------------------------------------------


def commit_scene_dir(tmp: Path, out: Path, scene_id: int, attempts: int = 5) -> Path:
    """Check the temp folder, write its ``DONE`` marker and rename it into place.

    A temp folder missing a file its meta.json names is discarded and
    :class:`IncompleteSceneError` raised (one line naming the file): ``DONE`` is never written
    for an incomplete scene. When the scene is already complete (another writer finished it
    first) that one wins and this temp folder is discarded; a folder there that is not complete
    (no marker, or one that lies) is set aside and replaced. A rename that loses the race to
    another writer's (``ENOTEMPTY``/``EEXIST`` onto its folder) is handled the same way.
    """
    tmp = Path(tmp)
    problem = scene_problem(tmp, scene_id)
    if problem is not None:
        discard_temp_scene_dir(tmp)
        raise IncompleteSceneError(f"scene {scene_id} not committed: {problem}")
    (tmp / OWNER).unlink(missing_ok=True)
    final = scene_dir(out, scene_id)
    for _ in range(attempts):
        if is_done(out, scene_id):  # another writer finished it first: that one wins
            discard_temp_scene_dir(tmp)
            return final
        aside = None
        if final.exists():  # no marker (copied in part, marker deleted) or one that lies
            aside = final.with_name(f".stale-{scene_id:06d}-{_owner_tag()}")
            try:
                os.rename(final, aside)
            except FileNotFoundError:  # another writer moved it first
                aside = None
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                aside = None
        try:  # the marker right before the rename: a hidden folder holds DONE only this instant
            (tmp / DONE).write_text("ok\n")
            os.rename(tmp, final)
        except OSError as e:  # another writer's folder landed first
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
        else:
            _LIVE.discard(tmp.name)
            return final
        finally:
            if aside is not None:  # its marker first: no hidden folder should hold one long
                with contextlib.suppress(OSError):
                    (aside / DONE).unlink()
                shutil.rmtree(aside, ignore_errors=True)
    if is_done(out, scene_id):
        discard_temp_scene_dir(tmp)
        return final
    discard_temp_scene_dir(tmp)
    raise IncompleteSceneError(
        f"scene {scene_id} not committed: {final} kept changing under other writers"
    )
