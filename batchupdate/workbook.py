"""Workbooks made to be filled in, for `template` and `export`: drop-downs, date cells, the given cells locked.

The data worksheet comes first (header frozen, widths that fit), then an "Instructions" worksheet that also
holds the outcome code table the outcome drop-down lists. Our own reader (sheet.py) picks the data worksheet
by its header row, so a workbook written here reads straight back in.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from batchupdate.kinds.outcomes import OUTCOMES, SHORT_CODES

INSTRUCTIONS = "Instructions"
DATE_FORMAT = "DD/MM/YYYY"
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)  # the years cells.parse_date accepts
TEMPLATE_ROWS = 1000  # rows of an empty template that get the drop-downs and date validation
# Given, not to be typed over: what finds the record, and the names staff check a row against.
GIVEN = frozenset(
    {"contact_id", "class_id", "unit_code", "unit_id", "module_name", "module_enrolment_id"}
    | {"student_name", "class_name", "unit_name", "current_access"}
)
DATES = frozenset({"start_date", "end_date"})
ACCESS_WORDS = ("unlocked", "locked", "clear")  # learning_plan.Access, in the order a person reads them
_GIVEN_FILL = "E7E6E6"
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # characters XML 1.0 cannot hold


def xml_safe(text: str) -> str:
    """Text a workbook can hold: control characters written as Excel's own _xHHHH_ escapes (read back as they were)."""
    return _ILLEGAL.sub(lambda match: f"_x{ord(match.group()):04X}_", text) if _ILLEGAL.search(text) else text


def outcome_value(code: int | str | None) -> str:
    """An outcome as a fill-in cell shows it: its short code, or the number where the short code is ambiguous
    (NAS is 81 or 82) or unknown."""
    if code in (None, ""):
        return ""
    try:
        number = int(str(code))
    except ValueError:
        return str(code)
    short = OUTCOMES.get(number, ("", ""))[0]
    return short if short and len(SHORT_CODES[short]) == 1 else str(number)


def outcome_choices() -> list[tuple[str, int, str]]:
    """The outcome drop-down's entries: (what to write, its number, its meaning), national codes first."""
    return [(outcome_value(code), code, meaning) for code, (_short, meaning) in OUTCOMES.items()]


@dataclass(frozen=True)
class FillIn:
    """A workbook to write: its kind, the data worksheet's columns and rows, and what the instructions say."""

    kind: str  # "units" or "modules"
    headers: Sequence[str]
    rows: Sequence[Sequence[object]] = ()
    protect: bool = False  # lock the given columns (an export); a template leaves every cell to type in
    instructions: Sequence[str] = ()  # paragraphs above the standard ones


