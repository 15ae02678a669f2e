"""Validate a sheet against its kind with pandera, all problems at once, and find duplicate rows.

Each problem becomes a row verdict whose message names the column, the value and the fix;
only rows with no problem go on to be resolved, so nothing is ever sent for an invalid row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import compress, count, repeat
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from batchupdate.cells import (
    CellError,
    clean_text,
    day_first_would_differ,
    month_first_date,
    only_day_first,
    only_month_first,
    parse_date,
)
from batchupdate.columns import HeaderMap, map_headers
from batchupdate.errors import InputError
from batchupdate.kinds.base import UNREADABLE, Column, Kind, Row
from batchupdate.sheet import Sheet, header_key, paused_garbage_collection
from batchupdate.status import Status


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


def canonical_frame(sheet: Sheet, kind: Kind[Any], columns: HeaderMap | None = None) -> pd.DataFrame:
    """The sheet's cells under the kind's column names; an InputError if a needed column is missing.

    ``columns`` says which header feeds which column (pipeline.read_job maps them once, with --map);
    without it the headers are mapped here by name and alias alone.
    """
    found = dict((columns or map_headers(sheet, kind)).sources)
    missing = [group for group in kind.required if not any(name in found for name in group)]
    if missing:
        needed = "; ".join(" or ".join(group) for group in missing)
        raise InputError(
            f"{sheet.path.name} is missing the column {needed} for a {kind.name} sheet; "
            f"its columns are {', '.join(sheet.headers)} (see `batchupdate template {kind.name}`)"
        )
    # An empty Excel cell arrives as None; as "" it meets the same checks as an empty CSV cell.
    cells = {name: sheet.frame[header].fillna("") for name, header in found.items()}
    return pd.DataFrame(cells, index=sheet.frame.index)


def check_date_columns(frame: pd.DataFrame, sheet: Sheet, kind: Kind[Any], columns: HeaderMap | None) -> None:
    """Stop the sheet (InputError) when a date column holds a cell that can only be read month first.

    The rule is per column: one cell such as 11/30/2026 shows the column is written month first, so its
    03/05/2026 means 5 March, not 3 May; reading the others day first would write wrong dates. A column whose
    ambiguous cells could be either way is read day first (Australian). Real date cells are never ambiguous.
    """
    written = columns.written if columns else {}
    flagged: list[str] = []
    first: tuple[str, int, str] | None = None
    for column in kind.columns:
        if column.parse is not parse_date or column.name not in frame:
            continue  # only date columns; parse_date is what makes one
        cells = frame[column.name].tolist()
        month_first = {cell for cell in dict.fromkeys(cells) if isinstance(cell, str) and only_month_first(cell)}
        if not month_first:
            continue
        flagged.append(column.name)
        if first is None:
            position = next(i for i, cell in enumerate(cells) if cell in month_first)
            first = (column.name, position, clean_text(cells[position]))
    if first is None:
        return
    name, position, cell = first
    header = written.get(name, name)
    shown = name if header_key(header) == header_key(name) else f"{name} ({header!r})"
    meant = month_first_date(cell)
    assert meant is not None  # only_month_first said it is a real date month first
    cells = frame[name].tolist()
    lines = sheet.lines

    def first_where(test: Callable[[str], bool]) -> tuple[int, str] | None:
        return next(((lines[i], c) for i, c in enumerate(cells) if isinstance(c, str) and test(clean_text(c))), None)

    if mixed := first_where(only_day_first):
        consequence = f", yet row {mixed[0]} {clean_text(mixed[1])!r} is day first: the column mixes both"
    elif misread := first_where(day_first_would_differ):
        other = clean_text(misread[1])
        consequence = (
            f", so row {misread[0]} {other!r} means {_spoken(month_first_date(other))}, "
            f"not {_spoken(parse_date(other))} as day first"
        )
    else:
        consequence = ""
    also = f" ({', '.join(flagged[1:])} too)" if len(flagged) > 1 else ""
    raise InputError(
        f"{sheet.path.name}: {shown} is written month first{also}: row {lines[position]} {cell!r} can only be "
        f"{_spoken(meant)}{consequence}; nothing was sent: write the column day first "
        f"({meant:%d/%m/%Y}) or as YYYY-MM-DD ({meant.isoformat()}), or as real date cells"
    )


def _spoken(date: dt.date | None) -> str:
    return f"{date.day} {date:%B %Y}" if date else "?"


@paused_garbage_collection()
def validate(sheet: Sheet, kind: Kind[Any], columns: HeaderMap | None = None) -> Validation:
    """Check every cell and row rule, then settle duplicates among the rows that passed.

    A sheet-wide problem (a missing column, a date column written month first) is an InputError: nothing
    of the sheet goes on.
    """
    columns = columns or map_headers(sheet, kind)
    frame = canonical_frame(sheet, kind, columns)
    check_date_columns(frame, sheet, kind, columns)
    parsed, reasons = _parse_columns(frame, kind)
    problems = _schema_problems(frame, parsed, reasons, kind)
    for index, message in _oversized_cells(sheet).items():
        problems.setdefault(index, []).append(message)
    verdicts = {index: Verdict(Status.INVALID, "; ".join(messages)) for index, messages in problems.items()}
    names, lines = list(parsed.columns), sheet.lines
    # Each row's values as a dict, built by map and zip in C rather than a Python loop over 100,000 rows.
    values = map(dict, map(zip, repeat(names), zip(*(parsed[name].tolist() for name in names), strict=True)))
    rows = [
        Row(index, lines[index], row_values)
        for index, row_values in zip(parsed.index.tolist(), values, strict=True)
        if index not in verdicts
    ]
    duplicates = find_duplicates(rows, kind, kind.identity)
    verdicts.update(duplicates)
    return Validation(rows=tuple(row for row in rows if row.index not in duplicates), verdicts=verdicts)


MAX_CELL = 32_767  # the most characters Excel itself keeps in a cell (openpyxl cuts longer ones to it)


def _formula_hint(cell: object) -> str | None:
    """An unsaved formula arrives as its text (see sheet.py); say so rather than 'not a date'."""
    if isinstance(cell, str) and cell.startswith("="):
        return "is a formula with no saved result; open the file in Excel and save it, or paste the values"
    return None


def _oversized_cells(sheet: Sheet) -> dict[int, str]:
    """Cells longer than a spreadsheet can hold, in any column (pass-through ones too): a damaged export."""
    oversized: dict[int, str] = {}
    for header in sheet.headers:
        cells = sheet.frame[header].tolist()
        if max(map(len, compress(cells, map(isinstance, cells, repeat(str)))), default=0) < MAX_CELL:
            continue  # the usual case, told without a Python step per cell
        for index, cell in enumerate(cells):
            if isinstance(cell, str) and len(cell) >= MAX_CELL and index not in oversized:
                oversized[index] = (
                    f"{header} holds {len(cell):,} characters, more than a spreadsheet cell can ({MAX_CELL:,}), "
                    "so it was probably cut short; shorten it"
                )
    return oversized


def _parse_columns(frame: pd.DataFrame, kind: Kind[Any]) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Each column parsed once per distinct value: typed values, and for cells that do not parse, why."""
    parsed: dict[str, pd.Series] = {}
    reasons: dict[str, pd.Series] = {}
    for column in kind.columns:
        if column.name not in frame:
            continue
        raw = frame[column.name].tolist()
        # CSV cells are all text; Excel mixes types, and then 1, 1.0 and True must stay apart as keys.
        typed = pd.api.types.infer_dtype(frame[column.name], skipna=False) != "string"
        keys: list[object] = list(zip(map(type, raw), raw, strict=True)) if typed else raw
        # Each cell becomes the number of its distinct value by dict look-ups run in C (map), and the
        # parsed values, reasons and flags reach every cell by numpy indexing: 100,000 rows add up.
        distinct = dict(zip(dict.fromkeys(keys), count()))
        codes = np.fromiter(map(distinct.__getitem__, keys), dtype=np.intp, count=len(keys))
        values_of = np.empty(len(distinct), dtype=object)
        reasons_of = np.empty(len(distinct), dtype=object)
        for key, position in distinct.items():
            cell = key[1] if typed else key  # type: ignore[index]
            try:
                values_of[position], reasons_of[position] = column.parse(cell), None
            except CellError as exc:
                values_of[position], reasons_of[position] = UNREADABLE, _formula_hint(cell) or str(exc)
        ok_of = np.fromiter((reason is None for reason in reasons_of), dtype=bool, count=len(distinct))
        filled_of = np.fromiter((value is not None for value in values_of), dtype=bool, count=len(distinct))
        parsed[column.name] = pd.Series(values_of[codes], index=frame.index, dtype=object)
        reasons[column.name] = pd.Series(reasons_of[codes], index=frame.index, dtype=object)
        reasons[f"ok:{column.name}"] = pd.Series(ok_of[codes], index=frame.index)
        reasons[f"filled:{column.name}"] = pd.Series(filled_of[codes], index=frame.index)
    return pd.DataFrame(parsed, index=frame.index), reasons


