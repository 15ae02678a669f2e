"""One log file per run under logs/, with any secret scrubbed from every line before it is written."""

from __future__ import annotations

import datetime as dt
import logging
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


def start_log(folder: Path, command: str, sheet: Path, now: dt.datetime) -> tuple[Path, logging.Handler]:
    """Open logs/<time>-<command>-<sheet>.log and route batchupdate's and httpx's logging into it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{now:%Y%m%d-%H%M%S}-{command}-{sheet.stem}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("batchupdate", "httpx"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    return path, handler


def stop_log(handler: logging.Handler) -> None:
    for name in ("batchupdate", "httpx"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def protect(handler: logging.Handler, secrets: Iterable[str]) -> None:
    """Scrub these secrets from everything the handler writes."""
    handler.addFilter(Redact(secrets))
