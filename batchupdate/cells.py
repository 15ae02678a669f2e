"""Turn one spreadsheet cell into a typed value, or say precisely why it cannot be.

Every parser takes the raw cell (str from CSV, str/int/float/datetime from Excel) and returns
the value, ``None`` for a blank cell ("leave as it is"), or raises ``CellError`` with the fix.
Dates never pass through a time zone: a cell becomes a ``datetime.date`` and goes out as text.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import lru_cache

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?")
_AU_DATE = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")
_WHOLE_NUMBER = re.compile(r"\d+(?:\.0+)?")
MAX_ID_DIGITS = 18  # aXcelerate IDs are database integers; longer "numbers" are typing accidents
# Spaces a spreadsheet may carry around a value: ordinary, non-breaking, zero-width, BOM.
_SPACES = " \t\r\n\u00a0\u2007\u202f\u200b\ufeff"


class CellError(ValueError):
    """A cell's value cannot be used; the message says what to write instead."""


def clean_text(cell: object) -> str:
    """The cell as trimmed text ('' for blank), with Excel's odd spaces removed."""
    if cell is None:
        return ""
    if isinstance(cell, float):
        if math.isnan(cell):
            return ""
        if cell.is_integer():
            return str(int(cell))
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat() if _is_midnight(cell) else cell.isoformat(sep=" ")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return str(cell).strip(_SPACES)


def is_blank(cell: object) -> bool:
    """True when the cell holds nothing but spaces."""
    return clean_text(cell) == ""


def parse_id(cell: object) -> int | None:
    """An aXcelerate ID: a positive whole number; Excel's '12345.0' is accepted."""
    text = clean_text(cell)
    if not text:
        return None
    return _parse_id_text(text)


@lru_cache(maxsize=65536)
def _parse_id_text(text: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(text) or len(text.split(".")[0]) > MAX_ID_DIGITS:
        raise CellError("is not an ID; use the whole number shown in aXcelerate")
    number = int(text.split(".")[0])
    if number <= 0:
        raise CellError("is not an ID; use the whole number shown in aXcelerate")
    return number


def parse_date(cell: object) -> dt.date | None:
    """A calendar date from YYYY-MM-DD, DD/MM/YYYY (day first, never month first) or a date cell."""
    if isinstance(cell, dt.datetime):
        if not _is_midnight(cell):
            raise CellError("has a time of day; use a plain date like 31/12/2026")
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    text = clean_text(cell)
    if not text:
        return None
    return _parse_date_text(text)


@lru_cache(maxsize=65536)
def _parse_date_text(text: str) -> dt.date:
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
    elif match := _AU_DATE.fullmatch(text):
        day, month, year = (int(part) for part in match.groups())
    else:
        raise CellError("is not a date; use DD/MM/YYYY or YYYY-MM-DD")
    try:
        date = dt.date(year, month, day)
    except ValueError as exc:
        raise CellError("is not a real date; use DD/MM/YYYY (day first) or YYYY-MM-DD") from exc
    if not 1900 <= date.year <= 2199:
        raise CellError("is out of range; check the year")
    return date


def parse_date_time(text: object) -> dt.date | None:
    """The date part of an API value such as '2026-03-01 00:00' or '2026-03-01' ('' and None: no date)."""
    if text is None:
        return None
    value = str(text).strip()
    if not value:
        return None
    return dt.date.fromisoformat(value[:10])


def _is_midnight(moment: dt.datetime) -> bool:
    return moment.time() == dt.time(0, 0)


def as_int(value: object) -> int | None:
    """An API value as an int ('123', 123, ' 123 '), None when it is not one."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
