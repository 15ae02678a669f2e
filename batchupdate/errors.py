"""Every error batchupdate raises on purpose, as one small tree.

    BatchUpdateError
     +-- InputError             the sheet or the command line is wrong; nothing was sent (exit 2)
     |    +-- ConfigError       connection settings missing or unsafe
     |    +-- LockedError       another batchupdate run is using the same sheet, results file or inbox
     +-- StoppedError           this machine stopped the run part-way (disk full, a file taken away) (exit 3)
     +-- ApiError               aXcelerate answered, or failed to, in a way the caller must handle
          +-- RetriableApiError 429, 5xx, timeouts: worth another try after a pause
          |    +-- AmbiguousWriteError   a write may or may not have been applied: re-read first
          +-- RejectedError     the API refused this request (400, 404, 412): a per-row failure
          +-- RunAbortedError   no row can succeed (401/403, unreachable): stop the run (exit 3)

Library exceptions (httpx, openpyxl, pandas) are translated into these at the boundary that
catches them, with ``raise ... from exc`` so the cause stays visible in the log.
"""

from __future__ import annotations

import errno


class BatchUpdateError(Exception):
    """Root of every error batchupdate raises on purpose."""


class InputError(BatchUpdateError):
    """The sheet, its columns or the command line cannot be used; nothing was sent."""


class ConfigError(InputError):
    """Connection settings are missing, malformed or unsafe."""


class LockedError(InputError):
    """Another batchupdate run holds the lock on this sheet, results file or inbox; try again after it."""


class StoppedError(BatchUpdateError):
    """The run stopped part-way for a reason on this machine; what was done is in the results and journal."""


def describe_os_error(exc: OSError) -> str:
    """One sentence for an error of the file system or network on this machine: which file, and the fix."""
    name = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full (writing {name}); free some space, then run the same command again"
    if exc.errno == errno.EADDRINUSE:
        return "that port is already in use by another program; pick another with --port, or stop the other one"
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return (
            f"cannot write or open {name} ({reason}): it is read-only, in a folder you cannot write, or open in "
            "another program (close it in Excel); fix that or pick another path, then run the command again"
        )
    if isinstance(exc, FileNotFoundError):
        return f"{name}: no such file or folder; check the path"
    if isinstance(exc, IsADirectoryError):
        return f"{name} is a folder; give a file"
    return f"{name}: {reason}; check the path and that you can write there"


class ApiError(BatchUpdateError):
    """A request to aXcelerate did not succeed."""

    def __init__(self, message: str, *, status: int | None = None, details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.details = details


class RetriableApiError(ApiError):
    """A throttle (429), server error (5xx) or timeout: the same request may succeed later."""

    def __init__(
        self, message: str, *, status: int | None = None, details: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, details=details)
        self.retry_after = retry_after


class AmbiguousWriteError(RetriableApiError):
    """A write failed after it may have reached aXcelerate: its effect must be re-read, not assumed."""


class RejectedError(ApiError):
    """aXcelerate refused the request (validation or not found); retrying it unchanged cannot help."""


class RunAbortedError(ApiError):
    """Nothing more can succeed in this run (bad tokens, API unreachable)."""