def find_duplicates(
    rows: Iterable[Row], kind: Kind[Any], identity: Callable[[Row], tuple[object, ...]]
) -> dict[int, Verdict]:
    """Rows aiming at the same record: agreeing repeats are skipped, disagreeing ones all invalid."""
    rows = list(rows)
    keys = list(map(identity, rows))
    verdicts: dict[int, Verdict] = {}
    if len(set(keys)) == len(keys):
        return verdicts  # the usual case, settled without grouping 100,000 rows one by one
    groups: dict[tuple[object, ...], list[Row]] = defaultdict(list)
    for key, row in zip(keys, rows, strict=True):
        groups[key].append(row)
    for group in groups.values():
        if len(group) == 1:
            continue
        wanted = {tuple(row[column] for column in kind.changes) for row in group}
        if len(wanted) == 1:
            first = group[0]
            for row in group[1:]:
                verdicts[row.index] = Verdict(
                    Status.SKIPPED,
                    f"duplicate of row {first.line} ({kind.describe(row)}); only row {first.line} is applied",
                )
            continue
        for row in group:
            others = [str(other.line) for other in group if other is not row]
            named = f"row {others[0]}" if len(others) == 1 else f"rows {', '.join(others)}"
            verdicts[row.index] = Verdict(
                Status.INVALID,
                f"conflicts with {named}: same {kind.describe(row)} but different values; keep one of them",
            )
    return verdicts


