"""The results file, written and read back: one line per input row, in input order, its status what really happened.

Lines are appended and flushed as rows finish, so a crash keeps what was done; at the end the file
is rewritten in input order. ``read_results`` (and ``as_results`` for a sheet already read) is the one
way back in, for a re-run, undo, the nightly report and the web page alike.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from batchupdate.errors import InputError
from batchupdate.kinds.base import Change
from batchupdate.sheet import Sheet, cell_text, header_key, neutralise, read_sheet, unneutralise
from batchupdate.status import RESULT_STATUSES, Status

COMMON_COLUMNS = ("row", "status", "error", "changes")


@dataclass(frozen=True)
class RowResult:
    """What happened to one input row."""

    index: int
    line: int
    status: str
    error: str = ""
    changes: Sequence[Change] = ()
    found: Mapping[str, str] = field(default_factory=dict)  # resolved ids and before-values

    def with_status(self, status: str, error: str = "") -> RowResult:
        return RowResult(self.index, self.line, status, error, self.changes, self.found)

    def cells(self, result_columns: Sequence[str]) -> list[str]:
        changes = "; ".join(str(change) for change in self.changes)
        return [str(self.line), self.status, self.error, changes, *(self.found.get(c, "") for c in result_columns)]


def result_headers() -> frozenset[str]:
    """Every column a results file adds, as header keys, for any kind."""
    from batchupdate.kinds import all_kinds

    names = set(COMMON_COLUMNS)
    for kind in all_kinds().values():
        names.update(kind.result_columns)
    return frozenset(header_key(name) for name in names)


RESULTS_FORMATS = (".csv", ".xlsx")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


def default_results_path(sheet: Path) -> Path:
    """SHEET-stem.results.csv beside the sheet (.results.xlsx for a workbook)."""
    suffix = ".xlsx" if sheet.suffix.lower() in WORKBOOK_SUFFIXES else ".csv"
    return sheet.with_name(f"{sheet.stem}.results{suffix}")


def check_results_path(path: Path) -> None:
    """InputError unless the results file's name ends in a format it can be written in (.csv or .xlsx)."""
    if path.suffix.lower() not in RESULTS_FORMATS:
        shown = f"a {path.suffix} file" if path.suffix else "a file without an extension"
        raise InputError(
            f"--results {path.name}: results are written as .csv or .xlsx, not as {shown}; "
            f"name it e.g. {path.stem}.csv or {path.stem}.xlsx"
        )


def keep_previous(path: Path, now: dt.datetime) -> Path | None:
    """Rename an earlier results file that recorded writes, so its before-values are never lost.

    A file at that path that cannot be read as a results file is kept too: it is not ours to overwrite.
    """
    if not path.exists():
        return None
    try:
        recorded_writes = any(line.status == Status.UPDATED for line in read_results(path).lines())
    except InputError:
        recorded_writes = True
    if not recorded_writes:
        return None
    kept = path.with_name(f"{path.stem}.{now:%Y%m%d-%H%M%S}{path.suffix}")
    path.rename(kept)
    return kept


def kept_results(path: Path) -> list[Path]:
    """The earlier results files ``keep_previous`` set aside beside ``path``, newest first."""
    stamped = re.compile(rf"{re.escape(path.stem)}\.\d{{8}}-\d{{6}}{re.escape(path.suffix)}", re.IGNORECASE)
    return sorted((kept for kept in path.parent.glob(f"{path.stem}.*") if stamped.fullmatch(kept.name)), reverse=True)


