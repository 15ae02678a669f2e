"""Cells: one spreadsheet cell becomes a typed value, or a message that says what to write instead."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from batchupdate.cells import (
    FOREIGN_DIGITS,
    CellError,
    clean_text,
    day_first_would_differ,
    month_first_date,
    only_day_first,
    only_month_first,
    parse_date,
    parse_date_time,
    parse_id,
)
from batchupdate.kinds.outcomes import parse_outcome


@pytest.fixture
def sydney_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the test with the process in Sydney's time zone (UTC+10/+11), as an Australian PC would be."""
    monkeypatch.setenv("TZ", "Australia/Sydney")
    time.tzset()
    assert time.localtime(0).tm_gmtoff != 0, "TZ did not take effect; the test would prove nothing"
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------- clean_text


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        pytest.param("  BSBWHS411  ", "BSBWHS411", id="ordinary spaces"),
        pytest.param("\u00a0700001\u00a0", "700001", id="non-breaking space"),
        pytest.param("\u200b700001\u200b", "700001", id="zero-width space"),
        pytest.param("\ufeffcontact_id", "contact_id", id="byte order mark"),
        pytest.param("\t31001\r\n", "31001", id="tab and line end"),
        pytest.param(700001.0, "700001", id="Excel whole number as float"),
        pytest.param(12.5, "12.5", id="fraction kept"),
        pytest.param(700001, "700001", id="int"),
        pytest.param(float("nan"), "", id="pandas NaN is blank"),
        pytest.param(None, "", id="None is blank"),
        pytest.param("   ", "", id="only spaces is blank"),
        pytest.param(dt.datetime(2026, 3, 1), "2026-03-01", id="midnight datetime is a date"),
        pytest.param(dt.datetime(2026, 3, 1, 9, 30), "2026-03-01 09:30:00", id="datetime with a time keeps it"),
        pytest.param(dt.date(2026, 11, 25), "2026-11-25", id="date"),
        pytest.param("Module 1  -  Safety", "Module 1  -  Safety", id="inner spaces untouched"),
    ],
)
def test_clean_text(cell: object, expected: str) -> None:
    assert clean_text(cell) == expected


# ---------------------------------------------------------------- parse_id


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        pytest.param(12345, 12345, id="int"),
        pytest.param("12345", 12345, id="text"),
        pytest.param(" 12345 ", 12345, id="text with spaces"),
        pytest.param("12345.0", 12345, id="Excel text with .0"),
        pytest.param(12345.0, 12345, id="Excel float"),
        pytest.param("\u00a012345", 12345, id="non-breaking space"),
        pytest.param("", None, id="blank"),
        pytest.param(None, None, id="None"),
        pytest.param(float("nan"), None, id="NaN"),
    ],
)
def test_parse_id_accepts(cell: object, expected: int | None) -> None:
    assert parse_id(cell) == expected


@pytest.mark.parametrize(
    "cell",
    [
        pytest.param("12.5", id="fraction text"),
        pytest.param(12.5, id="fraction float"),
        pytest.param("abc", id="letters"),
        pytest.param("0", id="zero"),
        pytest.param(0, id="zero int"),
        pytest.param("-3", id="negative"),
        pytest.param("12 345", id="inner space"),
        pytest.param("1e5", id="scientific"),
    ],
)
def test_parse_id_rejects_with_the_fix(cell: object) -> None:
    with pytest.raises(CellError, match="is not an ID; use the whole number shown in aXcelerate"):
        parse_id(cell)


# ---------------------------------------------------------------- parse_date


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        pytest.param("2026-03-01", dt.date(2026, 3, 1), id="ISO"),
        pytest.param("2026-3-1", dt.date(2026, 3, 1), id="ISO without leading zeros"),
        pytest.param("2026-03-01 00:00:00", dt.date(2026, 3, 1), id="ISO with midnight"),
        pytest.param("2026-03-01T00:00", dt.date(2026, 3, 1), id="ISO T midnight"),
        pytest.param("03/02/2026", dt.date(2026, 2, 3), id="day first: 3 February"),
        pytest.param("25/11/2026", dt.date(2026, 11, 25), id="25 November"),
        pytest.param("3/2/2026", dt.date(2026, 2, 3), id="day first without zeros"),
        pytest.param("29/02/2028", dt.date(2028, 2, 29), id="leap day"),
        pytest.param(" 01/12/2026\u00a0", dt.date(2026, 12, 1), id="spaces around"),
        pytest.param(dt.datetime(2026, 3, 1), dt.date(2026, 3, 1), id="Excel date cell"),
        pytest.param(dt.date(2026, 3, 1), dt.date(2026, 3, 1), id="date"),
        pytest.param("", None, id="blank"),
        pytest.param(None, None, id="None"),
        pytest.param(float("nan"), None, id="NaN"),
    ],
)
def test_parse_date_accepts(cell: object, expected: dt.date | None) -> None:
    assert parse_date(cell) == expected


