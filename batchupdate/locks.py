"""A lock so two runs on the same sheet, results file or inbox never overlap.

Each lock is an exclusive OS lock on a small file in a lock folder of the user's own: under
``$XDG_RUNTIME_DIR`` when set, else ``<temp>/batchupdate-locks-<uid>``, created 0700 and used only when it is
a real folder (not a symlink) owned by this user and closed to others; lock files are opened without
following symlinks. So another user of a shared machine can neither block a run nor make it write a file
of theirs. A sheet is locked by its content and target too, so the same sheet through a copy or a hard
link cannot be run twice at once. The OS releases a lock when the process ends, even by SIGKILL, so a
crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from batchupdate.errors import InputError, LockedError


def lock_folder() -> Path:
    """This user's lock folder (not created here)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_absolute() and sys.platform != "win32":
        return Path(runtime) / "batchupdate-locks"
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"batchupdate-locks-{user}"


def lock_path(guarded: Path) -> Path:
    return lock_path_for(str(guarded.resolve()))


def lock_path_for(identity: str) -> Path:
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    return lock_folder() / f"{digest}.lock"


def sheet_identity(sheet: Path, target: str = "") -> str:
    """The sheet's bytes and the target: a copy or hard link of a running sheet is the same sheet."""
    digest = hashlib.sha256()
    with sheet.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sheet-content:{digest.hexdigest()}:{target}"


@contextlib.contextmanager
def hold_sheet_lock(sheet: Path, target: str = "") -> Iterator[None]:
    """Hold the sheet's locks: by its path, and by its content and target (when it can be read)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(hold_lock(sheet, "the sheet"))
        try:
            identity = sheet_identity(sheet, target)
        except OSError:
            identity = None  # unreadable: reading it will say so, in its own words
        if identity is not None:
            stack.enter_context(_hold(lock_path_for(identity), f"the sheet {sheet.name} (or a copy of it)"))
        yield


@contextlib.contextmanager
def hold_lock(guarded: Path, what: str) -> Iterator[None]:
    """Hold the lock for ``guarded`` or raise LockedError naming the run that holds it."""
    with _hold(lock_path(guarded), f"{what} {guarded.name}"):
        yield


@contextlib.contextmanager
def _hold(path: Path, what: str) -> Iterator[None]:
    _make_folder(path.parent)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as exc:
        raise InputError(
            f"cannot open the lock file {path} ({exc.strerror}); remove it if it is a link or not yours"
        ) from exc
    try:
        if not _try_lock(descriptor):
            holder = os.pread(descriptor, 200, 0).decode("utf-8", "replace").strip() if hasattr(os, "pread") else ""
            raise LockedError(
                f"{what} is in use by another batchupdate run ({holder or 'another process'}); "
                "wait for it to finish, then try again"
            )
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"pid {os.getpid()} since {dt.datetime.now():%Y-%m-%d %H:%M:%S}".encode())
        yield
    finally:
        os.close(descriptor)  # closing releases the lock; the file stays for the next run to reuse


def _make_folder(folder: Path) -> None:
    """Create the lock folder 0700, or check that the one there is this user's own real folder."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise InputError(f"cannot create the lock folder {folder} ({exc.strerror}); check the temp folder") from exc
    if sys.platform == "win32":
        return
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise InputError(f"the lock folder {folder} is not a real folder (a link?); remove it and try again")
    if info.st_uid != os.getuid():
        raise InputError(f"the lock folder {folder} belongs to another user; remove it (or ask them to)")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)  # ours, but open to others: close it


def _try_lock(descriptor: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
