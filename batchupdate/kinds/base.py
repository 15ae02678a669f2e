"""What a sheet kind must provide to the shared pipeline, and the types every kind shares.

Everything else (reading, validation, pacing, retries, results) is the same for every kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pandas as pd

from batchupdate.cells import clean_text, parse_id

if TYPE_CHECKING:
    from batchupdate.client import Api


@dataclass(frozen=True)
class Column:
    """One canonical input column: its name, how a cell becomes a value, an example for templates.

    ``aliases`` are other headers that mean this column and are taken without asking (matched like the name,
    ignoring case, spaces, '_' and '-'): the names aXcelerate's own screens, exports, reports and API use for
    it, and what staff commonly write. A word that could mean something else never goes here: the header
    mapping (batchupdate/columns.py) questions such headers instead.
    """

    name: str
    parse: Callable[[object], object]
    example: str
    required: bool = False  # the cell must not be blank
    aliases: tuple[str, ...] = ()


# Aliases of the columns both kinds have (the name itself, as ContactID or Start Date, needs none). aXcelerate's
# API says INSTANCEID for the class in its enrolments listing, programInstanceID in the unit PUT, STARTDATE and
# FINISHDATE, activityStartDate and activityEndDate; its reports name fields contacts.contactid, classes.classid.
CONTACT_ID_ALIASES = ("Contact No", "Contact Number", "contacts.contactid", "Student Contact ID")
CLASS_ID_ALIASES = ("Instance ID", "Class Instance ID", "Program Instance ID", "Course Instance ID", "classes.classid")
START_DATE_ALIASES = ("Start", "Activity Start Date")
END_DATE_ALIASES = ("End", "Finish", "Finish Date", "Activity End Date", "Activity Finish Date")


def student_and_class(class_example: str) -> tuple[Column, Column]:
    """The two columns every kind starts with: whose enrolment (contact_id) in which class (class_id)."""
    return (
        Column("contact_id", parse_id, "700001", required=True, aliases=CONTACT_ID_ALIASES),
        Column("class_id", parse_id, class_example, required=True, aliases=CLASS_ID_ALIASES),
    )


def required_columns(named_by: tuple[str, str], changes: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The columns a sheet must have: the student, the class, one of the two naming the record, one change."""
    return (("contact_id",), ("class_id",), named_by, changes)


@dataclass(frozen=True)
class RowRule:
    """A rule across a row's cells.

    ``failing`` gets the parsed frame (None for a blank cell, ``UNREADABLE`` for one that did not parse) and
    marks the rows that break the rule; ``explain`` gets one row's raw cells and says why, and the fix.
    """

    name: str
    failing: Callable[[pd.DataFrame], pd.Series]
    explain: Callable[[Mapping[str, object]], str]


@dataclass(frozen=True)
class Row:
    """A valid sheet row: where it came from and its parsed values (None = leave as it is)."""

    index: int
    line: int
    values: Mapping[str, Any]

    def __getitem__(self, column: str) -> Any:
        return self.values.get(column)


@dataclass(frozen=True)
class Change:
    """One field a row changes: its column and the before and after values as shown to a user."""

    column: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.column}: {self.before or '(blank)'} -> {self.after or '(blank)'}"


class Record(Protocol):
    """The live record a row resolves to."""

    @property
    def key(self) -> tuple[object, ...]:
        """What makes two records the same one (two rows resolving to one key are duplicates)."""


@dataclass(frozen=True)
class Unresolved:
    """A row whose record could not be found, and why, in a sentence that names the fix."""

    reason: str


RecordT = TypeVar("RecordT", bound=Record)