def write_workbook(fill_in: FillIn, target: Path | IO[bytes]) -> None:
    """Write the workbook to a path or a binary stream (the web page's download).

    Written in openpyxl's write-only mode, row by row: an export of 20,000 rows takes seconds, not minutes.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill, Protection
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(fill_in.kind)
    instructions = book.create_sheet(INSTRUCTIONS)
    choices_range = _write_instructions(instructions, fill_in)
    headers = list(fill_in.headers)
    last_row = max(len(fill_in.rows) + 1, 2 if fill_in.protect else TEMPLATE_ROWS + 1)
    for position, header in enumerate(headers, start=1):
        letter = get_column_letter(position)
        sheet.column_dimensions[letter].width = _width(header, [row[position - 1] for row in fill_in.rows])
        check = _validation(header, choices_range)
        if check is not None:
            sheet.data_validations.append(check)
            check.add(f"{letter}2:{letter}{last_row}")
    sheet.freeze_panes = "A2"
    # Printed (or saved as PDF): landscape, every column on the page's width, the header on every page.
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"
    if headers:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(len(fill_in.rows) + 1, 2)}"
    if fill_in.protect:
        protection = sheet.protection
        protection.sheet = True
        # Still allowed on the locked sheet: filtering, sorting, resizing; typing only in the unlocked cells.
        protection.autoFilter = protection.sort = False
        protection.formatColumns = protection.formatRows = False
        protection.selectLockedCells = protection.selectUnlockedCells = False

    bold, given_fill, editable = Font(bold=True), PatternFill("solid", fgColor=_GIVEN_FILL), Protection(locked=False)
    header_cells = []
    for header in headers:
        header_cell = WriteOnlyCell(sheet, value=header)
        header_cell.font = bold
        header_cells.append(header_cell)
    sheet.append(header_cells)
    dates = [header in DATES for header in headers]
    given = [fill_in.protect and header in GIVEN for header in headers]
    unlocked = [fill_in.protect and header not in GIVEN for header in headers]

    # Each column's style is worked out once; every cell then takes a copy (setting styles per cell is slow).
    styles = []
    for position in range(len(headers)):
        prototype = WriteOnlyCell(sheet)
        if dates[position]:
            prototype.number_format = DATE_FORMAT
        if given[position]:
            prototype.fill = given_fill
        elif unlocked[position]:
            prototype.protection = editable
        styles.append(prototype._style)

    def cell(value: object, position: int) -> WriteOnlyCell:
        written = WriteOnlyCell(sheet, value=xml_safe(value) if isinstance(value, str) else value)
        if isinstance(value, str) and written.data_type == "f":
            written.data_type = "s"  # a name that starts with "=" is text, never a formula
        written._style = copy.copy(styles[position])
        return written

    for row in fill_in.rows:
        sheet.append([cell(value, position) for position, value in enumerate(row)])
    for _ in range(last_row - 1 - len(fill_in.rows)):  # a template's empty rows: dates formatted as dates
        sheet.append([cell(None, position) for position in range(len(headers))])
    book.save(target)


def _validation(header: str, choices_range: str) -> Any:
    """The drop-down or date check a column's cells get, if any."""
    from openpyxl.worksheet.datavalidation import DataValidation

    if header in DATES:
        return DataValidation(
            type="date",
            operator="between",
            formula1=str(_serial(FIRST_DATE)),
            formula2=str(_serial(LAST_DATE)),
            allow_blank=True,
            errorTitle="Not a date",
            error="Type a date as DD/MM/YYYY, e.g. 28/11/2026 (day first), or leave the cell blank.",
            showErrorMessage=True,
        )
    if header == "outcome":
        return DataValidation(
            type="list",
            formula1=choices_range,
            allow_blank=True,
            errorTitle="Not in the list",
            error=(
                "Pick an outcome from the list (the Instructions worksheet says what each means). Another outcome "
                "code, such as a WA RAPT number, can still be typed: choose Yes."
            ),
            errorStyle="warning",  # a warning, not a stop: every code `run` accepts can be typed
            showErrorMessage=True,
        )
    if header == "access":
        return DataValidation(
            type="list",
            formula1='"' + ",".join(ACCESS_WORDS) + '"',
            allow_blank=True,
            errorTitle="Not an access word",
            error="Pick unlocked, locked or clear, or leave the cell blank to leave the access as it is.",
            showErrorMessage=True,
        )
    return None


def _write_instructions(sheet: Any, fill_in: FillIn) -> str:
    """The Instructions worksheet; returns the range of the outcome drop-down's entries on it."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    title = "Unit outcomes" if fill_in.kind == "units" else "Learning-plan modules"
    lines = [
        *fill_in.instructions,
        f"Fill in the '{fill_in.kind}' worksheet, save it as .xlsx, then check and apply it:",
        "    batchupdate plan THIS-FILE.xlsx      (shows what would change; sends no write)",
        "    batchupdate run THIS-FILE.xlsx       (applies it; the results file says what happened per row)",
        "A blank cell means: leave it as it is in aXcelerate. A row that changes nothing is reported unchanged.",
        "Dates: type them day first, DD/MM/YYYY (28/11/2026), or pick them as date cells.",
    ]
    if fill_in.protect:
        lines.append(
            "The shaded columns come from aXcelerate and find the record; they are locked against typing "
            "(Review > Unprotect Sheet, no password, if you must)."
        )
    if fill_in.kind == "modules":
        lines.append("access: unlocked, locked or clear (removes the override); blank leaves it as it is.")
    sheet.column_dimensions["A"].width = 12
    sheet.column_dimensions["B"].width = 9
    sheet.column_dimensions["C"].width = 70

    def bold(text: str, size: float = 11) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = Font(bold=True, size=size)
        return cell

    sheet.append([bold(f"{title}: how to fill in this workbook", 14)])
    for line in lines:
        sheet.append([line])
    sheet.append([])
    sheet.append([bold("Outcome"), bold("Number"), bold("Meaning")])
    first = len(lines) + 4
    choices = outcome_choices()
    for value, code, meaning in choices:
        sheet.append([value, code, meaning])
    return f"{INSTRUCTIONS}!$A${first}:$A${first + len(choices) - 1}"


def _serial(date: dt.date) -> int:
    """A date as Excel's day number (1900 date system), as data validation formulas take it."""
    return (date - dt.date(1899, 12, 30)).days


def _width(header: str, cells: Sequence[object]) -> float:
    """A column width that fits the header and the longest of its first cells (dates as DD/MM/YYYY)."""
    longest = len(header)
    for cell in cells[:2000]:
        text = "00/00/0000" if isinstance(cell, dt.date) else ("" if cell is None else str(cell))
        longest = max(longest, len(text))
    return min(longest, 50) + 2
