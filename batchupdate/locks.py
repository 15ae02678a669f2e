"""A lock so two runs on the same sheet, results file or inbox never overlap.

Each lock is an exclusive OS lock on a small file in the temp folder, named after the guarded path, so it
works for sheets in read-only folders too. The OS releases it when the process ends, even by SIGKILL, so a
crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from batchupdate.errors import LockedError

LOCK_FOLDER = Path(tempfile.gettempdir()) / "batchupdate-locks"


def lock_path(guarded: Path) -> Path:
    digest = hashlib.sha1(str(guarded.resolve()).encode("utf-8")).hexdigest()[:20]
    return LOCK_FOLDER / f"{digest}.lock"


@contextlib.contextmanager
def hold_lock(guarded: Path, what: str) -> Iterator[None]:
    """Hold the lock for ``guarded`` or raise LockedError naming the run that holds it."""
    path = lock_path(guarded)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        if not _try_lock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockedError(
                f"{what} {guarded.name} is in use by another batchupdate run ({holder}); "
                "wait for it to finish, then try again"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {dt.datetime.now():%Y-%m-%d %H:%M:%S}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock; the file stays for the next run to reuse


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