class ResultsWriter:
    """Appends each finished row at once; ``finish`` rewrites the file in input order."""

    def __init__(
        self,
        path: Path,
        input_headers: Sequence[str],
        result_columns: Sequence[str],
        redact: Callable[[str], str] = str,  # the last scrub of the tokens before a cell reaches the file
    ) -> None:
        self.path = path
        self.redact = redact
        self.headers = [*input_headers, *COMMON_COLUMNS, *result_columns]
        self.result_columns = tuple(result_columns)
        self._lines: dict[int, list[str]] = {}
        self.workbook = path.suffix.lower() == ".xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        # A CSV file gets each line as it is decided, so a crash keeps them; a workbook cannot be appended to
        # and is written whole at the end (the journal keeps what a crash would lose, for the resume).
        self._handle: IO[str] | None = None
        if not self.workbook:
            self._handle = path.open("w", encoding="utf-8-sig", newline="")
            self._csv = csv.writer(self._handle)
            self._csv.writerow(self.headers)

    def add(self, result: RowResult, input_cells: Sequence[str]) -> None:
        line = [neutralise(self.redact(cell)) for cell in (*input_cells, *result.cells(self.result_columns))]
        self._lines[result.index] = line
        if self._handle is not None:
            self._csv.writerow(line)
            self._handle.flush()

    def finish(self) -> None:
        """Rewrite all lines in input order, atomically."""
        self.close()
        temporary = self.path.with_name(self.path.name + ".tmp")
        lines = [self._lines[index] for index in sorted(self._lines)]
        try:
            if self.workbook:
                write_results_workbook(temporary, self.headers, lines)
            else:
                with temporary.open("w", encoding="utf-8-sig", newline="") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(self.headers)
                    writer.writerows(lines)
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)  # a full disk leaves no partial file behind
            raise

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


# The status cell's fill in a results workbook: green done, grey already so, blue would change, red and amber
# for the rows to look at.
STATUS_FILLS: dict[str, str] = {
    Status.UPDATED: "C6EFCE",
    Status.UNCHANGED: "EDEDED",
    Status.WOULD_UPDATE: "DDEBF7",
    Status.INVALID: "FFC7CE",
    Status.FAILED: "FFC7CE",
    Status.SKIPPED: "FFEB9C",
}


def write_results_workbook(path: Path, headers: Sequence[str], lines: Sequence[Sequence[str]]) -> None:
    """The results as a workbook: every cell text (nothing evaluated), header frozen, status cells coloured."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    from batchupdate.workbook import xml_safe

    book = Workbook(write_only=True)
    sheet = book.create_sheet("results")
    sheet.freeze_panes = "A2"
    status_at = list(headers).index("status")
    fills = {status: PatternFill("solid", fgColor=colour) for status, colour in STATUS_FILLS.items()}
    bold = Font(bold=True)
    widths = [len(header) for header in headers]

    def cell(text: str) -> WriteOnlyCell:
        # A text cell is never calculated, so the CSV's formula guard (') is dropped: "+61 4..." shows as typed.
        # Only a text that itself starts with ' keeps the guarded form, so reading it back gives it exactly.
        raw = unneutralise(text)
        shown = text if isinstance(raw, str) and raw.startswith("'") else raw
        written = WriteOnlyCell(sheet, value=xml_safe(str(shown)) if text else None)
        written.data_type = "s"  # text even when it starts with "=": a results file never calculates
        return written

    for line in lines:
        for position, text in enumerate(line):
            widths[position] = max(widths[position], min(len(text), 60))
    for position, width in enumerate(widths):
        sheet.column_dimensions[_column_letter(position)].width = width + 2
    header_cells = [cell(header) for header in headers]
    for header_cell in header_cells:
        header_cell.font = bold
    sheet.append(header_cells)
    for line in lines:  # cells are made row by row: a workbook of 100,000 rows is not held as cell objects
        cells = [cell(text) for text in line]
        if fill := fills.get(line[status_at]):
            cells[status_at].fill = fill
        sheet.append(cells)
    with path.open("wb") as handle:
        book.save(handle)
        handle.flush()
        os.fsync(handle.fileno())


def _column_letter(position: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(position + 1)


def counts(results: Iterable[RowResult]) -> dict[str, int]:
    """How many rows ended in each status, in the contract's order."""
    tally: dict[str, int] = dict.fromkeys(RESULT_STATUSES, 0)
    for result in results:
        tally[result.status] = tally.get(result.status, 0) + 1
    return {status: number for status, number in tally.items() if number}