def test_parse_date_is_day_first_never_month_first() -> None:
    assert parse_date("03/02/2026") != dt.date(2026, 3, 2)
    with pytest.raises(CellError, match="day first"):
        parse_date("02/13/2026")  # a US date: month 13 is no month, so it is refused, not swapped


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        pytest.param("31/02/2026", "is not a real date; use DD/MM/YYYY (day first) or YYYY-MM-DD", id="31 February"),
        pytest.param("29/02/2026", "is not a real date", id="not a leap year"),
        pytest.param("2026-02-30", "is not a real date", id="ISO 30 February"),
        pytest.param("tomorrow", "is not a date; use DD/MM/YYYY or YYYY-MM-DD", id="words"),
        pytest.param("03/02/26", "is not a date", id="two-digit year"),
        pytest.param("2026-03-01 09:30", "is not a date", id="text with a time of day"),
        pytest.param("01/01/1066", "is out of range; check the year", id="year out of range"),
    ],
)
def test_parse_date_rejects_with_the_fix(cell: object, message: str) -> None:
    with pytest.raises(CellError) as caught:
        parse_date(cell)
    assert message in str(caught.value)


def test_parse_date_rejects_a_date_cell_with_a_time_of_day() -> None:
    with pytest.raises(CellError, match="has a time of day; use a plain date"):
        parse_date(dt.datetime(2026, 3, 1, 14, 30))


@pytest.mark.usefixtures("sydney_time")
@pytest.mark.parametrize(
    "cell",
    [
        pytest.param(dt.datetime(2026, 3, 1), id="Excel date cell"),
        pytest.param(dt.date(2026, 3, 1), id="date"),
        pytest.param("2026-03-01", id="ISO text"),
        pytest.param("01/03/2026", id="DD/MM/YYYY text"),
        pytest.param("2026-03-01 00:00:00", id="ISO midnight text"),
    ],
)
def test_parse_date_never_shifts_by_time_zone(cell: object) -> None:
    date = parse_date(cell)
    assert date == dt.date(2026, 3, 1)
    assert date is not None and date.isoformat() == "2026-03-01"


# ---------------------------------------------------------------- parse_date_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-03-01 00:00", dt.date(2026, 3, 1), id="API date and time"),
        pytest.param("2026-03-01", dt.date(2026, 3, 1), id="API date"),
        pytest.param("2026-03-01T23:59:59", dt.date(2026, 3, 1), id="late in the day stays that day"),
        pytest.param(" 2026-03-01 ", dt.date(2026, 3, 1), id="spaces"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="None"),
    ],
)
def test_parse_date_time(text: object, expected: dt.date | None) -> None:
    assert parse_date_time(text) == expected


@pytest.mark.usefixtures("sydney_time")
def test_parse_date_time_never_shifts_by_time_zone() -> None:
    assert parse_date_time("2026-03-01 23:30") == dt.date(2026, 3, 1)
    assert parse_date_time("2026-03-01 00:00") == dt.date(2026, 3, 1)


# ---------------------------------------------------------------- digits: 0-9 only


@pytest.mark.parametrize(
    ("parse", "cell"),
    [
        pytest.param(parse_id, "\uff17\uff10\uff10\uff10\uff10\uff11", id="fullwidth contact id"),
        pytest.param(parse_id, "\u0667\u0660\u0660\u0660\u0660\u0661", id="Arabic-Indic contact id"),
        pytest.param(parse_id, "70000\u0661", id="one Arabic-Indic digit in an id"),
        pytest.param(parse_id, "\u096d\u0966\u0966\u0966\u0966\u0967", id="Devanagari id"),
        pytest.param(parse_date, "\uff10\uff15/03/2026", id="fullwidth day"),
        pytest.param(parse_date, "2026-\u0660\u0663-05", id="Arabic-Indic month in ISO date"),
        pytest.param(parse_outcome, "\uff12\uff10", id="fullwidth outcome 20"),
        pytest.param(parse_outcome, "\u0662\u0660", id="Arabic-Indic outcome 20"),
    ],
)
def test_only_ascii_digits_count(parse: object, cell: str) -> None:
    assert callable(parse)
    with pytest.raises(CellError) as caught:
        parse(cell)
    assert str(caught.value) == FOREIGN_DIGITS
    assert "0-9" in str(caught.value)


def test_ascii_digits_still_parse() -> None:
    assert parse_id("700001") == 700001
    assert parse_date("05/03/2026") == dt.date(2026, 3, 5)
    assert parse_outcome("20") == 20


# ---------------------------------------------------------------- which way a slashed date can be read


@pytest.mark.parametrize(
    ("text", "month_first_only", "day_first_only", "either_and_different"),
    [
        pytest.param("11/30/2026", True, False, False, id="30 November, month first only"),
        pytest.param("02/13/2026", True, False, False, id="13 February, month first only"),
        pytest.param("30/11/2026", False, True, False, id="day first only"),
        pytest.param("03/05/2026", False, False, True, id="either: 3 May or 5 March"),
        pytest.param("05/05/2026", False, False, False, id="either, and the same date"),
        pytest.param("02/30/2026", False, False, False, id="30 February: no date either way"),
        pytest.param("2026-11-30", False, False, False, id="ISO is never ambiguous"),
        pytest.param("11.30.2026", True, False, False, id="dots like slashes"),
        pytest.param(" 11/30/2026 ", True, False, False, id="spaces around"),
    ],
)
def test_slashed_dates_by_reading(
    text: str, month_first_only: bool, day_first_only: bool, either_and_different: bool
) -> None:
    assert only_month_first(text) is month_first_only
    assert only_day_first(text) is day_first_only
    assert day_first_would_differ(text) is either_and_different


def test_month_first_date() -> None:
    assert month_first_date("11/30/2026") == dt.date(2026, 11, 30)
    assert month_first_date("30/11/2026") is None
