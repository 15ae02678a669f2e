"""Read a spreadsheet (CSV or .xlsx) into raw cells, keeping each row's line in the original sheet.

Nothing here knows about units or modules: the caller says which header names it recognises, so
a title row above the headers can be skipped, and every other column is passed through untouched.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd

from batchupdate.cells import clean_text
from batchupdate.errors import InputError

HEADER_SEARCH_ROWS = 20
_HEADER_NOISE = re.compile(r"[\s_\-\u00a0\ufeff]+")
_FORMULA_GUARD = "'"
_SPACES = " \t\r\n\u00a0\u2007\u202f\u200b\ufeff"  # as cells.clean_text trims
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
csv.field_size_limit(10 * 1024 * 1024)


def header_key(header: object) -> str:
    """A header as matched: case, spaces, '_' and '-' ignored ('Contact ID' == 'contact_id')."""
    return _HEADER_NOISE.sub("", clean_text(header)).lower()


@dataclass(frozen=True)
class Sheet:
    """The sheet's cells as read: one column per header, raw values, blank rows dropped."""

    path: Path
    headers: tuple[str, ...]
    frame: pd.DataFrame
    lines: tuple[int, ...]
    source: str  # "CSV (UTF-8)", "xlsx sheet 'Outcomes'" ...
    written: tuple[str, ...] = ()  # the headers as written, before repeats were made unique

    def header_for(self, key: str) -> str | None:
        """The sheet's own header that matches a canonical column name, if any."""
        for header in self.headers:
            if header_key(header) == header_key(key):
                return header
        return None

    def __len__(self) -> int:
        return len(self.frame)


