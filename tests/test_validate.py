"""Validation: every problem in a sheet reported at once, by row and column, before anything is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batchupdate.errors import InputError
from batchupdate.kinds import known_headers
from batchupdate.kinds.base import Kind
from batchupdate.kinds.learning_plan import Modules
from batchupdate.kinds.units import Units
from batchupdate.sheet import Sheet, read_sheet
from batchupdate.status import Status
from batchupdate.validate import Validation, Verdict, validate

UNITS_HEADER = "contact_id,class_id,unit_code,outcome,start_date,end_date"
MODULES_HEADER = "contact_id,class_id,module_name,access,start_date,end_date"


def sheet_from_csv(folder: Path, text: str, *, name: str = "outcomes.csv") -> Sheet:
    """A Sheet read the way the CLI reads it, so row numbers are the sheet's real lines."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return read_sheet(path, known_headers=known_headers())


def sheet_from_xlsx(folder: Path, rows: Sequence[Sequence[object]]) -> Sheet:
    book = openpyxl.Workbook()
    worksheet = book.active
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            if value is not None:
                worksheet.cell(row=number, column=column, value=value)
    path = folder / "outcomes.xlsx"
    book.save(path)
    return read_sheet(path, known_headers=known_headers())


def verdicts_by_line(sheet: Sheet, validation: Validation) -> dict[int, Verdict]:
    return {sheet.lines[index]: verdict for index, verdict in validation.verdicts.items()}


def values_by_line(validation: Validation) -> dict[int, Mapping[str, Any]]:
    return {row.line: dict(row.values) for row in validation.rows}


def check(folder: Path, text: str, kind: Kind) -> tuple[Sheet, Validation]:
    sheet = sheet_from_csv(folder, text)
    return sheet, validate(sheet, kind)


# ---------------------------------------------------------------- every problem at once


def test_every_bad_row_is_reported_at_once_with_column_value_and_fix(tmp_path: Path) -> None:
    sheet, validation = check(
        tmp_path,
        "Term 4 outcomes,,,,,\n"
        f"{UNITS_HEADER},trainer\n"
        "700001,31001,BSBWHS411,C,03/02/2026,25/11/2026,Sam\n"
        "abc,31001,BSBWHS411,C,,,Sam\n"
        "700002,31001,BSBWHS411,NAS,,,Sam\n"
        "700003,31001,BSBWHS411,C,31/02/2026,,Sam\n"
        "700004,31001,BSB WHS411,C,,,Sam\n"
        "700005,31001,BSBWHS411,C,,30/02/2026,Sam\n"
        "700006,31001,BSBWHS411,CNA,,,Sam\n",
        Units(),
    )
    verdicts = verdicts_by_line(sheet, validation)
    expected = {
        4: ("contact_id 'abc'", "use the whole number shown in aXcelerate"),
        5: ("outcome 'NAS'", "write the number instead"),
        6: ("start_date '31/02/2026'", "use DD/MM/YYYY (day first)"),
        7: ("unit_code 'BSB WHS411'", "use the code as aXcelerate shows it"),
        8: ("end_date '30/02/2026'", "use DD/MM/YYYY (day first)"),
    }
    assert sorted(verdicts) == sorted(expected)
    for line, (column_and_value, fix) in expected.items():
        assert verdicts[line].status == Status.INVALID
        assert column_and_value in verdicts[line].error
        assert fix in verdicts[line].error
    assert sorted(values_by_line(validation)) == [3, 9]


def test_several_problems_in_one_row_are_all_named(tmp_path: Path) -> None:
    sheet, validation = check(tmp_path, f"{UNITS_HEADER}\n700001,0,BSBWHS411,XYZ,2026-13-01,\n", Units())
    error = verdicts_by_line(sheet, validation)[2].error
    assert "class_id '0' is not an ID" in error
    assert "outcome 'XYZ' is not an outcome code" in error
    assert "start_date '2026-13-01' is not a real date" in error
    assert validation.rows == ()


