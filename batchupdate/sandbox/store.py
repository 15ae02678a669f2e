"""The sandbox's state in SQLite: schema, the queries the endpoints need, atomic updates, test read-outs."""

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchupdate.sandbox import seed

SCHEMA = """
CREATE TABLE contacts (
    contact_id INTEGER PRIMARY KEY,
    given_name TEXT NOT NULL,
    surname TEXT NOT NULL,
    email TEXT,
    mobile TEXT
);
CREATE TABLE units (
    unit_id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);
CREATE TABLE workshops (
    instance_id INTEGER PRIMARY KEY,
    type_id INTEGER NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    held_on TEXT NOT NULL
);
CREATE TABLE classes (
    class_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('program', 'learning_plan')),
    program_id INTEGER,
    code TEXT,
    name TEXT NOT NULL,
    learning_plan_name TEXT
);
CREATE TABLE enrolments (
    enrol_id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts,
    class_id INTEGER NOT NULL REFERENCES classes,
    learner_id INTEGER NOT NULL,
    enrolled_at TEXT NOT NULL,
    start_date TEXT,
    finish_date TEXT,
    amount_paid NUMERIC NOT NULL,
    last_updated_utc TEXT NOT NULL,
    UNIQUE (contact_id, class_id)
);
CREATE TABLE unit_enrolments (
    record_id INTEGER PRIMARY KEY,
    enrol_id INTEGER NOT NULL REFERENCES enrolments,
    unit_id INTEGER NOT NULL REFERENCES units,
    enrolled_at TEXT NOT NULL,
    outcome_code TEXT,
    start_date TEXT,
    end_date TEXT,
    workshop_instance_id INTEGER REFERENCES workshops,
    UNIQUE (enrol_id, unit_id)
);
CREATE TABLE module_enrolments (
    module_enrolment_id INTEGER PRIMARY KEY,
    enrol_id INTEGER NOT NULL REFERENCES enrolments,
    module_name TEXT NOT NULL,
    status_id INTEGER NOT NULL,
    access_override INTEGER,
    start_date TEXT,
    end_date TEXT,
    commencement_date TEXT,
    completion_date TEXT,
    UNIQUE (enrol_id, module_name)
);
"""

# Columns a write may change; anything else in a change set is a programming error.
UNIT_COLUMNS = frozenset({"outcome_code", "start_date", "end_date"})
MODULE_COLUMNS = frozenset({"access_override", "start_date", "end_date"})


@dataclass(frozen=True)
class ProgramEnrolment:
    """A student's enrolment in a program class (type p), with the contact and class it joins."""

    enrol_id: int
    contact_id: int
    class_id: int
    learner_id: int
    enrolled_at: str
    start_date: str | None
    finish_date: str | None
    amount_paid: float
    last_updated_utc: str
    given_name: str
    surname: str
    email: str | None
    mobile: str | None
    program_id: int
    program_code: str
    class_name: str


@dataclass(frozen=True)
class UnitEnrolment:
    """A unit enrolment (type s) inside a program enrolment, with its optional linked workshop."""

    record_id: int
    enrol_id: int
    contact_id: int
    class_id: int
    unit_id: int
    unit_code: str
    unit_name: str
    enrolled_at: str
    outcome_code: str | None
    start_date: str | None
    end_date: str | None
    workshop_instance_id: int | None
    workshop_type_id: int | None
    workshop_code: str | None
    workshop_name: str | None
    workshop_held_on: str | None


@dataclass(frozen=True)
class ModuleEnrolment:
    """A learning-plan module enrolment with everything the learningModuleEnrolments report shows."""

    module_enrolment_id: int
    enrol_id: int
    contact_id: int
    class_id: int
    given_name: str
    surname: str
    module_name: str
    status_id: int
    access_override: bool | None
    start_date: str | None
    end_date: str | None
    commencement_date: str | None
    completion_date: str | None
    class_descriptor: str
    enrolled_at: str
    learning_plan_name: str | None


PROGRAM_ENROLMENT_SELECT = """
SELECT e.enrol_id, e.contact_id, e.class_id, e.learner_id, e.enrolled_at, e.start_date, e.finish_date,
       e.amount_paid, e.last_updated_utc, c.given_name, c.surname, c.email, c.mobile,
       k.program_id, k.code AS program_code, k.name AS class_name
FROM enrolments e JOIN contacts c USING (contact_id) JOIN classes k USING (class_id)
WHERE k.kind = 'program'
"""

