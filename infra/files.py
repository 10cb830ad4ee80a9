"""Files written whole or not at all, and the temp files a killed writer leaves behind.

:func:`atomic_write` is the project's one atomic write (a hidden temp file in the same folder,
renamed into place; every stage writes its outputs with it). Its temp names carry the writer's
host and pid, so :func:`dead_writers_file` can tell a killed writer's leftover from a live one's
file (:func:`pid_running`, also the liveness test of the job locks). Standard library only.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable

TMP_MARK = ".tmp-"  # atomic_write names its temp file ".<name>.tmp-<host>-<pid>-<random>"
STALE_TMP_AGE_S = 24 * 3600  # a temp file untouched this long was left by a killed writer


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Create ``path``'s folder, call ``write(tmp)``, rename ``tmp`` to ``path``; the temp file
    is removed if ``write`` fails."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    owner = f"{socket.gethostname()}-{os.getpid()}"  # a later writer can tell a dead one's file
    tmp = os.path.join(folder, f".{os.path.basename(path)}{TMP_MARK}{owner}-{uuid.uuid4().hex}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def dead_writers_file(folder: str, name: str) -> bool:
    """True for an :func:`atomic_write` temp file whose writer is gone: one of this host whose
    pid no longer runs, or any untouched for ``STALE_TMP_AGE_S``."""
    try:
        if time.time() - os.stat(os.path.join(folder, name)).st_mtime > STALE_TMP_AGE_S:
            return True
    except FileNotFoundError:
        return False
    owner = name.split(TMP_MARK, 1)[1].rsplit("-", 1)[0]  # "<host>-<pid>"
    host, _, pid = owner.rpartition("-")
    return host == socket.gethostname() and pid.isdigit() and not pid_running(int(pid))


def pid_running(pid) -> bool:
    """Whether process ``pid`` of this host still runs; True when that cannot be told (not a
    positive int, another user's process): a writer is only ever taken for dead when it is."""
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True