def _schema(kind: Kind[Any], parsed: pd.DataFrame, reasons: dict[str, pd.Series]) -> pa.DataFrameSchema:
    """The kind's sheet as a pandera schema: per-column cell checks, then the rules across a row."""
    columns = {
        column.name: pa.Column(bool, checks=_cell_checks(column, parsed, reasons))
        for column in kind.columns
        if column.name in parsed
    }
    checks = [pa.Check(lambda _, rule=rule: ~rule.failing(parsed), name=f"rule:{rule.name}") for rule in kind.rules]
    return pa.DataFrameSchema(columns, checks=checks)


def _cell_checks(column: Column, parsed: pd.DataFrame, reasons: dict[str, pd.Series]) -> list[pa.Check]:
    # Vectorised over the column (parsed once per distinct value), so 100,000 rows take well under a second.
    checks = [pa.Check(lambda parsed_ok: parsed_ok, name=f"cell:{column.name}")]
    if column.required:
        checks.append(pa.Check(lambda _: reasons[f"filled:{column.name}"], name=f"blank:{column.name}"))
    return checks


def _schema_problems(
    frame: pd.DataFrame, parsed: pd.DataFrame, reasons: dict[str, pd.Series], kind: Kind[Any]
) -> dict[int, list[str]]:
    # pandera sees, per cell, whether it parsed (each distinct value parsed once, above): a frame of booleans
    # keeps its null and dtype handling cheap at 100,000 rows; the rules look at the parsed values.
    verdicts = pd.DataFrame({name: reasons[f"ok:{name}"] for name in parsed.columns}, index=frame.index)
    try:
        _schema(kind, parsed, reasons).validate(verdicts, lazy=True)
    except SchemaErrors as errors:
        return _explain(errors.failure_cases, frame, reasons, kind)
    return {}


def _explain(
    failures: pd.DataFrame, frame: pd.DataFrame, reasons: dict[str, pd.Series], kind: Kind[Any]
) -> dict[int, list[str]]:
    columns = {column.name: column for column in kind.columns}
    rules = {f"rule:{rule.name}": rule for rule in kind.rules}
    problems: dict[int, list[tuple[int, str]]] = defaultdict(list)
    order = {name: position for position, name in enumerate(columns)}
    cells = {name: frame[name].tolist() for name in frame.columns}
    seen: set[tuple[int, str]] = set()
    for index, check in zip(failures["index"], failures["check"], strict=True):
        if index is None or pd.isna(index) or (int(index), str(check)) in seen:
            continue
        index, check = int(index), str(check)
        seen.add((index, check))
        kind_of_check, _, name = check.partition(":")
        if kind_of_check == "cell":
            problems[index].append(
                (order[name], _cell_message(name, cells[name][index], str(reasons[name].iat[index])))
            )
        elif kind_of_check == "blank":
            problems[index].append((order[name], f"{name} is blank; fill it in (e.g. {columns[name].example})"))
        elif check in rules:
            row = {name: values[index] for name, values in cells.items()}
            problems[index].append((len(order), rules[check].explain(row)))
    return {index: [message for _, message in sorted(messages)] for index, messages in sorted(problems.items())}


def _cell_message(column: str, cell: object, reason: str) -> str:
    shown = clean_text(cell)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{column} {shown!r} {reason}"
