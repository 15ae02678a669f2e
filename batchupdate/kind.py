"""What a sheet kind (units, modules) must provide to the shared pipeline, and how a kind is chosen.

Everything else (reading, validation, pacing, retries, results) is the same for both kinds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from batchupdate.cells import clean_text
from batchupdate.errors import InputError
from batchupdate.sheet import Sheet, header_key

if TYPE_CHECKING:
    from batchupdate.client import Api


@dataclass(frozen=True)
class Column:
    """One canonical input column: its name, how a cell becomes a value, an example for templates."""

    name: str
    parse: Callable[[object], object]
    example: str
    required: bool = False  # the cell must not be blank


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


class Target(Protocol):
    """The live record a row resolves to."""

    @property
    def key(self) -> tuple[object, ...]: ...


class Kind(Protocol):
    """A sheet kind: its columns, how rows find their records, and how a record is changed."""

    name: str
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

    async def resolve(self, api: Api, rows: Sequence[Row]) -> dict[int, Target | str]:
        """Find each row's live record (by row index), or say why it cannot be found."""

    def compare(self, row: Row, target: Any) -> list[Change]:
        """What the row would change on the record; empty when it already holds."""

    def conflict(self, row: Row, target: Any) -> str | None:
        """Why the write would be refused even though the row is valid (e.g. end before current start)."""

    async def write(self, api: Api, row: Row, target: Any) -> str:
        """Send the change; return the essentials of aXcelerate's answer for the record."""

    async def reread(self, api: Api, row: Row, target: Any) -> Any:
        """The record as aXcelerate holds it now (None when it is gone)."""

    def result_values(self, target: Any | None) -> dict[str, str]:
        """The resolved ids and before-values for the results file."""

    def restore(self, column: str, before: str) -> str | None:
        """The cell that puts a before-value back, or None when a sheet cannot express it."""


def all_kinds() -> dict[str, Kind]:
    """A fresh instance of each kind (a kind may remember lookups during one run)."""
    from batchupdate.modules import Modules
    from batchupdate.units import Units

    return {"units": Units(), "modules": Modules()}


def known_headers() -> set[str]:
    """Every header any kind recognises, for finding the header row."""
    headers = {"row", "status"}
    for kind in all_kinds().values():
        headers.update(column.name for column in kind.columns)
    return headers


def detect_kind(sheet: Sheet, requested: str | None) -> Kind:
    """The kind named by --kind, or the one whose distinctive columns the sheet has."""
    kinds = all_kinds()
    if requested:
        return kinds[requested]
    keys = {header_key(header) for header in sheet.headers}
    unit_columns = {"unitcode", "unitid", "outcome"}
    module_columns = {"modulename", "moduleenrolmentid", "access"}
    has_units, has_modules = bool(keys & unit_columns), bool(keys & module_columns)
    if has_units and not has_modules:
        return kinds["units"]
    if has_modules and not has_units:
        return kinds["modules"]
    found = ", ".join(sheet.headers)
    raise InputError(
        f"{sheet.path.name}: cannot tell whether this is a units or a modules sheet from its columns ({found}); "
        "add --kind units or --kind modules"
    )


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


def format_date(value: dt.date | None) -> str:
    """A date as aXcelerate takes it: YYYY-MM-DD, or '' for none."""
    return value.isoformat() if value else ""
