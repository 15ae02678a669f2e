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
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
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
csv.field_size_limit(1_048_576)  # as MAX_CELL_CHARACTERS below


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
        grid, source = _read_xlsx(path, data, sheet_name, known)
    else:
        if sheet_name:
            raise InputError(f"--sheet is only for .xlsx files, and {path.name} is a CSV")
        grid, source = _read_csv(path, data, known)
    return _to_sheet(path, grid, source, known)


def _read_csv(path: Path, data: bytes, known: frozenset[str]) -> tuple[list[list[object]], str]:
    if b"\x00" in data[:65536] or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(f"{path.name} is not a text CSV file; save it as CSV (UTF-8) or .xlsx")
    if (nul := data.find(b"\x00")) >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(
            f"{path.name} line {line} holds a NUL byte (character 0), which no sheet value has; "
            "retype that line's cells, or save the sheet from Excel again"
        )
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
        if "field larger than field limit" in str(exc):
            raise InputError(
                f"{path.name} line {reader.line_num}: a cell holds more than {MAX_CELL_CHARACTERS:,} characters, "
                "far more than a spreadsheet cell can (32,767); shorten it or clear it"
            ) from exc
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
        try:
            return max((sum(header_key(cell) in known for cell in row) for row in rows), default=0)
        except csv.Error:  # a cell past the size bound: the reading itself says so, naming the line
            return 0

    return max((",", ";", "\t", "|"), key=headers_found)


# Bounds a workbook is held to before anything is parsed: a few MB of zip can expand to gigabytes of XML.
MAX_EXPANDED_BYTES = 256 * 1024 * 1024  # every part of the package, uncompressed
MAX_ROWS = 1_048_576  # Excel's own limit for a worksheet
MAX_CELLS = 2_000_000  # cells in one worksheet's XML: 100,000 rows of 20 columns
DENSE_CELLS = 3_000_000  # a used range larger than this (sparse cells far apart) is streamed, not read whole
# Excel holds at most 32,767 characters in a cell (validation makes a row with a longer one invalid); a cell
# this long is no sheet's, and the file is refused before such cells are copied anywhere.
MAX_CELL_CHARACTERS = 1_048_576
_SCAN_CHUNK = 1 << 20
_UNSAVED_FORMULA = re.compile(rb"</f>(?:<v\s*/>|<v></v>)?</c>|<f[^>]*/>(?:<v\s*/>)?</c>")
_LAST_ROW = re.compile(rb'<row [^>]*?r="([0-9]+)"')
_WIDE_COLUMN = re.compile(rb'<c r="([A-Z]{2,3})[0-9]')


@dataclass(frozen=True)
class Worksheet:
    """One worksheet of a workbook, and whether a header row of a sheet kind is in its first rows."""

    name: str
    fits: bool


@dataclass(frozen=True)
class _Shape:
    """What a scan of a workbook's worksheet XML found, before any of it is parsed."""

    unsaved_formulas: bool
    error_cells: bool  # cells holding #N/A, #REF! and the like
    dense_cells: int  # the largest used range (last row x last column) of any worksheet


def worksheets(path: Path, known_headers: Iterable[str] | None = None) -> tuple[Worksheet, ...]:
    """The worksheets of an .xlsx file in their order, each saying whether it holds a header row that fits.

    For pickers (the web page) and messages; ``read_sheet`` without a worksheet name picks by the same rule.
    """
    if known_headers is None:
        from batchupdate.kinds import known_headers as every_known_header

        known_headers = every_known_header()
    known = frozenset(header_key(header) for header in known_headers)
    data = path.read_bytes()
    _check_bounds(path, data)
    book = _open_rows(path, data)  # row by row, only the rows a header row may be in: cheap for any size
    try:
        found = []
        for sheet in book.worksheets:
            if not hasattr(sheet, "iter_rows"):
                continue  # a chart sheet holds no cells
            head = [list(row) for row in sheet.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True)]
            found.append(Worksheet(sheet.title, _find_header_row(head, known) is not None))
        return tuple(found)
    except Exception as exc:  # damaged XML inside an intact zip, and the like
        raise InputError(f"{path.name} could not be read as .xlsx ({type(exc).__name__}); save it again") from exc
    finally:
        book.close()