def test_several_problems_in_one_row_are_listed_in_column_order(tmp_path: Path) -> None:
    sheet, validation = check(
        tmp_path,
        f"{UNITS_HEADER}\n"
        "abc,31001,BSBWHS411,C,,\n"
        ",31001,BSBWHS411,C,,\n"
        "700006,31001,BSBWHS411,C,25/11/2026,03/02/2026\n"
        "700007,31001,,C,,\n"
        "700001,0,BSBWHS411,XYZ,2026-13-01,\n",
        Units(),
    )
    error = verdicts_by_line(sheet, validation)[6].error
    assert error.index("class_id") < error.index("outcome") < error.index("start_date")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param(",31001,BSBWHS411,C,,", "contact_id is blank; fill it in (e.g. 700001)", id="blank contact_id"),
        pytest.param(" ,31001,BSBWHS411,C,,", "contact_id is blank", id="contact_id only a space"),
        pytest.param("700001,,BSBWHS411,C,,", "class_id is blank; fill it in", id="blank class_id"),
        pytest.param("700001,31001,,C,,", "unit_code and unit_id are both blank; fill in the unit code", id="no unit"),
        pytest.param(
            "700001,31001,BSBWHS411,C,25/11/2026,03/02/2026",
            "end_date '03/02/2026' is before start_date '25/11/2026'; swap them or fix the dates",
            id="end before start",
        ),
        pytest.param(
            "700001,31001,BSBWHS411,,2026-11-25,2026-02-03",
            "end_date '2026-02-03' is before start_date '2026-11-25'",
            id="end before start ISO",
        ),
    ],
)
def test_row_rules_make_a_row_invalid(tmp_path: Path, row: str, message: str) -> None:
    sheet, validation = check(tmp_path, f"{UNITS_HEADER}\n{row}\n", Units())
    verdict = verdicts_by_line(sheet, validation)[2]
    assert verdict.status == Status.INVALID
    assert message in verdict.error
    assert validation.rows == ()


def test_end_on_the_start_date_is_valid(tmp_path: Path) -> None:
    _, validation = check(tmp_path, f"{UNITS_HEADER}\n700001,31001,BSBWHS411,,03/02/2026,2026-02-03\n", Units())
    assert validation.verdicts == {}
    assert values_by_line(validation)[2]["end_date"] == dt.date(2026, 2, 3)


def test_empty_required_cells_in_xlsx_are_blank(tmp_path: Path) -> None:
    sheet = sheet_from_xlsx(
        tmp_path,
        [
            ["contact_id", "class_id", "unit_code", "outcome"],
            [None, 31001, "BSBWHS411", "C"],
            [700002, None, "BSBWHS411", "C"],
        ],
    )
    verdicts = verdicts_by_line(sheet, validate(sheet, Units()))
    assert "contact_id is blank" in verdicts[2].error
    assert "class_id is blank" in verdicts[3].error


def test_short_csv_row_missing_its_contact_id_is_blank(tmp_path: Path) -> None:
    sheet, validation = check(tmp_path, "unit_code,outcome,class_id,contact_id\nBSBWHS411,C,31001\n", Units())
    assert validation.rows == ()
    assert "contact_id is blank" in verdicts_by_line(sheet, validation)[2].error


# ---------------------------------------------------------------- columns


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        pytest.param("contact_id,unit_code,outcome", "class_id", id="class_id"),
        pytest.param("class_id,unit_code,outcome", "contact_id", id="contact_id"),
        pytest.param("contact_id,class_id,outcome", "unit_code or unit_id", id="unit_code and unit_id"),
        pytest.param("contact_id,class_id,unit_code", "outcome or start_date or end_date", id="nothing to change"),
    ],
)
def test_missing_column_names_it_and_lists_the_columns_found(tmp_path: Path, header: str, missing: str) -> None:
    sheet = sheet_from_csv(tmp_path, f"{header},trainer\n700001,31001,C,Sam\n")
    with pytest.raises(InputError) as caught:
        validate(sheet, Units())
    message = str(caught.value)
    assert f"missing the column {missing} for a units sheet" in message
    assert f"its columns are {header.replace(',', ', ')}, trainer" in message
    assert "batchupdate template units" in message


def test_missing_module_column_names_it(tmp_path: Path) -> None:
    sheet = sheet_from_csv(tmp_path, "contact_id,class_id,access\n700001,32001,unlocked\n")
    with pytest.raises(InputError, match="missing the column module_name or module_enrolment_id for a modules sheet"):
        validate(sheet, Modules())


def test_two_columns_meaning_the_same_is_an_input_error(tmp_path: Path) -> None:
    sheet = sheet_from_csv(tmp_path, "contact_id,Contact ID,class_id,unit_code,outcome\n1,1,31001,BSBWHS411,C\n")
    with pytest.raises(InputError) as caught:
        validate(sheet, Units())
    assert "'contact_id', 'Contact ID' all mean contact_id; keep one" in str(caught.value)


def test_headers_in_another_spelling_are_used(tmp_path: Path) -> None:
    _, validation = check(
        tmp_path, "Contact ID,Class-ID,UNIT CODE,Outcome,Start Date,END_DATE\n700001,31001,bsbwhs411,c,,\n", Units()
    )
    assert validation.verdicts == {}
    assert values_by_line(validation)[2]["unit_code"] == "BSBWHS411"


