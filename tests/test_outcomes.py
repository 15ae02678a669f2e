"""Outcomes: a number or a short code becomes the outcome number aXcelerate stores."""

from __future__ import annotations

import pytest

from batchupdate.cells import CellError
from batchupdate.kinds.outcomes import parse_outcome, short_code


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        pytest.param("20", 20, id="number as text"),
        pytest.param(20, 20, id="number"),
        pytest.param(20.0, 20, id="Excel float"),
        pytest.param("20.0", 20, id="Excel text with .0"),
        pytest.param("C", 20, id="C"),
        pytest.param(" c ", 20, id="lower case with spaces"),
        pytest.param("\u00a0C\u00a0", 20, id="non-breaking spaces"),
        pytest.param("cna", 30, id="cna"),
        pytest.param("RPL-G", 51, id="RPL-G"),
        pytest.param("rpl-g", 51, id="rpl-g"),
        pytest.param("RPL-NG", 52, id="RPL-NG"),
        pytest.param("N.R.", 0, id="N.R."),
        pytest.param("NR", 0, id="NR without dots"),
        pytest.param("0", 0, id="zero is not reported"),
        pytest.param("CT", 60, id="CT"),
        pytest.param("W", 40, id="W"),
        pytest.param("ca", 70, id="ca"),
        pytest.param("no  start", 66, id="NSW code with two words"),
        pytest.param("5", 5, id="WA RAPT number"),
    ],
)
def test_parse_outcome_accepts(cell: object, expected: int) -> None:
    assert parse_outcome(cell) == expected


@pytest.mark.parametrize("cell", ["", "   ", None, float("nan")])
def test_parse_outcome_blank_leaves_it_as_it_is(cell: object) -> None:
    assert parse_outcome(cell) is None


@pytest.mark.parametrize(
    ("cell", "numbers"),
    [
        pytest.param("NAS", ("81", "82"), id="NAS"),
        pytest.param("nas", ("81", "82"), id="nas"),
        pytest.param("C-GAP", ("25", "65"), id="C-GAP"),
    ],
)
def test_parse_outcome_rejects_an_ambiguous_short_code_naming_both_numbers(cell: str, numbers: tuple[str, str]) -> None:
    with pytest.raises(CellError) as caught:
        parse_outcome(cell)
    message = str(caught.value)
    assert "ambiguous" in message
    assert "write the number instead" in message
    for number in numbers:
        assert f"{number} (" in message


@pytest.mark.parametrize(
    "cell",
    [
        pytest.param("2.05", id="fraction"),
        pytest.param(2.05, id="fraction float"),
        pytest.param("99", id="unknown number"),
        pytest.param(99, id="unknown number int"),
        pytest.param("XYZ", id="unknown code"),
        pytest.param("-20", id="negative"),
        pytest.param("Competent", id="word"),
    ],
)
def test_parse_outcome_rejects_with_the_fix(cell: object) -> None:
    with pytest.raises(CellError) as caught:
        parse_outcome(cell)
    assert "is not an outcome code; use a number such as 20 or a short code such as C, CNA, RPL-G" in str(caught.value)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (20, "C"),
        ("30", "CNA"),
        ("51", "RPL-G"),
        ("0", "N.R."),
        pytest.param(0, "N.R.", id="0-N.R.-int"),
        (None, ""),
        ("", ""),
        ("abc", ""),
        (5, ""),
    ],
)
def test_short_code_shown_beside_a_number(code: int | str | None, expected: str) -> None:
    assert short_code(code) == expected
