"""Every error batchupdate raises on purpose, as one small tree.

    BatchUpdateError
     +-- InputError             the sheet or the command line is wrong; nothing was sent (exit 2)
     |    +-- ConfigError       connection settings missing or unsafe
     |    +-- LockedError       another batchupdate run is using the same sheet, results file or inbox
     +-- ApiError               aXcelerate answered, or failed to, in a way the caller must handle
          +-- RetriableApiError 429, 5xx, timeouts: worth another try after a pause
          |    +-- AmbiguousWriteError   a write may or may not have been applied: re-read first
          +-- RejectedError     the API refused this request (400, 404, 412): a per-row failure
          +-- RunAbortedError   no row can succeed (401/403, unreachable): stop the run (exit 3)

Library exceptions (httpx, openpyxl, pandas) are translated into these at the boundary that
catches them, with ``raise ... from exc`` so the cause stays visible in the log.
"""

from __future__ import annotations


class BatchUpdateError(Exception):
    """Root of every error batchupdate raises on purpose."""


class InputError(BatchUpdateError):
    """The sheet, its columns or the command line cannot be used; nothing was sent."""


class ConfigError(InputError):
    """Connection settings are missing, malformed or unsafe."""


class LockedError(InputError):
    """Another batchupdate run holds the lock on this sheet, results file or inbox; try again after it."""


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
