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

# [0-9], not \d: \d and int() also take fullwidth, Arabic-Indic and every other script's digits.
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?")
_AU_DATE = re.compile(r"([0-9]{1,2})[/.]([0-9]{1,2})[/.]([0-9]{4})")
_WHOLE_NUMBER = re.compile(r"[0-9]+(?:\.0+)?")
MAX_ID_DIGITS = 18  # aXcelerate IDs are database integers; longer "numbers" are typing accidents
# Spaces a spreadsheet may carry around a value: ordinary, non-breaking, zero-width, BOM.
_SPACES = " \t\r\n\u00a0\u2007\u202f\u200b\ufeff"


class CellError(ValueError):
    """A cell's value cannot be used; the message says what to write instead."""


FOREIGN_DIGITS = "has digits other than 0-9 (fullwidth or another script's); type it again with the digits 0-9"


def check_digits(text: str) -> None:
    """CellError when the text holds a digit that is not 0-9, such as fullwidth \uff17 or Arabic-Indic \u0667."""
    if not text.isascii() and any(character.isdigit() and not character.isascii() for character in text):
        raise CellError(FOREIGN_DIGITS)


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
    check_digits(text)
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
    check_digits(text)
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


def _slashed(text: str) -> tuple[int, int, int] | None:
    """The three numbers of a text date with slashes or dots (first, second, year), None for any other text."""
    match = _AU_DATE.fullmatch(clean_text(text))
    if match is None:
        return None
    first, second, year = (int(part) for part in match.groups())
    return first, second, year


def _real(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def month_first_date(text: str) -> dt.date | None:
    """The text read month first (11/30/2026 is 30 November), None when that is not a real date."""
    parts = _slashed(text)
    return _real(parts[2], parts[0], parts[1]) if parts else None


def only_month_first(text: str) -> bool:
    """True for a date text that is a real date only when read month first, such as 11/30/2026."""
    parts = _slashed(text)
    return parts is not None and parts[1] > 12 and month_first_date(text) is not None


def only_day_first(text: str) -> bool:
    """True for a date text that is a real date only when read day first, such as 30/11/2026."""
    parts = _slashed(text)
    return parts is not None and parts[0] > 12 and _real(parts[2], parts[1], parts[0]) is not None


def day_first_would_differ(text: str) -> bool:
    """True for a date text that is a real date either way, and a different one: 03/05/2026, not 05/05/2026."""
    parts = _slashed(text)
    return (
        parts is not None
        and parts[0] != parts[1]
        and parts[0] <= 12
        and parts[1] <= 12
        and _real(parts[2], parts[1], parts[0]) is not None
    )


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