UNIT_ENROLMENT_SELECT = """
SELECT u.record_id, u.enrol_id, e.contact_id, e.class_id, u.unit_id, n.code AS unit_code, n.name AS unit_name,
       u.enrolled_at, u.outcome_code, u.start_date, u.end_date, u.workshop_instance_id,
       w.type_id AS workshop_type_id, w.code AS workshop_code, w.name AS workshop_name,
       w.held_on AS workshop_held_on
FROM unit_enrolments u JOIN enrolments e USING (enrol_id) JOIN units n USING (unit_id)
LEFT JOIN workshops w ON w.instance_id = u.workshop_instance_id
"""

MODULE_ENROLMENT_SELECT = """
SELECT m.module_enrolment_id, m.enrol_id, e.contact_id, e.class_id, c.given_name, c.surname, m.module_name,
       m.status_id, m.access_override, m.start_date, m.end_date, m.commencement_date, m.completion_date,
       k.name AS class_descriptor, e.enrolled_at, k.learning_plan_name
FROM module_enrolments m JOIN enrolments e USING (enrol_id) JOIN contacts c USING (contact_id)
JOIN classes k USING (class_id)
"""


def now_utc() -> str:
    """The current UTC time as aXcelerate writes LASTUPDATEDUTC."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M")


def _module_from_row(row: sqlite3.Row) -> ModuleEnrolment:
    values = dict(row)
    if values["access_override"] is not None:
        values["access_override"] = bool(values["access_override"])
    return ModuleEnrolment(**values)


class Store:
    """One SQLite connection shared by the server thread and test threads, guarded by a lock."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()

    @classmethod
    def open(cls, db_path: Path) -> "Store":
        """Open the database, creating and seeding it when the file is new (or has no tables)."""
        db_path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        # A stand-in's state need not survive a power cut (it does survive the process being killed). Waiting
        # for the disk on every write stalled the event loop, and with it every request in flight.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        store = cls(connection)
        if not store._has_schema():
            store._create_and_seed()
        return store

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def restore(self, source: Path) -> None:
        """Make this database an exact copy of the one at ``source``, in one step, while it is served."""
        copy_from = sqlite3.connect(source)
        try:
            with self._lock:
                copy_from.backup(self._connection)
        finally:
            copy_from.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the block as one transaction, so every write is all or nothing."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def _query(self, sql: str, parameters: Mapping[str, Any] | tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    def _has_schema(self) -> bool:
        rows = self._query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'module_enrolments'")
        return bool(rows)

    def _create_and_seed(self) -> None:
        with self._transaction() as connection:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            seed.insert_demo_data(connection)

    # --- units (type p enrolments and their type s activities) ---

    def program_enrolments(
        self, *, contact_id: int | None, class_id: int | None, program_id: int | None, offset: int, limit: int
    ) -> list[ProgramEnrolment]:
        """Program enrolments matching every given id, in a stable order (enrolment id), one page."""
        sql = (
            PROGRAM_ENROLMENT_SELECT
            + """
            AND (:contact_id IS NULL OR e.contact_id = :contact_id)
            AND (:class_id IS NULL OR e.class_id = :class_id)
            AND (:program_id IS NULL OR k.program_id = :program_id)
            ORDER BY e.enrol_id LIMIT :limit OFFSET :offset"""
        )
        parameters = {
            "contact_id": contact_id,
            "class_id": class_id,
            "program_id": program_id,
            "limit": limit,
            "offset": offset,
        }
        return [ProgramEnrolment(**dict(row)) for row in self._query(sql, parameters)]

    def unit_enrolments_of(self, enrol_ids: list[int]) -> list[UnitEnrolment]:
        """The unit enrolments of these program enrolments, in record order."""
        placeholders = ",".join("?" * len(enrol_ids))
        sql = UNIT_ENROLMENT_SELECT + f" WHERE u.enrol_id IN ({placeholders}) ORDER BY u.record_id"
        return [UnitEnrolment(**dict(row)) for row in self._query(sql, tuple(enrol_ids))]

    def is_enrolled(self, contact_id: int, class_id: int) -> bool:
        rows = self._query("SELECT 1 FROM enrolments WHERE contact_id = ? AND class_id = ?", (contact_id, class_id))
        return bool(rows)

    def find_unit_enrolment(
        self, contact_id: int, class_id: int, *, unit_id: int | None = None, unit_code: str | None = None
    ) -> UnitEnrolment | None:
        """The student's unit enrolment in a class, by unit id or (case-insensitively) by unit code."""
        sql = (
            UNIT_ENROLMENT_SELECT
            + """
            WHERE e.contact_id = :contact_id AND e.class_id = :class_id
            AND (:unit_id IS NULL OR u.unit_id = :unit_id)
            AND (:unit_code IS NULL OR upper(n.code) = upper(:unit_code))"""
        )
        parameters = {"contact_id": contact_id, "class_id": class_id, "unit_id": unit_id, "unit_code": unit_code}
        rows = self._query(sql, parameters)
        return UnitEnrolment(**dict(rows[0])) if rows else None

    def update_unit_enrolment(self, record_id: int, changes: Mapping[str, str | None]) -> bool:
        """Apply the changes to one unit enrolment; True when a value actually changed."""
        assert set(changes) <= UNIT_COLUMNS, changes
        with self._transaction() as connection:
            current = connection.execute("SELECT * FROM unit_enrolments WHERE record_id = ?", (record_id,)).fetchone()
            if not any(current[column] != value for column, value in changes.items()):
                return False
            assignments = ", ".join(f"{column} = :{column}" for column in changes)
            connection.execute(
                f"UPDATE unit_enrolments SET {assignments} WHERE record_id = :record_id",
                {**changes, "record_id": record_id},
            )
            connection.execute(
                "UPDATE enrolments SET last_updated_utc = ? WHERE enrol_id = ?", (now_utc(), current["enrol_id"])
            )
            return True

    # --- learning-plan modules ---

    def module_enrolments(self) -> list[ModuleEnrolment]:
        """Every module enrolment, ordered by class, contact and module enrolment id."""
        sql = MODULE_ENROLMENT_SELECT + " ORDER BY e.class_id, e.contact_id, m.module_enrolment_id"
        return [_module_from_row(row) for row in self._query(sql)]

    def find_module_enrolment(self, module_enrolment_id: int) -> ModuleEnrolment | None:
        rows = self._query(MODULE_ENROLMENT_SELECT + " WHERE m.module_enrolment_id = ?", (module_enrolment_id,))
        return _module_from_row(rows[0]) if rows else None

    def update_module_enrolment(self, module_enrolment_id: int, changes: Mapping[str, Any]) -> bool:
        """Apply the changes to one module enrolment; True when a value actually changed."""
        assert set(changes) <= MODULE_COLUMNS, changes
        with self._transaction() as connection:
            current = connection.execute(
                "SELECT * FROM module_enrolments WHERE module_enrolment_id = ?", (module_enrolment_id,)
            ).fetchone()
            if not any(current[column] != value for column, value in changes.items()):
                return False
            assignments = ", ".join(f"{column} = :{column}" for column in changes)
            connection.execute(
                f"UPDATE module_enrolments SET {assignments} WHERE module_enrolment_id = :module_enrolment_id",
                {**changes, "module_enrolment_id": module_enrolment_id},
            )
            return True

    # --- read-outs for tests ---

    def unit_enrolment(self, contact_id: int, class_id: int, unit_id: int) -> dict[str, Any] | None:
        """The mutable state of one unit enrolment, or None when the student has no such unit there."""
        found = self.find_unit_enrolment(contact_id, class_id, unit_id=unit_id)
        if found is None:
            return None
        return {"outcome_code": found.outcome_code, "start_date": found.start_date, "end_date": found.end_date}

    def module_enrolment(self, module_enrolment_id: int) -> dict[str, Any] | None:
        """The state of one module enrolment, or None when there is none with this id."""
        found = self.find_module_enrolment(module_enrolment_id)
        if found is None:
            return None
        return {
            "contact_id": found.contact_id,
            "class_id": found.class_id,
            "enrol_id": found.enrol_id,
            "module_name": found.module_name,
            "access_override": found.access_override,
            "start_date": found.start_date,
            "end_date": found.end_date,
            "status_id": found.status_id,
        }

    def snapshot(self) -> dict[str, Any]:
        """All mutable unit and module state, to compare before and after a run."""
        units = self._query(
            "SELECT record_id, outcome_code, start_date, end_date FROM unit_enrolments ORDER BY record_id"
        )
        modules = self._query(
            "SELECT module_enrolment_id, access_override, start_date, end_date FROM module_enrolments"
            " ORDER BY module_enrolment_id"
        )
        return {
            "units": {row["record_id"]: tuple(row)[1:] for row in units},
            "modules": {row["module_enrolment_id"]: tuple(row)[1:] for row in modules},
        }


def reset_database(db_path: Path) -> None:
    """Delete the database file (with its WAL companions) and create it afresh with the demo data."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    Store.open(db_path).close()


def create_bench_database(db_path: Path, *, classes: int = 50, students: int = 100, units: int = 4) -> None:
    """A fresh database holding the demo data and a big tenant beside it (``seed.insert_bench_data``)."""
    reset_database(db_path)
    store = Store.open(db_path)
    try:
        with store._transaction() as connection:
            seed.insert_bench_data(connection, classes=classes, students=students, units=units)
    finally:
        store.close()