def test_pass_through_and_result_columns_do_not_change_validation(tmp_path: Path) -> None:
    text = (
        f"{UNITS_HEADER},trainer,row,status,error,changes,before_outcome\n"
        "700001,31001,BSBWHS411,C,,,Sam,2,failed,API said no,,30\n"
        "700002,31001,BSBWHS411,CNA,,,=SUM(A1),3,updated,,,\n"
    )
    sheet, validation = check(tmp_path, text, Units())
    assert validation.verdicts == {}
    assert [row.line for row in validation.rows] == [2, 3]
    assert set(validation.rows[0].values) == {
        "contact_id",
        "class_id",
        "unit_code",
        "outcome",
        "start_date",
        "end_date",
    }
    assert sheet.frame["trainer"].tolist() == ["Sam", "=SUM(A1)"]


def test_a_sheet_with_headers_only_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has a header row but no data rows"):
        check(tmp_path, f"{UNITS_HEADER}\n", Units())


def test_a_users_own_status_column_is_refused_rather_than_mistaken_for_results(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="column 'Status' has the name of a column batchupdate adds"):
        check(tmp_path, f"{UNITS_HEADER},Status\n700001,31001,BSBWHS411,C,,,Active\n", Units())


# ---------------------------------------------------------------- parsed values


def test_valid_rows_come_out_typed(tmp_path: Path) -> None:
    _, validation = check(
        tmp_path,
        f"{UNITS_HEADER}\n"
        "700001,31001,BSBWHS411,C,03/02/2026,25/11/2026\n"
        "700002.0,31001, bsbwhs412 ,rpl-g,2026-02-03,\n"
        "700003,31001,BSBWHS413,,,25/11/2026\n",
        Units(),
    )
    assert validation.verdicts == {}
    assert values_by_line(validation) == {
        2: {
            "contact_id": 700001,
            "class_id": 31001,
            "unit_code": "BSBWHS411",
            "outcome": 20,
            "start_date": dt.date(2026, 2, 3),
            "end_date": dt.date(2026, 11, 25),
        },
        3: {
            "contact_id": 700002,
            "class_id": 31001,
            "unit_code": "BSBWHS412",
            "outcome": 51,
            "start_date": dt.date(2026, 2, 3),
            "end_date": None,
        },
        4: {
            "contact_id": 700003,
            "class_id": 31001,
            "unit_code": "BSBWHS413",
            "outcome": None,
            "start_date": None,
            "end_date": dt.date(2026, 11, 25),
        },
    }


def test_unit_id_can_stand_in_for_unit_code(tmp_path: Path) -> None:
    _, validation = check(tmp_path, "contact_id,class_id,unit_id,outcome\n700001,31001,41001.0,30\n", Units())
    assert validation.verdicts == {}
    assert values_by_line(validation)[2] == {"contact_id": 700001, "class_id": 31001, "unit_id": 41001, "outcome": 30}


def test_xlsx_date_cells_become_dates_and_a_time_of_day_is_invalid(tmp_path: Path) -> None:
    sheet = sheet_from_xlsx(
        tmp_path,
        [
            ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date"],
            [700001, 31001, "BSBWHS411", 20, dt.datetime(2026, 2, 3), dt.datetime(2026, 11, 25)],
            [700002, 31001, "BSBWHS411", "C", dt.datetime(2026, 2, 3, 9, 30), None],
        ],
    )
    validation = validate(sheet, Units())
    row = values_by_line(validation)[2]
    assert (row["contact_id"], row["outcome"], row["start_date"], row["end_date"]) == (
        700001,
        20,
        dt.date(2026, 2, 3),
        dt.date(2026, 11, 25),
    )
    verdict = verdicts_by_line(sheet, validation)[3]
    assert verdict.status == Status.INVALID
    assert "start_date '2026-02-03 09:30:00' has a time of day" in verdict.error


# ---------------------------------------------------------------- duplicates


def test_agreeing_duplicate_is_skipped_naming_the_first_rows_line(tmp_path: Path) -> None:
    sheet, validation = check(
        tmp_path,
        f"Term 4,,,,,\n{UNITS_HEADER}\n"
        "700001,31001,BSBWHS411,C,,\n"
        "700002,31001,BSBWHS411,C,,\n"
        "700001,31001,bsbwhs411,20,,\n",
        Units(),
    )
    verdicts = verdicts_by_line(sheet, validation)
    assert list(verdicts) == [5]
    assert verdicts[5].status == Status.SKIPPED
    assert "duplicate of row 3" in verdicts[5].error
    assert "contact 700001, class 31001, unit BSBWHS411" in verdicts[5].error
    assert "only row 3 is applied" in verdicts[5].error
    assert [row.line for row in validation.rows] == [3, 4]