class Kind(Protocol[RecordT]):
    """A sheet kind: its columns, how rows find their records, and how a record is changed."""

    name: str
    distinctive: frozenset[str]  # columns only this kind has: they tell its sheets apart
    columns: tuple[Column, ...]
    template_columns: tuple[str, ...]
    required: tuple[tuple[str, ...], ...]  # each group: at least one of these columns must be present
    changes: tuple[str, ...]  # the columns that ask for a change
    rules: tuple[RowRule, ...]
    result_columns: tuple[str, ...]
    undo_columns: tuple[tuple[str, str], ...]  # (undo sheet column, results column it is copied from)

    def identity(self, row: Row) -> tuple[object, ...]:
        """What makes two rows aim at the same record, before anything is resolved."""

    def describe(self, row: Row) -> str:
        """The row's record in the users' words, for duplicate and conflict messages."""

    async def prepare(self, api: Api, statuses: Sequence[str] | None) -> None:
        """Learn what resolving needs once per run (report fields, status ids); InputError if misused."""

    async def resolve(self, api: Api, rows: Sequence[Row]) -> dict[int, RecordT | Unresolved]:
        """Find each row's live record (by row index), or say why it cannot be found."""

    async def holdings(self, api: Api, class_ids: Sequence[int]) -> list[RecordT]:
        """Every record those classes hold now, found by the same lookups a run uses (for exports).

        Only complete, documented answers count: an ApiError (or RejectedError) when a class cannot be read.
        """

    def compare(self, row: Row, record: RecordT) -> list[Change]:
        """What the row would change on the record; empty when it already holds."""

    def conflict(self, row: Row, record: RecordT) -> str | None:
        """Why the write would be refused even though the row is valid (e.g. end before current start)."""

    async def write(self, api: Api, row: Row, record: RecordT) -> str:
        """Send the change; return the essentials of aXcelerate's answer for the record."""

    async def reread(self, api: Api, row: Row, record: RecordT) -> RecordT | None:
        """The record as aXcelerate holds it now (None when it is gone)."""

    def result_values(self, record: RecordT | None) -> dict[str, str]:
        """The resolved ids and before-values for the results file."""

    def restore(self, column: str, before: str) -> str | None:
        """The cell that puts a before-value back, or None when a sheet cannot express it."""


class _Unreadable:
    """Marks a parsed cell whose text did not parse (its own message says why)."""

    def __repr__(self) -> str:
        return "<unreadable>"


UNREADABLE = _Unreadable()


def blank_cells(frame: pd.DataFrame, column: str) -> pd.Series:
    """Which rows leave this column blank (all of them when the sheet lacks the column)."""
    if column not in frame:
        return pd.Series(True, index=frame.index)
    return frame[column].isna()


def _end_before_start(frame: pd.DataFrame) -> pd.Series:
    if "start_date" not in frame or "end_date" not in frame:
        return pd.Series(False, index=frame.index)
    pairs = zip(frame["start_date"], frame["end_date"], strict=True)
    return pd.Series(
        [isinstance(start, dt.date) and isinstance(end, dt.date) and end < start for start, end in pairs],
        index=frame.index,
    )


def named(rule: str, named_by: tuple[str, str], fix: str) -> RowRule:
    """The rule that a row names its record by one of ``named_by`` (a name or an ID), with the fix if not."""
    first, second = named_by
    return RowRule(
        rule,
        lambda frame: blank_cells(frame, first) & blank_cells(frame, second),
        lambda row: f"{first} and {second} are both blank; {fix}",
    )


DATES_IN_ORDER = RowRule(
    "dates",
    _end_before_start,
    lambda row: (
        f"end_date {clean_text(row['end_date'])!r} is before start_date "
        f"{clean_text(row['start_date'])!r}; swap them or fix the dates"
    ),
)


def dates_conflict(row: Row, held_start: dt.date | None, held_end: dt.date | None) -> str | None:
    """Why the row's dates, with those it leaves as aXcelerate holds them, would end before they start."""
    start = row["start_date"] or held_start
    end = row["end_date"] or held_end
    if start and end and end < start:
        held = "start_date" if row["start_date"] is None else "end_date"
        return (
            f"end date {end.isoformat()} would be before start date {start.isoformat()} "
            f"({held} as held in aXcelerate); set both start_date and end_date"
        )
    return None


def date_changes(row: Row, held_start: dt.date | None, held_end: dt.date | None) -> list[Change]:
    """The row's start_date and end_date where they differ from those aXcelerate holds (blank: no change)."""
    held = (("start_date", held_start), ("end_date", held_end))
    return [
        Change(column, format_date(current), format_date(row[column]))
        for column, current in held
        if row[column] is not None and row[column] != current
    ]


def date_fields(row: Row, changed: set[str], start_field: str, end_field: str) -> dict[str, str]:
    """The write's fields for the dates that change, under the names the endpoint gives them."""
    fields = (("start_date", start_field), ("end_date", end_field))
    return {name: format_date(row[column]) for column, name in fields if column in changed}


def format_date(value: dt.date | None) -> str:
    """A date as aXcelerate takes it: YYYY-MM-DD, or '' for none."""
    return value.isoformat() if value else ""
