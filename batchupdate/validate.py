"""Validate a sheet against its kind with pandera, all problems at once, and find duplicate rows.

Each problem becomes a row verdict whose message names the column, the value and the fix;
only rows with no problem go on to be resolved, so nothing is ever sent for an invalid row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from batchupdate.cells import CellError, clean_text
from batchupdate.errors import InputError
from batchupdate.kind import Column, Kind, Row
from batchupdate.sheet import Sheet, header_key

INVALID = "invalid"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Verdict:
    """A row's fate decided before anything is sent."""

    status: str
    error: str


@dataclass(frozen=True)
class Validation:
    """The rows to go on with, and the verdicts of those that stop here (by row index)."""

    rows: tuple[Row, ...]
    verdicts: dict[int, Verdict]


def canonical_frame(sheet: Sheet, kind: Kind) -> pd.DataFrame:
    """The sheet's cells under the kind's column names; an InputError if a needed column is missing."""
    found: dict[str, str] = {}
    for column in kind.columns:
        headers = [header for header in sheet.headers if header_key(header) == header_key(column.name)]
        if len(headers) > 1:
            raise InputError(
                f"{sheet.path.name}: columns {', '.join(repr(h) for h in headers)} all mean {column.name}; keep one"
            )
        if headers:
            found[column.name] = headers[0]
    missing = [group for group in kind.required if not any(name in found for name in group)]
    if missing:
        needed = "; ".join(" or ".join(group) for group in missing)
        raise InputError(
            f"{sheet.path.name} is missing the column {needed} for a {kind.name} sheet; "
            f"its columns are {', '.join(sheet.headers)} (see `batchupdate template {kind.name}`)"
        )
    # An empty Excel cell arrives as None; as "" it meets the same checks as an empty CSV cell.
    cells = {name: sheet.frame[header].map(lambda cell: "" if cell is None else cell) for name, header in found.items()}
    return pd.DataFrame(cells, index=sheet.frame.index)


def validate(sheet: Sheet, kind: Kind) -> Validation:
    """Check every cell and row rule, then settle duplicates among the rows that passed."""
    frame = canonical_frame(sheet, kind)
    problems = _schema_problems(frame, kind)
    verdicts = {index: Verdict(INVALID, "; ".join(messages)) for index, messages in problems.items()}
    parsers = {column.name: column.parse for column in kind.columns if column.name in frame}
    rows = [
        Row(index=int(index), line=sheet.lines[int(index)], values=_parse_row(record, parsers))
        for index, record in zip(frame.index, frame.to_dict("records"), strict=True)
        if index not in verdicts
    ]
    duplicates = find_duplicates(rows, kind, kind.identity)
    verdicts.update(duplicates)
    return Validation(rows=tuple(row for row in rows if row.index not in duplicates), verdicts=verdicts)


def find_duplicates(
    rows: Iterable[Row], kind: Kind, identity: Callable[[Row], tuple[object, ...]]
) -> dict[int, Verdict]:
    """Rows aiming at the same record: agreeing repeats are skipped, disagreeing ones all invalid."""
    groups: dict[tuple[object, ...], list[Row]] = defaultdict(list)
    for row in rows:
        groups[identity(row)].append(row)
    verdicts: dict[int, Verdict] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        wanted = {tuple(row[column] for column in kind.changes) for row in group}
        if len(wanted) == 1:
            first = group[0]
            for row in group[1:]:
                verdicts[row.index] = Verdict(
                    SKIPPED, f"duplicate of row {first.line} ({kind.describe(row)}); only row {first.line} is applied"
                )
            continue
        for row in group:
            others = [str(other.line) for other in group if other is not row]
            named = f"row {others[0]}" if len(others) == 1 else f"rows {', '.join(others)}"
            verdicts[row.index] = Verdict(
                INVALID,
                f"conflicts with {named}: same {kind.describe(row)} but different values; keep one of them",
            )
    return verdicts


def _schema(kind: Kind, frame: pd.DataFrame) -> pa.DataFrameSchema:
    columns = {
        column.name: pa.Column(object, checks=_cell_checks(column), nullable=True)
        for column in kind.columns
        if column.name in frame
    }
    checks = [pa.Check(lambda data, rule=rule: ~rule.failing(data), name=f"rule:{rule.name}") for rule in kind.rules]
    return pa.DataFrameSchema(columns, checks=checks)


def _cell_checks(column: Column) -> list[pa.Check]:
    checks = [pa.Check(lambda cell: _parses(column, cell), element_wise=True, name=f"cell:{column.name}")]
    if column.required:
        checks.append(pa.Check(lambda cell: clean_text(cell) != "", element_wise=True, name=f"blank:{column.name}"))
    return checks


def _schema_problems(frame: pd.DataFrame, kind: Kind) -> dict[int, list[str]]:
    try:
        _schema(kind, frame).validate(frame, lazy=True)
    except SchemaErrors as errors:
        return _explain(errors.failure_cases, frame, kind)
    return {}


def _explain(failures: pd.DataFrame, frame: pd.DataFrame, kind: Kind) -> dict[int, list[str]]:
    columns = {column.name: column for column in kind.columns}
    rules = {f"rule:{rule.name}": rule for rule in kind.rules}
    problems: dict[int, list[tuple[int, str]]] = defaultdict(list)
    order = {name: position for position, name in enumerate(columns)}
    seen: set[tuple[int, str]] = set()
    for index, check in zip(failures["index"], failures["check"], strict=True):
        if index is None or pd.isna(index) or (int(index), str(check)) in seen:
            continue
        index, check = int(index), str(check)
        seen.add((index, check))
        kind_of_check, _, name = check.partition(":")
        if kind_of_check == "cell":
            problems[index].append((order[name], _cell_message(columns[name], frame.at[index, name])))
        elif kind_of_check == "blank":
            problems[index].append((order[name], f"{name} is blank; fill it in (e.g. {columns[name].example})"))
        elif check in rules:
            problems[index].append((len(order), rules[check].explain(frame.loc[index].to_dict())))
    return {index: [message for _, message in sorted(messages)] for index, messages in sorted(problems.items())}


def _parses(column: Column, cell: object) -> bool:
    try:
        column.parse(cell)
    except CellError:
        return False
    return True


def _cell_message(column: Column, cell: object) -> str:
    try:
        column.parse(cell)
    except CellError as exc:
        shown = clean_text(cell)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return f"{column.name} {shown!r} {exc}"
    return f"{column.name} is not valid"


def _parse_row(record: dict[str, object], parsers: dict[str, Callable[[object], object]]) -> dict[str, object]:
    return {name: parse(record[name]) for name, parse in parsers.items()}