@dataclass(frozen=True)
class ResultLine:
    """One line of a results file read back, every cell as the text that was written."""

    line: int  # the row's line in the original sheet
    status: str
    error: str
    changes: str
    inputs: tuple[str, ...]  # the input sheet's cells, in its column order
    found: Mapping[str, str]  # the kind's result columns (resolved ids, before-values) by name

    @property
    def changed_columns(self) -> list[str]:
        """The columns the row changed, from its ``changes`` cell ("outcome: 30 -> 20; end_date: ...")."""
        return [part.split(":", 1)[0].strip() for part in self.changes.split(";") if part.strip()]


@dataclass(frozen=True)
class ResultsFile:
    """A results file read back: the input columns first, then from ``first_result`` on the ones a run adds."""

    sheet: Sheet  # as read, formula guards removed
    first_result: int  # the position of its `row` column

    @property
    def path(self) -> Path:
        return self.sheet.path

    @property
    def input_headers(self) -> tuple[str, ...]:
        return self.sheet.headers[: self.first_result]

    @property
    def result_headers(self) -> tuple[str, ...]:
        return self.sheet.headers[self.first_result + len(COMMON_COLUMNS) :]

    def lines(self) -> Iterator[ResultLine]:
        """Every line, in the file's order."""
        width, found = self.first_result, self.result_headers
        keys = [header_key(header) for header in found]
        for cells in self.sheet.frame.itertuples(index=False, name=None):
            text = [cell_text(cell) for cell in cells]
            line, status, error, changes = text[width : width + len(COMMON_COLUMNS)]
            yield ResultLine(
                line=_line_number(line),
                status=status.strip().lower(),
                error=error,
                changes=changes,
                inputs=tuple(text[:width]),
                found=dict(zip(keys, text[width + len(COMMON_COLUMNS) :], strict=True)),
            )

    def input_sheet(self, only: frozenset[str] | None = None) -> Sheet:
        """The input sheet again (rows with these statuses only, if given), each row keeping its original line."""
        frame = self.sheet.frame
        status = frame.iloc[:, self.first_result + 1].map(lambda cell: cell_text(cell).strip().lower())
        chosen = frame[status.isin(only)] if only else frame
        lines = []
        for position, cell in zip(chosen.index, chosen.iloc[:, self.first_result], strict=True):
            line = _line_number(cell_text(cell))
            if line < 1:
                raise InputError(
                    f"{self.path.name} line {self.sheet.lines[position]}: its row cell {cell_text(cell)!r} is not "
                    "the row's line number; put back the number the results file had there"
                )
            lines.append(line)
        headers = self.input_headers
        return replace(
            self.sheet,
            headers=headers,
            frame=chosen[list(headers)].reset_index(drop=True),
            lines=tuple(lines),
            written=(self.sheet.written or self.sheet.headers)[: self.first_result],
        )


def results_start(sheet: Sheet) -> int | None:
    """Where the columns a run adds (row, status, error, changes, side by side) start, if the sheet has them."""
    keys = [header_key(header) for header in (sheet.written or sheet.headers)]
    common = [header_key(name) for name in COMMON_COLUMNS]
    starts = [i for i in range(len(keys)) if keys[i : i + len(common)] == common]
    # The last such run: an input sheet that was itself a results file keeps its own columns before it.
    return starts[-1] if starts else None


def as_results(sheet: Sheet) -> ResultsFile | None:
    """The sheet as a results file, if it is one."""
    start = results_start(sheet)
    if start is None:
        return None
    return ResultsFile(replace(sheet, frame=sheet.frame.map(unneutralise)), start)


def read_results(path: Path) -> ResultsFile:
    """Read a results file a run wrote (CSV or .xlsx, as saved again by Excel too); InputError if it is not one."""
    from batchupdate.kinds import known_headers

    sheet = read_sheet(path, known_headers={*known_headers(), *COMMON_COLUMNS})
    results = as_results(sheet)
    if results is None:
        raise InputError(
            f"{path.name} is not a results file of batchupdate (it has no {', '.join(COMMON_COLUMNS)} columns); "
            "give the .results file a run wrote"
        )
    return results


def _line_number(cell: str) -> int:
    try:
        return int(float(cell))
    except ValueError:
        return 0