def _read_xlsx(
    path: Path, data: bytes, sheet_name: str | None, known: frozenset[str]
) -> tuple[list[list[object]], str]:
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            f"{path.name} is password-protected or in the old .xls format; remove the password "
            "(File > Info > Protect Workbook) or save it again as .xlsx"
        )
    shape = _check_bounds(path, data)
    if shape.dense_cells > DENSE_CELLS or shape.unsaved_formulas or shape.error_cells:
        # calamine reads a used range whole, shows an error cell (#N/A) and a formula without its saved
        # value as blank: openpyxl, row by row, reads those as they are.
        return _read_xlsx_streaming(path, data, sheet_name, known)
    book = _open_workbook(path, data)
    names = _names(book)
    ignored: tuple[str, ...] = ()
    if sheet_name is not None:
        title = _named(path, names, book.sheet_names, sheet_name)
        rows = _grid(path, book, title)
    else:
        title, rows, ignored = _pick(path, lambda name: _grid(path, book, name), names, known)
    _check_cells(path, rows)
    return rows, _source(title, sheet_name, ignored)


def _source(title: str, sheet_name: str | None, ignored: Sequence[str]) -> str:
    source = f"xlsx sheet {title!r}"
    if sheet_name is None and ignored:
        source += f", picked by its header row over {', '.join(repr(name) for name in ignored)}"
    return source


def unreadable_workbook(path: Path) -> InputError:
    """The one sentence for an .xlsx that is no workbook (damaged, truncated, or another file renamed)."""
    return InputError(f"{path.name} is not a readable .xlsx file (damaged or truncated); save it again")


def _open_rows(path: Path, data: bytes) -> Any:
    """The workbook opened with openpyxl to be read row by row (read-only, saved values, not formulas)."""
    import openpyxl

    try:
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files; all mean the same to a user
        raise unreadable_workbook(path) from exc


def _open_workbook(path: Path, data: bytes) -> Any:
    from python_calamine import CalamineWorkbook  # imported here: CSV-only runs should not pay for it

    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:  # calamine raises many types for damaged files; all mean the same to a user
        raise unreadable_workbook(path) from exc


def _names(book: Any) -> list[str]:
    """The worksheets' names in the workbook's order (chart sheets and the like hold no cells)."""
    return [sheet.name for sheet in book.sheets_metadata if str(sheet.typ).endswith("WorkSheet")]


def _named(path: Path, names: Sequence[str], every_sheet: Sequence[str], sheet_name: str) -> str:
    """The worksheet --sheet names, or an InputError listing the sheets there are."""
    if sheet_name in names:
        return sheet_name
    every = ", ".join(repr(name) for name in every_sheet) or "none"
    if sheet_name in every_sheet:
        raise InputError(
            f"{path.name}: the sheet {sheet_name!r} holds no cells (a chart?); name a worksheet with --sheet ({every})"
        )
    raise InputError(f"{path.name} has no sheet {sheet_name!r}; its sheets are {every}")


def _pick(
    path: Path, grid: Callable[[str], list[list[object]]], names: Sequence[str], known: frozenset[str]
) -> tuple[str, list[list[object]], tuple[str, ...]]:
    """The one worksheet whose first rows hold a header row; with a single worksheet, that one."""
    if not names:
        raise InputError(f"{path.name} has no worksheet with cells; save the data on a worksheet")
    if len(names) == 1:
        return names[0], grid(names[0]), ()
    fitting = [name for name in names if _find_header_row(grid(name), known) is not None]
    if len(fitting) == 1:
        return fitting[0], grid(fitting[0]), tuple(name for name in names if name != fitting[0])
    listed = ", ".join(repr(name) for name in names)
    if not fitting:
        raise InputError(
            f"{path.name}: none of its worksheets ({listed}) has a header row in its first {HEADER_SEARCH_ROWS} "
            "rows; the header row holds column names such as contact_id, class_id (see `batchupdate template`), "
            "or name the worksheet with --sheet NAME"
        )
    raise InputError(
        f"{path.name}: {len(fitting)} worksheets hold a header row ({', '.join(repr(n) for n in fitting)}); "
        f"say which to use with --sheet NAME, e.g. --sheet {shlex.quote(fitting[0])}"
    )


def _grid(path: Path, book: Any, name: str) -> list[list[object]]:
    try:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as exc:  # damaged XML inside an intact zip, and the like
        raise InputError(f"{path.name} could not be read as .xlsx ({type(exc).__name__}); save it again") from exc
    # A filled text cell, the commonest, is taken as it is without a call per cell (a sheet may have 600,000).
    return [[cell if type(cell) is str and cell else _cell(cell) for cell in row] for row in _trim_trailing_blank(rows)]


def _cell(cell: object) -> object:
    """A cell as openpyxl would give it: None for empty, whole numbers as int, dates as midnight datetimes."""
    kind = type(cell)
    if kind is str:
        return cell if cell else None
    if kind is float:
        number = cast(float, cell)
        return int(number) if number.is_integer() else number
    if kind is dt.date:
        return dt.datetime.combine(cast(dt.date, cell), dt.time())
    return cell


