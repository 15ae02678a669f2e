"""Workbooks we write: fill-in workbooks (template, export) and results workbooks, read back by our own reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from batchupdate.kinds import known_headers
from batchupdate.results import ResultsWriter, RowResult, read_results
from batchupdate.sandbox import RunningSandbox
from batchupdate.sheet import read_sheet, worksheets
from batchupdate.status import Status
from batchupdate.templates import write_template
from batchupdate.workbook import INSTRUCTIONS, FillIn, outcome_value, write_workbook
from tests.fakes import known
from tests.fakes import read_results as read_results_workbook

UNIT_HEADERS = ["contact_id", "student_name", "class_id", "class_name", "unit_code", "unit_name"]
UNIT_HEADERS += ["outcome", "start_date", "end_date"]


def validations(sheet: object) -> dict[str, object]:
    """Each data validation by the first cell range it covers."""
    return {str(check.sqref).split(":")[0]: check for check in sheet.data_validations.dataValidation}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "shown"),
    [(20, "C"), ("30", "CNA"), (81, "81"), (82, "82"), (25, "25"), (85, "NYS"), (7, "7"), (None, ""), ("", "")],
)
def test_an_outcome_is_shown_as_its_short_code_unless_that_is_ambiguous(code: object, shown: str) -> None:
    assert outcome_value(code) == shown  # type: ignore[arg-type]


def test_the_xlsx_template_has_drop_downs_date_validation_and_instructions(tmp_path: Path) -> None:
    path = tmp_path / "units.xlsx"
    write_template("units", path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["units", INSTRUCTIONS]
    data = book["units"]
    assert [cell.value for cell in data[1]] == [
        "contact_id",
        "class_id",
        "unit_code",
        "outcome",
        "start_date",
        "end_date",
    ]
    assert data.freeze_panes == "A2"
    checks = validations(data)
    outcome = checks["D2"]
    assert outcome.type == "list" and outcome.formula1.startswith("Instructions!$A$")  # type: ignore[attr-defined]
    listed = [row[0].value for row in book[INSTRUCTIONS][outcome.formula1.split("!")[1].replace("$", "")]]  # type: ignore[attr-defined]
    assert {"C", "CNA", "RPL-G", "CT", "CA", "NYS", "81", "82"} <= set(listed)
    assert "NAS" not in listed  # ambiguous: 81 or 82
    for column in ("E2", "F2"):
        assert checks[column].type == "date"  # type: ignore[attr-defined]
        assert data[column].number_format == "DD/MM/YYYY"
    assert not data.protection.sheet  # a template is typed into everywhere
    instructions = " ".join(str(row[0].value) for row in book[INSTRUCTIONS].iter_rows() if row[0].value)
    assert "batchupdate run" in instructions and "DD/MM/YYYY" in instructions


def test_the_modules_template_offers_the_access_words(tmp_path: Path) -> None:
    path = tmp_path / "modules.xlsx"
    write_template("modules", path)
    checks = validations(openpyxl.load_workbook(path)["modules"])
    assert checks["D2"].formula1 == '"unlocked,locked,clear"'  # type: ignore[attr-defined]


def test_a_template_filled_in_reads_back_through_our_reader(tmp_path: Path) -> None:
    path = tmp_path / "units.xlsx"
    write_template("units", path)
    book = openpyxl.load_workbook(path)
    book["units"].append([700001, 31001, "BSBWHS411", "C", dt.datetime(2026, 2, 3), None])
    book.save(path)
    sheet = read_sheet(path, known_headers=known_headers())
    assert sheet.frame.to_numpy().tolist() == [[700001, 31001, "BSBWHS411", "C", dt.datetime(2026, 2, 3), None]]
    assert sheet.source == "xlsx sheet 'units', picked by its header row over 'Instructions'"


def export_like(path: Path) -> None:
    rows: list[list[object]] = [
        [700001, "Zoë O’Brien", 31001, "Cert III", "BSBWHS411", "Implement WHS", "C", dt.date(2026, 2, 3), None],
        [700002, "=cmd|' /C calc'!A0", 31001, "Cert III", "BSBWHS411", "Implement WHS", "", None, None],
    ]
    write_workbook(FillIn("units", UNIT_HEADERS, rows, protect=True), path)


def test_an_export_workbook_locks_the_given_columns_and_leaves_the_values_to_type(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    export_like(path)
    sheet = openpyxl.load_workbook(path)["units"]
    assert sheet.protection.sheet
    by_header = {cell.value: cell.column_letter for cell in sheet[1]}
    for header in ("contact_id", "student_name", "class_id", "class_name", "unit_code", "unit_name"):
        cell = sheet[f"{by_header[header]}2"]
        assert cell.protection.locked and cell.fill.fgColor.rgb.endswith("E7E6E6"), header
    for header in ("outcome", "start_date", "end_date"):
        assert not sheet[f"{by_header[header]}2"].protection.locked, header
    assert sheet["H2"].value == dt.datetime(2026, 2, 3) and sheet["H2"].number_format == "DD/MM/YYYY"
    assert sheet["B3"].data_type == "s"  # a name that looks like a formula stays text
    assert sheet.column_dimensions["F"].width >= len("Implement WHS")


def test_an_export_workbook_reads_back_with_names_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    export_like(path)
    assert [(found.name, found.fits) for found in worksheets(path)] == [("units", True), (INSTRUCTIONS, False)]
    sheet = read_sheet(path, known_headers=known_headers())
    assert sheet.headers == tuple(UNIT_HEADERS)
    assert sheet.frame.to_numpy().tolist()[1][:2] == [700002, "=cmd|' /C calc'!A0"]
    assert sheet.frame.iloc[0]["start_date"] == dt.datetime(2026, 2, 3)


def write_results(path: Path) -> None:
    writer = ResultsWriter(path, ["contact_id", "note"], ["before_outcome"])
    lines = [
        (RowResult(0, 2, Status.UPDATED, found={"before_outcome": "30"}), ["700001", "=SUM(A1)"]),
        (RowResult(1, 3, Status.FAILED, "not enrolled"), ["700002", "bell\x07 and tab\t"]),
        (RowResult(2, 4, Status.UNCHANGED), ["700003", "+61 400 000 000"]),
        (RowResult(3, 5, Status.UNCHANGED), ["700004", "'=quoted"]),
    ]
    for result, cells in reversed(lines):  # rows finish in any order; the file is in input order
        writer.add(result, cells)
    writer.finish()


def test_a_results_workbook_is_text_in_input_order_with_status_colours(tmp_path: Path) -> None:
    path = tmp_path / "term4.results.xlsx"
    write_results(path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["results"]
    sheet = book["results"]
    assert sheet.freeze_panes == "A2"
    assert [cell.value for cell in sheet[1]] == [
        "contact_id",
        "note",
        "row",
        "status",
        "error",
        "changes",
        "before_outcome",
    ]
    assert [sheet.cell(row=n, column=4).value for n in (2, 3, 4, 5)] == ["updated", "failed", "unchanged", "unchanged"]
    assert all(cell.data_type == "s" for row in sheet.iter_rows(min_row=2) for cell in row if cell.value is not None)
    assert sheet["D2"].fill.fgColor.rgb.endswith("C6EFCE") and sheet["D3"].fill.fgColor.rgb.endswith("FFC7CE")
    assert [sheet["B2"].value, sheet["B4"].value] == ["=SUM(A1)", "+61 400 000 000"]  # text as typed, no guard


def test_the_one_results_reader_reads_a_results_workbook_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "term4.results.xlsx"
    write_results(path)
    results = read_results(path)
    lines = list(results.lines())
    assert [(line.line, line.status, line.error) for line in lines] == [
        (2, "updated", ""),
        (3, "failed", "not enrolled"),
        (4, "unchanged", ""),
        (5, "unchanged", ""),
    ]
    assert [line.inputs for line in lines] == [
        ("700001", "=SUM(A1)"),
        ("700002", "bell\x07 and tab\t"),
        ("700003", "+61 400 000 000"),
        ("700004", "'=quoted"),
    ]
    assert lines[0].found == {"beforeoutcome": "30"}
    failed = results.input_sheet(frozenset({"failed"}))
    assert failed.lines == (3,) and failed.frame.to_numpy().tolist() == [["700002", "bell\x07 and tab\t"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["template", "units", "u.ods"], "u.ods: a template is written as .csv or .xlsx, not as a .ods file"),
        (["check", "s.csv", "--results", "r.xlsx"], None),  # check writes no results: the name does not matter
        (["plan", "s.csv", "--sandbox", "--results", "r.ods"], "--results r.ods: results are written as .csv or .xlsx"),
        (["run", "s.csv", "--sandbox", "--results", "r"], "not as a file without an extension"),
    ],
)
def test_unknown_extensions_are_refused_in_one_line(cli, args: list[str], message: str | None, tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("contact_id,class_id,unit_code,outcome\n700001,31001,BSBWHS411,C\n")
    result = cli(*args)
    if message is None:
        assert result.returncode == 0, result.stdout + result.stderr
        return
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Target:" not in result.stdout, "refused before a sandbox was started"
    assert not (tmp_path / "u.ods").exists() and not (tmp_path / "r.ods").exists()


def test_only_failed_and_undo_work_from_a_results_workbook(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    store = sandbox.store
    enrolments = store.program_enrolments(contact_id=None, class_id=31002, program_id=None, offset=0, limit=1000)
    unit = next(u for u in store.unit_enrolments_of([e.enrol_id for e in enrolments]) if u.outcome_code != "30")
    (tmp_path / "term4.csv").write_text(
        "contact_id,class_id,unit_code,outcome\n"
        f"{unit.contact_id},31002,{unit.unit_code},CNA\n"
        f"{unit.contact_id},31002,ZZZ999,C\n"  # no such unit: failed
    )
    first = cli("run", "term4.csv", "--results", "term4.results.xlsx", url=sandbox.url)
    assert first.returncode == 1, first.output
    assert known(store.unit_enrolment(unit.contact_id, 31002, unit.unit_id))["outcome_code"] == "30"

    again = cli("run", "term4.results.xlsx", "--only", "failed", url=sandbox.url)
    assert again.returncode == 1, again.output
    rerun = read_results_workbook(tmp_path / "term4.results.results.xlsx")
    assert [(line["row"], line["status"]) for line in rerun] == [("3", "failed")]  # the original line, kept

    undone = cli("undo", "term4.results.xlsx")
    assert undone.returncode == 0, undone.output
    applied = cli("run", "term4.results.undo.csv", url=sandbox.url)
    assert applied.returncode == 0, applied.output
    assert known(store.unit_enrolment(unit.contact_id, 31002, unit.unit_id))["outcome_code"] == unit.outcome_code