@contextlib.contextmanager
def paused_garbage_collection() -> Iterator[None]:
    """Hold Python's cycle collector off while a sheet's worth of objects is built (also a decorator).

    A 100,000-row sheet makes several hundred thousand lists, dicts and rows, none of them in a cycle;
    meanwhile the collector would walk, again and again, everything pandas allocated when imported.
    """
    if not gc.isenabled():  # already paused (or off): leave it as it is
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@paused_garbage_collection()
def read_sheet(path: Path, *, known_headers: Iterable[str], sheet_name: str | None = None) -> Sheet:
    """Read CSV or .xlsx; raise InputError with the fix when the file cannot be used."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the spreadsheet file inside it")
    known = frozenset(header_key(header) for header in known_headers)
    suffix = path.suffix.lower()
    if suffix in (".xls", ".xlsb", ".ods", ".numbers"):
        raise InputError(f"{path.name}: {suffix} files are not supported; save it as .xlsx or .csv")
    data = path.read_bytes()
    if data.startswith(b"PK\x03\x04") or suffix in (".xlsx", ".xlsm"):
        grid, source = _read_xlsx(path, data, sheet_name)
    else:
        if sheet_name:
            raise InputError(f"--sheet is only for .xlsx files, and {path.name} is a CSV")
        grid, source = _read_csv(path, data, known)
    return _to_sheet(path, grid, source, known)


def _read_csv(path: Path, data: bytes, known: frozenset[str]) -> tuple[list[list[object]], str]:
    if b"\x00" in data[:65536] or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(f"{path.name} is not a text CSV file; save it as CSV (UTF-8) or .xlsx")
    try:
        text, encoding = data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        # Excel's "CSV" on Windows writes cp1252; its 5 undefined bytes become U+FFFD, never a crash.
        text, encoding = data.decode("cp1252", errors="replace"), "Windows-1252"
    delimiter = _guess_delimiter(text, known)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        rows = cast(list[list[object]], list(reader))
    except csv.Error as exc:
        # Without strict parsing an unclosed quote silently swallows every row after it.
        raise InputError(
            f"{path.name} line {reader.line_num}: {exc}; a cell's opening quote (\") is never closed or is "
            "followed by stray text; fix that cell, or save the sheet from Excel again"
        ) from exc
    name = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[delimiter]
    return rows, f"CSV ({encoding}, {name}-separated)"


def _guess_delimiter(text: str, known: frozenset[str]) -> str:
    """The delimiter under which some early line reads as the most known headers (comma on a tie)."""
    head = [line for line in text.splitlines()[:HEADER_SEARCH_ROWS] if line.strip()]

    def headers_found(delimiter: str) -> int:
        rows = csv.reader(head, delimiter=delimiter)
        return max((sum(header_key(cell) in known for cell in row) for row in rows), default=0)

    return max((",", ";", "\t", "|"), key=headers_found)


def _read_xlsx(path: Path, data: bytes, sheet_name: str | None) -> tuple[list[list[object]], str]:
    import openpyxl  # imported here: CSV-only runs should not pay for it

    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            f"{path.name} is password-protected or in the old .xls format; remove the password "
            "(File > Info > Protect Workbook) or save it again as .xlsx"
        )
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files; all mean the same to a user
        raise InputError(f"{path.name} is not a readable .xlsx file (damaged or truncated); save it again") from exc
    try:
        worksheet = _pick_worksheet(path, book, sheet_name)
        if hasattr(worksheet, "reset_dimensions"):
            # The stored "used range" can claim a million rows; read only the rows really there.
            worksheet.reset_dimensions()
        rows = [list(row) for row in _trim_trailing_blank(worksheet.iter_rows(values_only=True))]
        if any(cell is None for row in rows for cell in row):
            _show_unsaved_formulas(data, worksheet.title, rows)
        return rows, f"xlsx sheet {worksheet.title!r}"
    except InputError:
        raise
    except Exception as exc:  # damaged XML inside an intact zip, and the like
        raise InputError(f"{path.name} could not be read as .xlsx ({type(exc).__name__}); save it again") from exc
    finally:
        book.close()


def _show_unsaved_formulas(data: bytes, title: str, rows: list[list[object]]) -> None:
    """Put a formula's text where its saved value is missing, so it is not taken for a blank cell.

    Files written by programs other than Excel often hold formulas with no saved result; read as values
    they look empty, which would mean "leave as it is". As text, they fail validation with a clear message.
    """
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        worksheet = book[title]
        if hasattr(worksheet, "reset_dimensions"):
            worksheet.reset_dimensions()
        for row, formulas in zip(rows, worksheet.iter_rows(values_only=True), strict=False):
            for position, formula in enumerate(formulas[: len(row)]):
                if row[position] is None and isinstance(formula, str) and formula.startswith("="):
                    row[position] = formula
    finally:
        book.close()


def _pick_worksheet(path: Path, book: Any, sheet_name: str | None) -> Any:
    names = ", ".join(repr(name) for name in book.sheetnames) or "none"
    if sheet_name is not None and sheet_name not in book.sheetnames:
        raise InputError(f"{path.name} has no sheet {sheet_name!r}; its sheets are {names}")
    sheet = book[sheet_name] if sheet_name is not None else (book.worksheets or [None])[0]
    if sheet is None or not hasattr(sheet, "iter_rows"):
        shown = repr(sheet_name) if sheet_name else "first sheet"
        raise InputError(f"{path.name}: the {shown} holds no cells (a chart?); name a worksheet with --sheet ({names})")
    return sheet


def _trim_trailing_blank(rows: Iterable[Sequence[object]]) -> Iterator[Sequence[object]]:
    """Yield rows, holding back runs of blank rows until a non-blank row follows them."""
    held: list[Sequence[object]] = []
    for row in rows:
        if all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in row):
            held.append(row)
            continue
        yield from held
        held.clear()
        yield row


def _to_sheet(path: Path, grid: list[list[object]], source: str, known: frozenset[str]) -> Sheet:
    header_index = _find_header_row(grid, known)
    if header_index is None:
        if not any(any(clean_text(cell) for cell in row) for row in grid):
            raise InputError(f"{path.name} is empty; it needs a header row and at least one data row")
        raise InputError(
            f"{path.name}: no header row found in its first {HEADER_SEARCH_ROWS} rows; "
            "the first row should hold column names such as contact_id, class_id (see `batchupdate template`)"
        )
    width = max(len(row) for row in grid[header_index:])
    headers = _unique_headers(grid[header_index], width)
    body: list[list[object]] = []
    lines: list[int] = []
    for number, row in enumerate(grid[header_index + 1 :], start=header_index + 2):
        first = row[0] if row else None
        # A filled first cell settles most rows without looking at the rest (a sheet may have 100,000).
        if not (type(first) is str and first.strip(_SPACES)) and _is_blank(row):
            continue
        body.append(row if len(row) == width else [*row, *([None] * (width - len(row)))])
        lines.append(number)
    if not body:
        raise InputError(f"{path.name} has a header row but no data rows; add the rows to apply")
    frame = pd.DataFrame(body, columns=list(headers), dtype=object)
    written = tuple(clean_text(cell) for cell in grid[header_index]) + ("",) * (width - len(grid[header_index]))
    return Sheet(path=path, headers=headers, frame=frame, lines=tuple(lines), source=source, written=written)


def _is_blank(row: Sequence[object]) -> bool:
    for cell in row:
        if cell is None:
            continue
        if not isinstance(cell, str) or cell.strip(_SPACES):
            return False
    return True


def _find_header_row(grid: list[list[object]], known: frozenset[str]) -> int | None:
    for index, row in enumerate(grid[:HEADER_SEARCH_ROWS]):
        if sum(header_key(cell) in known for cell in row) >= 2:
            return index
    return None


def _unique_headers(row: Sequence[object], width: int) -> tuple[str, ...]:
    headers: list[str] = []
    for position in range(width):
        name = clean_text(row[position]) if position < len(row) else ""
        name = name or f"column_{position + 1}"
        candidate, suffix = name, 2
        while candidate in headers:
            candidate, suffix = f"{name}_{suffix}", suffix + 1
        headers.append(candidate)
    return tuple(headers)


def neutralise(text: str) -> str:
    """Make a results cell safe to open in a spreadsheet: a leading = + - @ tab or CR is not a formula."""
    return _FORMULA_GUARD + text if _needs_guard(text) else text


def unneutralise(cell: object) -> object:
    """Undo ``neutralise`` when a results file is read back as input."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_GUARD) and _needs_guard(cell[1:]):
        return cell[1:]
    return cell


def _needs_guard(text: str) -> bool:
    # A text that already starts with the guard before a formula character is guarded too, so it round-trips.
    return text.startswith(_FORMULA_STARTS) or (text.startswith(_FORMULA_GUARD) and _needs_guard(text[1:]))


def cell_text(cell: object) -> str:
    """A raw cell as it should be echoed into the results file."""
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime | dt.date):
        return clean_text(cell)
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)