def _check_bounds(path: Path, data: bytes) -> _Shape:
    """Refuse, before parsing, a workbook that expands too far, has too many rows or cells, or is not a zip."""
    import zipfile

    too_big = "; remove what is not needed (or split the sheet) and save it again"
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        parts = package.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise unreadable_workbook(path) from exc
    expanded = sum(part.file_size for part in parts)
    if expanded > MAX_EXPANDED_BYTES:
        raise InputError(
            f"{path.name} expands to {expanded / 2**20:,.0f} MB of data inside its zip, more than the "
            f"{MAX_EXPANDED_BYTES // 2**20} MB a sheet may hold{too_big}"
        )
    unsaved, errors, dense = False, False, 0
    for part in parts:
        if not (part.filename.startswith("xl/worksheets/") and part.filename.endswith(".xml")):
            continue
        rows = cells = last_row = 0
        wide = 26
        tail = b""
        try:
            with package.open(part) as stream:  # zipfile stops at the size the package declares
                while chunk := stream.read(_SCAN_CHUNK):
                    text = tail + chunk
                    rows += chunk.count(b"<row ")
                    cells += chunk.count(b"<c ") + chunk.count(b"<c>")
                    if not unsaved and b"<f" in text:  # formulas at all: are any without a saved value?
                        unsaved = _UNSAVED_FORMULA.search(text) is not None
                    errors = errors or b't="e"' in text
                    if (start := text.rfind(b"<row ")) >= 0 and (found := _LAST_ROW.match(text, start)):
                        last_row = max(last_row, int(found.group(1)))
                    wide = max([wide, *(_column_number(m.group(1)) for m in _WIDE_COLUMN.finditer(text))])
                    tail = text[-64:]
                    if rows > MAX_ROWS or cells > MAX_CELLS:
                        counted = f"{rows:,} rows" if rows > MAX_ROWS else f"{cells:,} cells"
                        limit = f"{MAX_ROWS:,} rows" if rows > MAX_ROWS else f"{MAX_CELLS:,} cells"
                        raise InputError(
                            f"{path.name}: a worksheet holds {counted} or more, more than the {limit} a sheet "
                            f"may have{too_big}"
                        )
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise unreadable_workbook(path) from exc
        dense = max(dense, last_row * wide)
    return _Shape(unsaved, errors, dense)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _column_letters(position: int) -> str:
    """A 0-based column position as Excel names it (0 -> A, 26 -> AA)."""
    letters, number = "", position + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _check_cells(path: Path, rows: Sequence[Sequence[object]]) -> None:
    """Refuse a cell longer than a spreadsheet cell can be, or one holding a NUL byte, naming where it is."""
    for number, row in enumerate(rows, start=1):
        for position, cell in enumerate(row):
            if type(cell) is not str:
                continue
            text = cast(str, cell)
            if len(text) > MAX_CELL_CHARACTERS:
                raise InputError(
                    f"{path.name} row {number}, column {_column_letters(position)}: the cell holds "
                    f"{len(text):,} characters, far more than a spreadsheet cell can (32,767); shorten it or clear it"
                )
            if "\x00" in text:
                raise InputError(
                    f"{path.name} row {number}, column {_column_letters(position)}: the cell holds a NUL byte "
                    "(character 0), which no sheet value has; retype the cell"
                )


def _read_xlsx_streaming(
    path: Path, data: bytes, sheet_name: str | None, known: frozenset[str]
) -> tuple[list[list[object]], str]:
    """Read with openpyxl row by row: for a worksheet whose few cells lie far apart (a huge used range)."""
    book = _open_rows(path, data)
    try:
        names = [sheet.title for sheet in book.worksheets if hasattr(sheet, "iter_rows")]
        grids: dict[str, list[list[object]]] = {}

        def grid(name: str) -> list[list[object]]:
            if name not in grids:
                worksheet = book[name]
                worksheet.reset_dimensions()  # the stored "used range" can claim a million rows
                grids[name] = [list(row) for row in _trim_trailing_blank(worksheet.iter_rows(values_only=True))]
            return grids[name]

        ignored: tuple[str, ...] = ()
        if sheet_name is not None:
            title = _named(path, names, book.sheetnames, sheet_name)
        else:
            title, _, ignored = _pick(path, grid, names, known)
        rows = grid(title)
    except InputError:
        raise
    except Exception as exc:  # damaged XML inside an intact zip, and the like
        raise InputError(f"{path.name} could not be read as .xlsx ({type(exc).__name__}); save it again") from exc
    finally:
        book.close()
    if any(cell is None for row in rows for cell in row):
        _show_unsaved_formulas(data, title, rows)
    _check_cells(path, rows)
    return rows, _source(title, sheet_name, ignored)


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
    if cell is None or cell != cell:  # None, or the NaN pandas makes of a column of empty cells
        return ""
    if isinstance(cell, dt.datetime | dt.date):
        return clean_text(cell)
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)
