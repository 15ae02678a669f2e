"""The run journal: what each row of an unfinished run came to, so a crashed run resumes where it stopped.

A SQLite file (WAL) beside the results file, with two tables:

- ``rows``, by sheet line: each decided row's whole result, so a resume of the same sheet settles it
  without a request. A row whose input changed since (different cells, same line) is looked up again.
- ``records``, by record identity (the kind and the record's key): every record a write was sent to,
  with the values it held before the first write (never overwritten by a later one), when the last write
  was sent, and how it ended. A resume after the sheet changed (a column added, rows moved, lines of the
  journal lost) still knows which records this run wrote and their true before-values, and waits for a
  write caught in flight to land or time out (by the timeout it was sent with) before re-reading it.

A run that ends (even with failed rows) deletes its journal; one that dies keeps it for the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from batchupdate.errors import InputError
from batchupdate.kinds.base import Change
from batchupdate.pacing import DEFAULT_TIMEOUT
from batchupdate.results import RowResult

WRITING, DONE = "writing", "done"


class JournalError(InputError):
    """The journal of an interrupted run cannot be opened or read."""


def journal_path(results: Path) -> Path:
    return results.with_name(f".{results.name}.journal.sqlite3")


def row_hash(cells: Sequence[str]) -> str:
    """A fingerprint of a row's cells, so a changed row is not mistaken for the one the journal knew."""
    return hashlib.sha256(json.dumps(list(cells), ensure_ascii=False).encode("utf-8")).hexdigest()


def record_key(kind: str, key: Sequence[object]) -> str:
    """A record's identity as the journal stores it: its kind and key, e.g. ``units:[700001, 31001, 4001]``."""
    return f"{kind}:{json.dumps([str(part) for part in key])}"


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


@dataclass(frozen=True)
class Written:
    """A record this run sent a write to: its values before the first write, and when the last one left."""

    record: str
    line: int
    state: str  # WRITING: sent, answer not yet recorded; DONE: decided (status says how)
    status: str
    changes: tuple[Change, ...]  # the first write's changes, from the true before-values
    found: dict[str, str]  # ids and before-values as read before the first write
    sent_at: float  # wall-clock seconds since the epoch
    timeout: float  # how long that write's request waited for its answer (the run's --timeout)

    @property
    def settled_by(self) -> float:
        """When the last write has surely landed or timed out (wall-clock seconds since the epoch)."""
        return self.sent_at + self.timeout


SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rows (line INTEGER PRIMARY KEY, input_hash TEXT NOT NULL, state TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', changes TEXT NOT NULL DEFAULT '[]',"
    " found TEXT NOT NULL DEFAULT '{}', attempts INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS records (record TEXT PRIMARY KEY, line INTEGER NOT NULL, state TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT '', changes TEXT NOT NULL, found TEXT NOT NULL, sent_at REAL NOT NULL,"
    f" timeout REAL NOT NULL DEFAULT {DEFAULT_TIMEOUT})",
)


class Journal:
    """The journal of one results file's run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a row marked before its write must survive a power cut
            for statement in SCHEMA:
                self._db.execute(statement)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(records)")}
            if "timeout" not in columns:  # a journal from before --timeout: its writes waited the default
                self._db.execute(f"ALTER TABLE records ADD COLUMN timeout REAL NOT NULL DEFAULT {DEFAULT_TIMEOUT}")
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from exc

    @classmethod
    def open(cls, results: Path) -> Journal:
        results.parent.mkdir(parents=True, exist_ok=True)
        return cls(journal_path(results))

    def entries(self) -> dict[int, Entry]:
        """Every row the journal holds, by line."""
        query = "SELECT line, input_hash, state, status, error, changes, found, attempts FROM rows"
        try:
            return {
                line: Entry(line, input_hash, state, status, error, _changes(changes), json.loads(found), attempts)
                for line, input_hash, state, status, error, changes, found, attempts in self._db.execute(query)
            }
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise _unusable(self.path, exc) from exc

    def records(self) -> dict[str, Written]:
        """Every record this run sent a write to, by record identity."""
        query = "SELECT record, line, state, status, changes, found, sent_at, timeout FROM records"
        try:
            return {
                record: Written(record, line, state, status, _changes(changes), json.loads(found), sent_at, timeout)
                for record, line, state, status, changes, found, sent_at, timeout in self._db.execute(query)
            }
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise _unusable(self.path, exc) from exc

    def writing(
        self,
        line: int,
        input_hash: str,
        record: str,
        changes: Sequence[Change],
        found: dict[str, str],
        sent_at: float,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Mark a row's record as about to be written, durably, before the request leaves.

        The record's first before-values and changes are kept: a later write (a retry, a resume after the
        sheet was edited) reads the record as our own first write left it, not as it was before this run.
        """
        with self._transaction("BEGIN IMMEDIATE"):
            self._db.execute(
                "INSERT INTO rows (line, input_hash, state, changes, found, attempts) VALUES (?, ?, ?, ?, ?, 1)"
                " ON CONFLICT(line) DO UPDATE SET input_hash = excluded.input_hash, state = excluded.state,"
                " changes = excluded.changes, found = excluded.found, attempts = rows.attempts + 1",
                (line, input_hash, WRITING, _dump_changes(changes), json.dumps(found)),
            )
            self._db.execute(
                "INSERT INTO records (record, line, state, changes, found, sent_at, timeout)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(record) DO UPDATE SET line = excluded.line,"
                " state = excluded.state, sent_at = excluded.sent_at, timeout = excluded.timeout",
                (record, line, WRITING, _dump_changes(changes), json.dumps(found), sent_at, timeout),
            )

    @contextlib.contextmanager
    def _transaction(self, begin: str = "BEGIN") -> Iterator[None]:
        """All or nothing: a full disk mid-way leaves the journal as it was, and usable."""
        self._db.execute(begin)
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def done(self, result: RowResult, input_hash: str, record: str | None = None) -> None:
        """Store a decided row (and, for a row that was written, how its record ended).

        Durable with the next ``writing`` mark, not on its own: each wait for the disk holds up the event
        loop, and every request in flight; once per row is enough. A decided row lost to a power cut is
        safe: caught ``writing``, it is re-read and settled; never marked, it was never sent. A killed
        process loses nothing: the data is already in the OS.
        """
        self._db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: commit without waiting for the disk
        try:
            with self._transaction():
                self._store_done(result, input_hash)
                if record is not None:
                    self._db.execute(
                        "UPDATE records SET state = ?, status = ? WHERE record = ?", (DONE, result.status, record)
                    )
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


def _unusable(path: Path, exc: Exception) -> JournalError:
    """The one sentence for a journal that cannot be used: which file, and the safe fix."""
    folder = path.parent
    if not os.access(folder, os.W_OK) or "unable to open" in str(exc):
        return JournalError(
            f"cannot write the run's journal {path} ({exc}): the folder {folder} seems read-only; "
            "give --results a path in a folder you can write"
        )
    return JournalError(
        f"the journal of an interrupted run, {path}, cannot be read ({exc}); move it aside "
        f"(e.g. rename it to {path.name}.broken) and run again: every row is then read afresh from aXcelerate, "
        "and the earlier results file is kept"
    )


def _dump_changes(changes: Sequence[Change]) -> str:
    return json.dumps([[change.column, change.before, change.after] for change in changes])


def _changes(text: str) -> tuple[Change, ...]:
    return tuple(Change(column, before, after) for column, before, after in json.loads(text))