def test_disagreeing_duplicates_are_all_invalid_naming_each_other(tmp_path: Path) -> None:
    sheet, validation = check(
        tmp_path,
        f"{UNITS_HEADER}\n"
        "700001,31001,BSBWHS411,C,,\n"
        "700002,31001,BSBWHS411,C,,\n"
        "700001,31001,BSBWHS411,CNA,,\n"
        "700001,31001,bsbwhs411,C,,25/11/2026\n",
        Units(),
    )
    verdicts = verdicts_by_line(sheet, validation)
    assert sorted(verdicts) == [2, 4, 5]
    assert all(verdict.status == Status.INVALID for verdict in verdicts.values())
    assert "conflicts with rows 4, 5" in verdicts[2].error
    assert "conflicts with rows 2, 5" in verdicts[4].error
    assert "conflicts with rows 2, 4" in verdicts[5].error
    assert "same contact 700001, class 31001, unit BSBWHS411 but different values; keep one" in verdicts[2].error
    assert [row.line for row in validation.rows] == [3]


def test_same_unit_for_different_students_or_classes_is_not_a_duplicate(tmp_path: Path) -> None:
    _, validation = check(
        tmp_path,
        f"{UNITS_HEADER}\n"
        "700001,31001,BSBWHS411,C,,\n"
        "700002,31001,BSBWHS411,CNA,,\n"
        "700001,31002,BSBWHS411,CNA,,\n"
        "700001,31001,BSBWHS412,CNA,,\n",
        Units(),
    )
    assert validation.verdicts == {}
    assert len(validation.rows) == 4


def test_an_invalid_row_does_not_make_its_twin_a_duplicate(tmp_path: Path) -> None:
    sheet, validation = check(
        tmp_path, f"{UNITS_HEADER}\n700001,31001,BSBWHS411,C,,\n700001,31001,BSBWHS411,XYZ,,\n", Units()
    )
    verdicts = verdicts_by_line(sheet, validation)
    assert list(verdicts) == [3]
    assert "outcome 'XYZ'" in verdicts[3].error
    assert [row.line for row in validation.rows] == [2]


# ---------------------------------------------------------------- modules


@pytest.mark.parametrize(
    ("cell", "access"),
    [
        pytest.param("unlocked", "unlocked", id="unlocked"),
        pytest.param("UNLOCKED", "unlocked", id="UNLOCKED"),
        pytest.param("Locked", "locked", id="Locked"),
        pytest.param(" clear ", "clear", id="clear with spaces"),
        pytest.param("", None, id="blank leaves access alone"),
    ],
)
def test_module_access_words_in_any_case(tmp_path: Path, cell: str, access: str | None) -> None:
    _, validation = check(tmp_path, f"{MODULES_HEADER}\n700001,32001,Module 1,{cell},,25/11/2026\n", Modules())
    assert validation.verdicts == {}
    assert values_by_line(validation)[2]["access"] == access


@pytest.mark.parametrize("cell", ["open", "unlock", "yes", "true"])
def test_unknown_access_word_is_invalid_with_the_words_to_use(tmp_path: Path, cell: str) -> None:
    sheet, validation = check(tmp_path, f"{MODULES_HEADER}\n700001,32001,Module 1,{cell},,\n", Modules())
    verdict = verdicts_by_line(sheet, validation)[2]
    assert verdict.status == Status.INVALID
    assert f"access '{cell}' is not an access word" in verdict.error
    assert "use unlocked, locked or clear" in verdict.error


def test_module_name_with_odd_spacing_is_kept_as_the_same_name(tmp_path: Path) -> None:
    sheet, validation = check(
        tmp_path, f"{MODULES_HEADER},note\n700001,32001,  Module 1  -   Workplace Safety ,UNLOCKED,,,keep\n", Modules()
    )
    assert validation.verdicts == {}
    assert values_by_line(validation)[2]["module_name"] == "Module 1 - Workplace Safety"
    assert sheet.frame["note"].tolist() == ["keep"]


