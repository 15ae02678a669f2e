"""What `batchupdate doctor` learnt of a tenant's readings, kept beside the logs so the next run starts right.

The file holds the API URL, when it was checked and the readings found; never a token. A run only takes a
head start from it (e.g. reading students one by one at once instead of listing a class first); it still
checks every answer for itself, so a stale file costs requests, never correctness.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)
LEARNT_PATH = Path("logs") / "doctor-readings.json"


def save_learnt(url: str, readings: Mapping[str, str], path: Path = LEARNT_PATH) -> Path:
    """Keep the readings found for this URL (replacing what was kept for any URL before)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"url": url.rstrip("/"), "checked": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "readings": dict(readings)}  # fmt: skip
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def learnt_readings(url: str, path: Path = LEARNT_PATH) -> dict[str, str]:
    """The readings doctor found for this URL, or {} when it has not checked it (or the file is unreadable)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or str(record.get("url", "")).rstrip("/") != url.rstrip("/"):
        return {}
    readings = record.get("readings")
    if not isinstance(readings, dict):
        return {}
    log.info("starting from the readings doctor found on %s: %s", record.get("checked"), readings)
    return {str(key): str(value) for key, value in readings.items()}
