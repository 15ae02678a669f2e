"""Settings of the sandbox: its tokens, its database file, the faults it injects, and the reading it plays.

A *reading* is one answer to a question the aXcelerate reference leaves open (see the table "What the
reference does not say" in axcelerate-api.md): whether class listings carry unit activities, whether report
runs page, what a successful write answers, whether the module report shows the access override. The defaults
play the fastest reading; ``READINGS`` names presets, and BATCHUPDATE_SANDBOX_READINGS picks some for
``--sandbox`` runs (comma-separated names).
"""

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SANDBOX_API_TOKEN = "sandbox-api-token"
SANDBOX_WS_TOKEN = "sandbox-ws-token"
DEFAULT_DB_PATH = Path(".batchupdate-sandbox.sqlite3")
READINGS_VARIABLE = "BATCHUPDATE_SANDBOX_READINGS"
LISTING_ACTIVITIES = ("full", "empty", "absent")  # a class listing's ACTIVITIES: all there, [], key missing
WRITE_REPLIES = ("documented", "html", "empty", "no-content", "text", "other-json")
REPORT_ROW_CAP = 40  # the stand-in of issue 10: at most 40 rows per report run


@dataclass(frozen=True)
class SandboxSettings:
    """How one sandbox behaves; the defaults give a fast, faultless, unlimited API."""

    db_path: Path = DEFAULT_DB_PATH
    latency: float = 0.0
    rate_limit: float | None = None
    retry_after_as_date: bool = False
    fail_before_write: float = 0.0
    fail_after_write: float = 0.0
    fail_reads: float = 0.0
    slow_share: float = 0.0
    slow_seconds: float = 0.0
    seed: int = 0
    max_page_size: int = 100
    echo_headers: bool = False  # every write refused (400) with a body that quotes the request's headers
    late_landing: float = 0.0  # seconds a write is held before it is applied (and answered)
    api_token: str = SANDBOX_API_TOKEN
    ws_token: str = SANDBOX_WS_TOKEN
    # The reading played (defaults: the fastest one).
    listing_activities: str = "full"  # what a class listing (instanceID, no contactID) shows of each enrolment
    report_row_cap: int | None = None  # at most this many rows per /report/run answer (COUNT stays the total)
    report_paging: bool = True  # whether /report/run honours displayLength/offsetRows
    report_access_field: bool = True  # whether the module report offers an access-override view field
    write_reply: str = "documented"  # what a write that worked answers (documented: the unit PUT's JSON success,
    # and the module enrolment as changed for the module PUT)
    writes_swallowed: bool = False  # a bad proxy: writes answered as write_reply says, but never applied
    error_keys: str = "lower"  # error bodies with lowercase or UPPERCASE keys ("upper" also sends code "0")

    def __post_init__(self) -> None:
        shares = {
            "fail_before_write": self.fail_before_write,
            "fail_after_write": self.fail_after_write,
            "fail_reads": self.fail_reads,
            "slow_share": self.slow_share,
        }
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {share}")
        if self.fail_before_write + self.fail_after_write > 1.0:
            raise ValueError("fail_before_write + fail_after_write must not exceed 1")
        if self.latency < 0 or self.slow_seconds < 0 or self.late_landing < 0:
            raise ValueError("latency, slow_seconds and late_landing must not be negative")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError(f"rate_limit must be positive, not {self.rate_limit}")
        if self.max_page_size < 1:
            raise ValueError(f"max_page_size must be at least 1, not {self.max_page_size}")
        if self.listing_activities not in LISTING_ACTIVITIES:
            raise ValueError(f"listing_activities must be one of {', '.join(LISTING_ACTIVITIES)}")
        if self.write_reply not in WRITE_REPLIES:
            raise ValueError(f"write_reply must be one of {', '.join(WRITE_REPLIES)}")
        if self.report_row_cap is not None and self.report_row_cap < 1:
            raise ValueError(f"report_row_cap must be at least 1, not {self.report_row_cap}")
        if self.error_keys not in ("lower", "upper"):
            raise ValueError("error_keys must be lower or upper")

    def under(self, readings: Iterable[str]) -> "SandboxSettings":
        """These settings playing the named readings (later names win where two set the same field)."""
        changes: dict[str, Any] = {}
        for name in readings:
            name = name.strip().lower()
            if not name:
                continue
            if name not in READINGS:
                raise ValueError(f"{name!r} is not a sandbox reading; use any of: {', '.join(READINGS)}")
            changes.update(READINGS[name])
        return dataclasses.replace(self, **changes)

    @property
    def readings(self) -> list[str]:
        """The named readings these settings play (those whose every field they hold)."""
        fields = dataclasses.asdict(self)
        named = [
            name
            for name, preset in READINGS.items()
            if preset and all(fields[key] == value for key, value in preset.items())
        ]
        return named or ["fastest"]


def from_environment(environ: Mapping[str, str] = os.environ, **fields: Any) -> SandboxSettings:
    """Settings for a `--sandbox` run: defaults, playing the readings BATCHUPDATE_SANDBOX_READINGS names."""
    return SandboxSettings(**fields).under(environ.get(READINGS_VARIABLE, "").split(","))


# Every reading the sandbox plays, by name. "fastest" is the shipped default; "slowest" is each question
# answered the least helpful way the reference allows (with writes answered by a proxy's HTML page).
READINGS: dict[str, dict[str, Any]] = {
    "fastest": {},
    "listing-empty": {"listing_activities": "empty"},
    "listing-absent": {"listing_activities": "absent"},
    "report-capped": {"report_row_cap": REPORT_ROW_CAP, "report_paging": False},
    "report-paged": {"report_row_cap": REPORT_ROW_CAP, "report_paging": True},
    "no-access-field": {"report_access_field": False},
    "reply-html": {"write_reply": "html"},
    "reply-empty": {"write_reply": "empty"},
    "reply-no-content": {"write_reply": "no-content"},
    "reply-text": {"write_reply": "text"},
    "reply-other-json": {"write_reply": "other-json"},
    "errors-upper": {"error_keys": "upper"},
    "slowest": {
        "listing_activities": "absent",
        "report_row_cap": REPORT_ROW_CAP,
        "report_paging": False,
        "report_access_field": False,
        "write_reply": "html",
        "error_keys": "upper",
    },
}