def test_module_rows_differing_only_in_name_spacing_or_case_are_duplicates(tmp_path: Path) -> None:
    sheet, validation = check(
        tmp_path,
        f"{MODULES_HEADER}\n700001,32001,Module 1 - Safety,unlocked,,\n700001,32001, module 1  -  SAFETY ,Unlocked,,\n",
        Modules(),
    )
    verdict = verdicts_by_line(sheet, validation)[3]
    assert verdict.status == Status.SKIPPED
    assert "duplicate of row 2" in verdict.error


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param(
            "700001,32001,,locked,,",
            "module_name and module_enrolment_id are both blank; fill in the module's name",
            id="no module",
        ),
        pytest.param(
            "700001,32001,Module 1,,2026-11-25,03/02/2026",
            "end_date '03/02/2026' is before start_date '2026-11-25'",
            id="end before start",
        ),
        pytest.param(",32001,Module 1,locked,,", "contact_id is blank", id="blank contact_id"),
    ],
)
def test_module_row_rules(tmp_path: Path, row: str, message: str) -> None:
    sheet, validation = check(tmp_path, f"{MODULES_HEADER}\n{row}\n", Modules())
    verdict = verdicts_by_line(sheet, validation)[2]
    assert verdict.status == Status.INVALID
    assert message in verdict.error


# ---------------------------------------------------------------- dates are judged per column


def test_a_date_column_with_a_cell_that_can_only_be_month_first_stops_the_sheet(tmp_path: Path) -> None:
    sheet = sheet_from_csv(
        tmp_path,
        "Contact ID,Class ID,Unit Code,Outcome,Start Date,Finish Date\n"
        "700001,31001,BSBWHS411,C,,03/05/2026\n"
        "700002,31001,BSBWHS411,C,,04/10/2026\n"
        "700003,31001,BSBWHS411,C,,06/11/2026\n"
        "700004,31001,BSBWHS411,C,,11/30/2026\n",
    )
    with pytest.raises(InputError) as caught:
        validate(sheet, Units())
    message = str(caught.value)
    assert message == (
        "outcomes.csv: end_date ('Finish Date') is written month first: row 5 '11/30/2026' can only be "
        "30 November 2026, so row 2 '03/05/2026' means 5 March 2026, not 3 May 2026 as day first; nothing was "
        "sent: write the column day first (30/11/2026) or as YYYY-MM-DD (2026-11-30), or as real date cells"
    )


def test_a_column_mixing_day_first_and_month_first_cells_stops_the_sheet(tmp_path: Path) -> None:
    sheet = sheet_from_csv(
        tmp_path,
        f"{UNITS_HEADER}\n700001,31001,BSBWHS411,C,25/12/2026,\n700002,31001,BSBWHS411,C,12/26/2026,\n",
    )
    with pytest.raises(
        InputError,
        match=r"start_date is written month first: row 3 '12/26/2026'.*"
        r"row 2 '25/12/2026' is day first: the column mixes both",
    ):
        validate(sheet, Units())


def test_every_month_first_column_is_named(tmp_path: Path) -> None:
    sheet = sheet_from_csv(tmp_path, f"{MODULES_HEADER}\n700001,32001,Module 1,,02/13/2026,02/27/2026\n")
    with pytest.raises(InputError, match=r"start_date is written month first \(end_date too\): row 2"):
        validate(sheet, Modules())


def test_a_column_whose_dates_could_be_either_way_is_read_day_first(tmp_path: Path) -> None:
    _, validation = check(
        tmp_path,
        f"{UNITS_HEADER}\n700001,31001,BSBWHS411,C,,03/05/2026\n700002,31001,BSBWHS411,C,13/04/2026,04/10/2026\n",
        Units(),
    )
    values = values_by_line(validation)
    assert values[2]["end_date"] == dt.date(2026, 5, 3)
    assert values[3]["end_date"] == dt.date(2026, 10, 4)


def test_the_rule_is_per_column(tmp_path: Path) -> None:
    sheet = sheet_from_csv(tmp_path, f"{UNITS_HEADER}\n700001,31001,BSBWHS411,C,03/05/2026,11/30/2026\n")
    with pytest.raises(InputError, match="end_date is written month first: row 2 '11/30/2026'") as caught:
        validate(sheet, Units())
    assert "start_date" not in str(caught.value).split(":")[1]


def test_real_date_cells_are_never_ambiguous(tmp_path: Path) -> None:
    sheet = sheet_from_xlsx(
        tmp_path,
        [
            ["contact_id", "class_id", "unit_code", "outcome", "end_date"],
            [700001, 31001, "BSBWHS411", "C", dt.datetime(2026, 3, 5)],
            [700002, 31001, "BSBWHS411", "C", dt.datetime(2026, 11, 30)],
        ],
    )
    validation = validate(sheet, Units())
    assert validation.verdicts == {}
    assert [row["end_date"] for row in validation.rows] == [dt.date(2026, 3, 5), dt.date(2026, 11, 30)]
