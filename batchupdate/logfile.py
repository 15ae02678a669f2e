"""One log file per command under logs/, with any secret scrubbed from every line before it is written.

The file is opened at its first line, so a command that fails before it logs anything leaves no empty
file; that first line is a header saying which command, version, sheet and target the log is about.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from batchupdate.redact import Redactor


class Redact(logging.Filter):
    """Scrubs the secrets (and any credential a server echoed) from a log record's final text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        text = self.redact(record.getMessage())
        record.msg, record.args = text, None
        if record.exc_info:
            # Tracebacks can quote headers; keep only the exception's type and scrubbed message.
            error = record.exc_info[1]
            record.msg = f"{text} [{type(error).__name__}: {self.redact(str(error))}]"
            record.exc_info = None
            record.exc_text = None
        return True


class LogFile(logging.FileHandler):
    """A log file opened at its first line, which it heads with ``header``."""

    def __init__(self, path: Path, header: str) -> None:
        super().__init__(path, encoding="utf-8", delay=True)
        self.path = path
        self.header = header

    def _open(self) -> io.TextIOWrapper:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stream = super()._open()
        stream.write(f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} {self.header}\n")
        return stream

    @property
    def written(self) -> bool:
        return self.path.exists()


def header(command: str, sheet: Path, target: str = "") -> str:
    from batchupdate import __version__

    return f"batchupdate {__version__} {command} {sheet}" + (f" (target: {target})" if target else "")


def start_log(
    folder: Path, command: str, sheet: Path, now: dt.datetime, target: str = ""
) -> tuple[Path, logging.Handler | None]:
    """Route batchupdate's and httpx's logging into logs/<time>-<command>-<sheet>.log, opened at its first line.

    Returns no handler (and logs nothing) when the folder cannot be written: the command still runs.
    """
    path = folder / f"{now:%Y%m%d-%H%M%S}-{command}-{sheet.stem}.log"
    if not _writable(folder):
        return path, None
    handler = LogFile(path, header(command, sheet, target))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("batchupdate", "httpx"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    return path, handler


def _writable(folder: Path) -> bool:
    """Whether the log folder is there and writable, or can be made (nothing is created here)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


def stop_log(handler: logging.Handler | None) -> None:
    if handler is None:
        return
    for name in ("batchupdate", "httpx"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def protect(handler: logging.Handler | None, secrets: Iterable[str]) -> None:
    """Scrub these secrets from everything the handler writes."""
    if handler is not None:
        handler.addFilter(Redact(secrets))


def set_target(handler: logging.Handler | None, command: str, sheet: Path, target: str) -> None:
    """Name the target in the header, once the connection is known (before the first line)."""
    if isinstance(handler, LogFile):
        handler.header = header(command, sheet, target)


def log_written(handler: logging.Handler | None) -> bool:
    return isinstance(handler, LogFile) and handler.written
