"""The run journal: what each row of an unfinished run came to, so a crashed run resumes where it stopped.

A SQLite file (WAL) beside the results file. Before a write is sent, its row is marked ``writing`` with
the values found before it; once decided, the row's whole result is stored. A run that ends (even with
failed rows) deletes its journal; one that dies keeps it, and the same command run again picks it up:
decided rows are not sent again, rows caught ``writing`` are re-read and settled before any retry.
A row whose input changed since (different cells, same line) is treated as new.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from batchupdate.kinds.base import Change
from batchupdate.results import RowResult

WRITING, DONE = "writing", "done"


def journal_path(results: Path) -> Path:
    return results.with_name(f".{results.name}.journal.sqlite3")


def row_hash(cells: Sequence[str]) -> str:
    """A fingerprint of a row's cells, so a changed row is not mistaken for the one the journal knew."""
    return hashlib.sha256(json.dumps(list(cells), ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One row as the journal last saw it."""

    line: int
    input_hash: str
    state: str
    status: str
    error: str
    changes: tuple[Change, ...]
    found: dict[str, str]
    attempts: int

    def result(self, index: int) -> RowResult:
        return RowResult(index, self.line, self.status, self.error, self.changes, self.found)


class Journal:
    """The journal of one results file's run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a row marked before its write must survive a power cut
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rows (line INTEGER PRIMARY KEY, input_hash TEXT NOT NULL, state TEXT NOT NULL,"
            " status TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', changes TEXT NOT NULL DEFAULT '[]',"
            " found TEXT NOT NULL DEFAULT '{}', attempts INTEGER NOT NULL DEFAULT 0)"
        )

    @classmethod
    def open(cls, results: Path) -> Journal:
        results.parent.mkdir(parents=True, exist_ok=True)
        return cls(journal_path(results))

    def entries(self) -> dict[int, Entry]:
        """Every row the journal holds, by line."""
        rows = self._db.execute("SELECT line, input_hash, state, status, error, changes, found, attempts FROM rows")
        return {
            line: Entry(line, input_hash, state, status, error, _changes(changes), json.loads(found), attempts)
            for line, input_hash, state, status, error, changes, found, attempts in rows
        }

    def writing(self, line: int, input_hash: str, changes: Sequence[Change], found: dict[str, str]) -> None:
        """Mark a row as about to be written, durably, before the request leaves."""
        self._db.execute(
            "INSERT INTO rows (line, input_hash, state, changes, found, attempts) VALUES (?, ?, ?, ?, ?, 1)"
            " ON CONFLICT(line) DO UPDATE SET input_hash = excluded.input_hash, state = excluded.state,"
            " changes = excluded.changes, found = excluded.found, attempts = rows.attempts + 1",
            (line, input_hash, WRITING, _dump_changes(changes), json.dumps(found)),
        )

    def done(self, result: RowResult, input_hash: str) -> None:
        """Store a decided row; durable with the next ``writing`` mark, not on its own.

        Each wait for the disk holds up the event loop, and every request in flight; once per row is enough.
        A decided row lost to a power cut is safe: caught ``writing``, it is re-read and settled; never
        marked, it was never sent. A killed process loses nothing: the data is already in the OS.
        """
        self._db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: commit without waiting for the disk
        try:
            self._store_done(result, input_hash)
        finally:
            self._db.execute("PRAGMA synchronous=FULL")  # the next writing mark waits, and carries this one

    def _store_done(self, result: RowResult, input_hash: str) -> None:
        self._db.execute(
            "INSERT INTO rows (line, input_hash, state, status, error, changes, found) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(line) DO UPDATE SET input_hash = excluded.input_hash, state = excluded.state,"
            " status = excluded.status, error = excluded.error, changes = excluded.changes, found = excluded.found",
            (
                result.line,
                input_hash,
                DONE,
                result.status,
                result.error,
                _dump_changes(result.changes),
                json.dumps(dict(result.found)),
            ),
        )

    def finish(self, *, complete: bool) -> None:
        """Close; a complete run needs no journal any more, an incomplete one keeps it for the resume."""
        self._db.close()
        if complete:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _dump_changes(changes: Sequence[Change]) -> str:
    return json.dumps([[change.column, change.before, change.after] for change in changes])


def _changes(text: str) -> tuple[Change, ...]:
    return tuple(Change(column, before, after) for column, before, after in json.loads(text))
