"""Header and date mistakes staff really make, through the real CLI against a fresh sandbox each.

Every case ends in one line and the right exit code, never a traceback, and reaches aXcelerate with no write
the sheet did not mean: a sheet that stops sends nothing at all (not even a lookup), a sheet that runs sends
exactly the writes listed, carrying exactly the values listed. The rows are real rows of the sandbox's fresh
seed (samples/unit-outcomes.csv, samples/module-enrolments.csv), so a value that slipped through would be
sent and seen here. In-process (click's CliRunner): a subprocess would add only start-up time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pytest

from batchupdate.results import default_results_path
from batchupdate.sandbox import RunningSandbox
from tests.fakes import Ran, invoke_cli, read_results, write_csv

# Real rows of the fresh seed: (contact, class, unit); each needs a change there.
R1, R2, R3, R4 = (
    ("700001", "31001", "BSBTWK401"),
    ("700002", "31001", "BSBTWK401"),
    ("700003", "31001", "BSBWHS411"),
    ("700004", "31001", "BSBTEC404"),
)
M1 = ("700175", "32001", "Module 2 - Customer Service")
M2 = ("700187", "32002", "Module 1 - Introduction to Service")
UNITS = ["Contact ID", "Class ID", "Unit Code"]


@dataclass(frozen=True)
class Case:
    """One mistake sheet (or its fix) and what a user must see."""

    header: Sequence[str]
    rows: Sequence[Sequence[object]]
    exit: int
    args: Sequence[str] = ()
    error: Sequence[str] = ()  # exit 2: fragments of the one error line on stderr
    shown: Sequence[str] = ()  # fragments of stdout
    sent: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # contact -> fields of its one PUT
    invalid: Mapping[int, str] = field(default_factory=dict)  # sheet row -> fragment of its error (never sent)
    xlsx: bool = False


def stops(header: Sequence[str], rows: Sequence[Sequence[object]], *error: str, args: Sequence[str] = ()) -> Case:
    return Case(header, rows, 2, args=args, error=error)


def runs(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    sent: Mapping[str, Mapping[str, str]],
    *shown: str,
    args: Sequence[str] = (),
    xlsx: bool = False,
) -> Case:
    return Case(header, rows, 0, args=args, shown=shown, sent=sent, xlsx=xlsx)


AXCELERATE_API_EXPORT = [
    "CONTACTID",
    "INSTANCEID",
    "GIVENNAME",
    "SURNAME",
    "EMAIL",
    "CODE",
    "NAME",
    "STATUS",
    "OUTCOMECODE",
    "STARTDATE",
    "FINISHDATE",
]
API_EXPORT_ROW = [
    *R1[:2],
    "Ava",
    "Nguyen",
    "ava@example.com",
    R1[2],
    "Organise",
    "C",
    "20",
    "2026-02-02 00:00",
    "2026-03-05 00:00",
]
# The headers of aXcelerate's "Qualification Enrolments and Outcomes" report (its API reference's sample), with
# the unit columns a trainer adds.
QUALIFICATION_REPORT = [
    "Qualification Name",
    "Organisation",
    "Class Descriptor",
    "Trainer Full Name",
    "Actual Completion Date",
    "Full Name",
    "Commencement Date",
    "USI",
    "Qualification Code",
    "Enrolment Date",
    "Expected Completion Date",
    "Contact ID",
    "Class ID",
    "Unit Code",
    "Outcome",
]
QUALIFICATION_ROW = [
    "Certificate I in Business",
    "VM Learning",
    "# W OUT DATES",
    "",
    "",
    "Ava Nguyen",
    "2026-02-02",
    "",
    "BSB10112",
    "2026-02-02",
    "2026-11-30",
    *R1,
    "C",
]
# The learningModuleEnrolments report's view fields by display name, with the access column staff add.
MODULE_REPORT = [
    "Contact ID",
    "Full Name",
    "Module Enrolment ID",
    "Module Name",
    "Status",
    "Start Date",
    "End Date",
    "Commencement Date",
    "Completion Date",
    "Class ID",
    "Class Descriptor",
    "Enrol ID",
    "Date Enrolled",
    "Learning Plan Name",
    "Access",
]
MODULE_ROW = [
    M1[0],
    "Zoe Park",
    "",
    M1[2],
    "In Progress",
    "2026-03-16",
    "2026-03-30",
    "2026-03-16",
    "",
    M1[1],
    "S1",
    "",
    "2026-02-01",
    "Service plan",
    "unlocked",
]
MODULE_MAPS = ["--map", "Status=note", "--map", "Commencement Date=note", "--map", "Completion Date=note"]
US_END_DATES = [[*R1, "C", "03/05/2026"], [*R2, "C", "04/10/2026"], [*R3, "C", "06/11/2026"], [*R4, "C", "11/30/2026"]]


def units(*extra: str) -> list[str]:
    return [*UNITS, *extra]


CASES: dict[str, Case] = {
    # ---- the cases: the outcome under the names people use is applied, and said so
    "outcome code header": runs(
        units("Outcome Code", "Start Date", "End Date"),
        [[*R1, "C", "", "05/03/2026"], [*R2, "cna", "2026-03-16", "2026-04-27"]],
        {"700001": {"competent": "20", "activityenddate": "2026-03-05"}, "700002": {"competent": "30"}},
        "Columns: contact_id, class_id, unit_code, outcome <- 'Outcome Code', start_date, end_date",
    ),
    "result header": runs(
        units("Result", "Start Date", "End Date"),
        [[*R1, "C", "", "05/03/2026"]],
        {"700001": {"competent": "20", "activityenddate": "2026-03-05"}},
        "outcome <- 'Result'",
    ),
    "competency, finish date and activity start date": runs(
        units("Competency", "Activity Start Date", "Finish Date"),
        [[*R3, "RPL-G", "2026-02-23", "2026-03-30"]],
        {"700003": {"competent": "51", "activitystartdate": "2026-02-23", "activityenddate": "2026-03-30"}},
        "outcome <- 'Competency', start_date <- 'Activity Start Date', end_date <- 'Finish Date'",
    ),
    "notes by design are kept and listed": runs(
        units("Outcome", "student_name", "class_name", "unit_name", "Email", "Given Name", "trainer_note"),
        [[*R1, "C", "Ava Nguyen", "Cert IV", "Organise", "ava@example.com", "Ava", "ok"]],
        {"700001": {"competent": "20"}},
        "kept as notes: student_name, class_name, unit_name, Email, Given Name, trainer_note",
    ),
    # ---- headers from aXcelerate's own exports
    "api listing export asks about CODE and STATUS": stops(
        AXCELERATE_API_EXPORT,
        [API_EXPORT_ROW],
        "2 headers look like columns",
        "'CODE' looks like unit_code",
        "'STATUS' has the name of a column batchupdate adds to its results (it could be outcome)",
    ),
    "api listing export, mapped": runs(
        AXCELERATE_API_EXPORT,
        [API_EXPORT_ROW],
        {"700001": {"competent": "20", "activitystartdate": "2026-02-02", "activityenddate": "2026-03-05"}},
        "unit_code <- 'CODE', outcome <- 'OUTCOMECODE'",
        "kept as notes: GIVENNAME, SURNAME, EMAIL, NAME, STATUS",
        args=["--map", "CODE=unit_code", "--map", "STATUS=note"],
    ),
    "qualification report export asks about its dates": stops(
        QUALIFICATION_REPORT,
        [QUALIFICATION_ROW],
        "3 headers look like columns",
        "'Actual Completion Date' looks like end_date",
        "'Commencement Date' looks like start_date",
        "'Expected Completion Date' looks like end_date",
    ),
    "module report export asks about Status and its other dates": stops(
        MODULE_REPORT,
        [MODULE_ROW],
        "'Status' has the name of a column batchupdate adds to its results",
        "'Commencement Date' looks like start_date",
        "'Completion Date' looks like end_date",
    ),
    "module report export, mapped": runs(
        MODULE_REPORT,
        [MODULE_ROW],
        # Already unlocked in the seed, so only the dates go out.
        {"700175": {"startdate": "2026-03-16", "enddate": "2026-03-30", "accessoverride": None}},  # type: ignore[dict-item]
        "kept as notes: Full Name, Status, Commencement Date, Completion Date, Class Descriptor, Enrol ID, "
        "Date Enrolled, Learning Plan Name",
        args=MODULE_MAPS,
    ),
    # ---- look-alikes stop the sheet; --map settles them
    "Date alone": stops(
        units("Outcome", "Date"),
        [[*R1, "C", "05/03/2026"]],
        "'Date' could be start_date or end_date",
        '--map "Date=start_date" or --map "Date=end_date"',
        '--map "Date=note"',
    ),
    "Date, mapped": runs(
        units("Outcome", "Date"),
        [[*R1, "C", "05/03/2026"]],
        {"700001": {"competent": "20", "activityenddate": "2026-03-05"}},
        "end_date <- 'Date'",
        args=["--map", "Date=end_date"],
    ),
    "Grade": stops(units("Grade"), [[*R1, "C"]], "header 'Grade' looks like outcome", '--map "Grade=outcome"'),
    "Grade, mapped": runs(
        units("Grade"),
        [[*R1, "C"]],
        {"700001": {"competent": "20"}},
        "outcome <- 'Grade'",
        args=["--map", "Grade=outcome"],
    ),
    "misspelt outcome": stops(units("Outcme", "End Date"), [[*R1, "C", "05/03/2026"]], "'Outcme' looks like outcome"),
    "outcome comment with no outcome": stops(
        units("Outcome Comment", "End Date"), [[*R1, "C", "05/03/2026"]], "'Outcome Comment' looks like outcome"
    ),
    "proposed end date is another field": stops(
        units("Outcome", "Proposed End Date"), [[*R1, "C", "30/11/2026"]], "'Proposed End Date' looks like end_date"
    ),
    "proposed end date kept as a note": runs(
        units("Outcome", "Proposed End Date"),
        [[*R1, "C", "30/11/2026"]],
        {"700001": {"competent": "20", "activityenddate": None}},  # type: ignore[dict-item]
        "kept as notes: Proposed End Date",
        args=["--map", "Proposed End Date=note"],
    ),
    "outcome and result both": stops(
        units("Outcome", "Result"), [[*R1, "C", "C"]], "'Outcome', 'Result' all mean outcome"
    ),
    "an access column in a units sheet": stops(
        units("Outcome", "access"),
        [[*R1, "C", "unlocked"]],
        "'access' is a column of modules sheets",
        args=["--kind", "units"],
    ),
    "map names a header the sheet lacks": stops(
        units("Outcome"), [[*R1, "C"]], "has no header 'Reslt'", args=["--map", "Reslt=outcome"]
    ),
    "map names no column": stops(
        units("Result"), [[*R1, "C"]], "'score' is not a column", args=["--map", "Result=score"]
    ),
    # ---- dates are judged per column
    "US end dates (the issue's column)": stops(
        units("Outcome", "End Date"),
        US_END_DATES,
        "end_date is written month first: row 5 '11/30/2026' can only be 30 November 2026",
        "row 2 '03/05/2026' means 5 March 2026, not 3 May 2026",
        "(30/11/2026) or as YYYY-MM-DD (2026-11-30)",
    ),
    "US start date in a modules sheet": stops(
        ["contact_id", "class_id", "module_name", "access", "start_date", "end_date"],
        [[*M1, "unlocked", "2026-03-16", "2026-03-30"], [*M2, "unlocked", "05/18/2026", ""]],
        "start_date is written month first: row 3 '05/18/2026' can only be 18 May 2026",
    ),
    "a column mixing both ways": stops(
        units("Outcome", "Start Date"),
        [[*R1, "C", "25/12/2026"], [*R2, "C", "12/26/2026"]],
        "row 3 '12/26/2026'",
        "row 2 '25/12/2026' is day first: the column mixes both",
    ),
    "US dates under an alias": stops(
        units("Result", "Finish Date"), [[*R1, "C", "02/13/2026"]], "end_date ('Finish Date') is written month first"
    ),
    "ambiguous dates alone are day first": runs(
        units("Outcome", "End Date"),
        US_END_DATES[:3],
        {
            "700001": {"activityenddate": "2026-05-03"},
            "700002": {"activityenddate": "2026-10-04"},
            "700003": {"activityenddate": "2026-11-06"},
        },
    ),
    "real date cells are never ambiguous": runs(
        units("Outcome", "End Date"),
        [[*R1, "C", dt.datetime(2026, 3, 5)], [*R2, "C", dt.datetime(2026, 11, 30)]],
        {"700001": {"activityenddate": "2026-03-05"}, "700002": {"activityenddate": "2026-11-30"}},
        xlsx=True,
    ),
    "a US text date among real date cells": Case(
        units("Outcome", "End Date"),
        [[*R1, "C", dt.datetime(2026, 3, 5)], [*R2, "C", "11/30/2026"]],
        2,
        error=("end_date is written month first: row 3 '11/30/2026'",),
        xlsx=True,
    ),
    # ---- digits other than 0-9 (issue 15): the row is invalid and never sent, the others go on
    "fullwidth contact id": Case(
        units("Outcome"),
        [["\uff17\uff10\uff10\uff10\uff10\uff11", *R1[1:], "C"], [*R2, "C"]],
        1,
        sent={"700002": {"competent": "20"}},
        invalid={2: "contact_id '\uff17\uff10\uff10\uff10\uff10\uff11' has digits other than 0-9"},
    ),
    "Arabic-Indic date and outcome": Case(
        units("Outcome", "End Date"),
        [[*R1, "\u0662\u0660", ""], [*R2, "C", "\u0660\u0665/03/2026"], [*R3, "C", "05/03/2026"]],
        1,
        sent={"700003": {"competent": "20", "activityenddate": "2026-03-05"}},
        invalid={
            2: "outcome '\u0662\u0660' has digits other than 0-9",
            3: "end_date '\u0660\u0665/03/2026' has digits",
        },
    ),
}


def write_sheet(path: Path, case: Case) -> Path:
    if not case.xlsx:
        return write_csv(path.with_suffix(".csv"), list(case.header), [list(row) for row in case.rows])
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(case.header))
    for row in case.rows:
        sheet.append(list(row))
    book.save(path.with_suffix(".xlsx"))
    return path.with_suffix(".xlsx")


def run_cli(folder: Path, sandbox: RunningSandbox, *args: str, monkeypatch: pytest.MonkeyPatch) -> Ran:
    """`batchupdate ARGS` in ``folder`` against the sandbox, as a user would type it."""
    monkeypatch.chdir(folder)
    return invoke_cli(args, folder, sandbox.url)


def puts(sandbox: RunningSandbox) -> list[dict[str, str]]:
    return [fields for method, _, fields in sandbox.stats.log if method == "PUT"]


@pytest.mark.parametrize("name", list(CASES))
def test_a_header_or_date_mistake_stops_or_runs_exactly_as_meant(
    name: str, tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    sheet = write_sheet(tmp_path / "sheet", case)

    result = run_cli(
        tmp_path, sandbox, "run", str(sheet), "--no-progress", "--rate", "1000", *case.args, monkeypatch=monkeypatch
    )

    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.output, shown  # an exception let through shows as one
    assert result.returncode == case.exit, shown
    if case.exit == 2:
        assert sandbox.stats.log == [], shown  # stopped before anything, not even a lookup, was sent
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), shown
        for fragment in case.error:
            assert fragment in lines[0], (fragment, shown)
        assert not default_results_path(sheet).exists()
        return
    for fragment in case.shown:
        assert fragment in result.stdout, (fragment, shown)
    sent = puts(sandbox)
    assert sorted(fields["contactid"] for fields in sent) == sorted(case.sent), shown  # no write it did not mean
    for contact, wanted in case.sent.items():
        (fields,) = [fields for fields in sent if fields["contactid"] == contact]
        assert {key: fields.get(key) for key in wanted} == dict(wanted), (contact, fields)
    results = {int(line["row"]): line for line in read_results(default_results_path(sheet))}
    assert len(results) == len(case.rows)
    for line, fragment in case.invalid.items():
        assert results[line]["status"] == "invalid" and fragment in results[line]["error"], results[line]
    assert all(line["status"] == "updated" for number, line in results.items() if number not in case.invalid)


def test_the_corpus_covers_at_least_fifteen_mistakes() -> None:
    assert sum(case.exit != 0 for case in CASES.values()) >= 15


def test_a_results_file_fed_back_in_maps_the_same_way(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = write_csv(tmp_path / "term4.csv", units("Result", "Finish Date", "Grade"), [[*R1, "C", "05/03/2026", "A"]])
    first = run_cli(tmp_path, sandbox, "run", str(sheet), "--map", "Grade=note", monkeypatch=monkeypatch)
    assert first.returncode == 0, first.output
    results = tmp_path / "term4.results.csv"
    assert list(read_results(results)[0])[:6] == [
        "Contact ID",
        "Class ID",
        "Unit Code",
        "Result",
        "Finish Date",
        "Grade",
    ]

    again = run_cli(tmp_path, sandbox, "run", str(results), "--map", "Grade=note", monkeypatch=monkeypatch)
    assert again.returncode == 0, again.output
    assert "outcome <- 'Result', end_date <- 'Finish Date'; kept as notes: Grade" in again.stdout
    assert "unchanged          1" in again.stdout
    assert len(puts(sandbox)) == 1  # the first run's write only

    unmapped = run_cli(tmp_path, sandbox, "plan", str(results), monkeypatch=monkeypatch)
    assert unmapped.returncode == 2
    assert "'Grade' looks like outcome" in unmapped.stderr


def test_undo_reads_the_ids_of_an_aliased_sheet(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sandbox.store.snapshot()
    sheet = write_csv(tmp_path / "term4.csv", ["ContactID", "Instance ID", "Subject Code", "Result"], [[*R1, "C"]])
    assert run_cli(tmp_path, sandbox, "run", str(sheet), monkeypatch=monkeypatch).returncode == 0
    assert sandbox.store.snapshot() != before

    made = run_cli(tmp_path, sandbox, "undo", str(tmp_path / "term4.results.csv"), monkeypatch=monkeypatch)
    assert made.returncode == 0, made.output
    undone = run_cli(tmp_path, sandbox, "run", str(tmp_path / "term4.results.undo.csv"), monkeypatch=monkeypatch)

    assert undone.returncode == 0, undone.output
    assert sandbox.store.snapshot() == before
