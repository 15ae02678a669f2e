"""`batchupdate export`: a class's enrolments out as a fill-in workbook, edited as Excel would, and run back in.

Every test drives the real CLI (in-process) against the real sandbox over loopback; the round trips run under
every reading the sandbox plays of what the API reference leaves open.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from batchupdate.kinds.outcomes import short_code
from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, RunningSandbox
from batchupdate.sandbox.settings import READINGS
from tests.fakes import Ran, invoke_cli, read_results

UNIT_HEADERS = ["contact_id", "student_name", "class_id", "class_name", "unit_code", "unit_name"]
UNIT_HEADERS += ["outcome", "start_date", "end_date"]
MODULE_HEADERS = ["contact_id", "student_name", "class_id", "class_name", "module_name", "access"]
MODULE_HEADERS += ["current_access", "start_date", "end_date"]


def invoke(sandbox: RunningSandbox, *args: str) -> Ran:
    """`batchupdate ARGS` in the working folder against the sandbox, as a user would type it."""
    extra = ["--no-progress"] if args[0] in ("check", "plan", "run") else []
    return invoke_cli([*args, *extra], Path.cwd(), sandbox.url)


@pytest.fixture
def run_cli(sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`batchupdate ARGS` in tmp_path against the (fastest-reading) sandbox."""
    monkeypatch.chdir(tmp_path)
    return lambda *args: invoke(sandbox, *args)


@pytest.fixture(params=list(READINGS))
def under_reading(request: pytest.FixtureRequest, start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(sandbox, run_cli) with the sandbox playing one reading of what the API reference leaves open."""
    monkeypatch.chdir(tmp_path)
    sandbox = start(**READINGS[request.param])
    return sandbox, lambda *args: invoke(sandbox, *args), request.param


def modules_unreadable(reading: str) -> bool:
    """Whether this reading caps the module report without paging: a learning-plan class then cannot be read
    whole (its students are not listed to ask one by one), and the export must stop rather than leave some out."""
    knobs = READINGS[reading]
    return knobs.get("report_row_cap") is not None and not knobs.get("report_paging")


def assert_stops_without_a_file(result: Ran, path: Path) -> None:
    assert result.returncode == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not read class 32001's modules completely" in lines[0], result.stderr
    assert not path.exists()


def requests(sandbox: RunningSandbox) -> list[tuple[str, str, dict[str, str]]]:
    """What reached the sandbox since the last call, and forget it."""
    log = list(sandbox.stats.log)
    sandbox.stats.log.clear()
    return log


def data_rows(path: Path) -> list[dict[str, object]]:
    sheet = openpyxl.load_workbook(path)[openpyxl.load_workbook(path).sheetnames[0]]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_export_units_lists_every_student_and_unit_with_names_and_short_codes(
    run_cli, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    result = run_cli("export", "units", "--class", "31002")

    assert result.returncode == 0, result.output
    path = tmp_path / f"units-31002-{dt.date.today().isoformat()}.xlsx"
    assert f"Wrote {path.name}" in result.output
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["units", "Instructions"]
    rows = data_rows(path)
    store = sandbox.store
    held = store.unit_enrolments_of(
        [
            e.enrol_id
            for e in store.program_enrolments(contact_id=None, class_id=31002, program_id=None, offset=0, limit=1000)
        ]
    )
    assert len(rows) == len(held) > 20
    assert list(rows[0]) == UNIT_HEADERS
    assert all(row["student_name"] and row["class_name"] and row["unit_name"] for row in rows)
    by_unit = {(row["contact_id"], row["unit_code"]): row for row in rows}
    for unit in held:
        row = by_unit[(unit.contact_id, unit.unit_code)]
        code = unit.outcome_code
        ambiguous = code in ("81", "82", "25", "65")  # NAS, C-GAP: two numbers each
        assert row["outcome"] == ((code if ambiguous else short_code(code) or code) if code else None), code
        assert row["start_date"] == (dt.datetime.fromisoformat(unit.start_date) if unit.start_date else None)


def test_an_export_costs_the_lookups_a_run_of_its_rows_would(run_cli, sandbox: RunningSandbox, tmp_path: Path) -> None:
    requests(sandbox)
    exported = run_cli("export", "units", "--class", "31001", "--class", "31002", "-o", "both.xlsx")
    assert exported.returncode == 0, exported.output
    export_requests = sorted((method, path) for method, path, _ in requests(sandbox))
    ran = run_cli("run", "both.xlsx")
    assert ran.returncode == 0, ran.output
    run_requests = sorted((method, path) for method, path, _ in requests(sandbox))
    # 31001 holds 130 students: two pages of its listing; 31002 one.
    assert export_requests == run_requests == [("GET", "/course/enrolments")] * 3


def test_an_untouched_export_sends_no_write_and_every_row_is_unchanged(under_reading, tmp_path: Path) -> None:
    sandbox, run_cli, reading = under_reading
    for kind, class_id in (("units", "31002"), ("modules", "32001")):
        exported = run_cli("export", kind, "--class", class_id, "-o", f"{kind}.xlsx")
        if kind == "modules" and modules_unreadable(reading):
            assert_stops_without_a_file(exported, tmp_path / f"{kind}.xlsx")
            continue
        assert exported.returncode == 0, exported.output
        before = sandbox.store.snapshot()
        requests(sandbox)

        result = run_cli("run", f"{kind}.xlsx")

        assert result.returncode == 0, result.output
        assert [method for method, _, _ in requests(sandbox) if method == "PUT"] == []
        assert sandbox.store.snapshot() == before
        statuses = {line["status"] for line in read_results(tmp_path / f"{kind}.results.xlsx")}
        assert statuses == {"unchanged"}, kind


def test_edited_cells_and_only_those_are_written(under_reading, tmp_path: Path) -> None:
    sandbox, run_cli, _ = under_reading
    assert run_cli("export", "units", "--class", "31002", "-o", "term4.xlsx").returncode == 0
    book = openpyxl.load_workbook(tmp_path / "term4.xlsx")
    sheet = book["units"]
    column = {cell.value: cell.column for cell in sheet[1]}
    rows = list(sheet.iter_rows(min_row=2))
    to_pass = next(row for row in rows if row[column["outcome"] - 1].value != "C")
    to_date = next(row for row in rows if row is not to_pass and row[column["end_date"] - 1].value is None)
    to_pass[column["outcome"] - 1].value = "C"  # picked from the drop-down
    to_date[column["end_date"] - 1].value = dt.datetime(2026, 11, 28)  # typed as 28/11/2026: a date cell
    book.save(tmp_path / "term4.xlsx")
    edited = {(row[0].value, row[column["unit_code"] - 1].value) for row in (to_pass, to_date)}
    requests(sandbox)

    result = run_cli("run", "term4.xlsx")

    assert result.returncode == 0, result.output
    puts = [fields for method, _, fields in requests(sandbox) if method == "PUT"]
    assert len(puts) == 2
    sent = sorted(
        ({key: value for key, value in fields.items() if key not in ("instanceid", "type")} for fields in puts),
        key=lambda fields: "competent" not in fields,
    )
    program = {"programinstanceid": "31002"}
    assert sent == [
        {"contactid": str(to_pass[0].value), **program, "competent": "20"},
        {"contactid": str(to_date[0].value), **program, "activityenddate": "2026-11-28"},
    ]
    results = read_results(tmp_path / "term4.results.xlsx")
    assert len(results) == len(rows)
    for line in results:
        wanted = "updated" if (int(line["contact_id"]), line["unit_code"]) in edited else "unchanged"
        assert line["status"] == wanted, line


def test_modules_export_round_trip_writes_exactly_the_edited_access_and_dates(under_reading, tmp_path: Path) -> None:
    sandbox, run_cli, reading = under_reading
    result = run_cli("export", "modules", "--class", "32001", "-o", "plan.xlsx")
    if modules_unreadable(reading):
        assert_stops_without_a_file(result, tmp_path / "plan.xlsx")
        return
    assert result.returncode == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "plan.xlsx")
    sheet = book["modules"]
    assert [cell.value for cell in sheet[1]] == MODULE_HEADERS
    column = {cell.value: cell.column - 1 for cell in sheet[1]}
    rows = list(sheet.iter_rows(min_row=2))
    assert all(row[column["access"]].value is None for row in rows)  # blank: leave the access as it is
    unlock, redate = rows[0], rows[1]
    unlock[column["access"]].value = "unlocked"
    redate[column["start_date"]].value = dt.datetime(2026, 3, 2)
    book.save(tmp_path / "plan.xlsx")
    requests(sandbox)

    ran = run_cli("run", "plan.xlsx")

    assert ran.returncode == 0, ran.output
    puts = [fields for method, _, fields in requests(sandbox) if method == "PUT"]
    assert sorted(fields.get("accessoverride", "-") for fields in puts) == ["-", "true"]
    assert sorted(fields.get("startdate", "-") for fields in puts) == ["-", "2026-03-02"]
    statuses = [line["status"] for line in read_results(tmp_path / "plan.results.xlsx")]
    assert statuses[:2] == ["updated", "updated"] and set(statuses[2:]) == {"unchanged"}


def test_open_only_leaves_out_units_that_hold_a_final_outcome(run_cli, tmp_path: Path) -> None:
    assert run_cli("export", "units", "--class", "31002", "-o", "all.xlsx").returncode == 0
    result = run_cli("export", "units", "--class", "31002", "-o", "open.xlsx", "--open-only")
    assert result.returncode == 0, result.output
    every, open_rows = data_rows(tmp_path / "all.xlsx"), data_rows(tmp_path / "open.xlsx")
    assert {row["outcome"] for row in open_rows} <= {None, "CA", "NYS"}
    assert len(open_rows) == sum(row["outcome"] in (None, "CA", "NYS") for row in every) < len(every)
    assert f"left out {len(every) - len(open_rows)} units" in result.output


def test_a_csv_export_runs_back_unchanged(run_cli, sandbox: RunningSandbox, tmp_path: Path) -> None:
    assert run_cli("export", "units", "--class", "31003", "-o", "units.csv").returncode == 0
    text = (tmp_path / "units.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == ",".join(UNIT_HEADERS)
    requests(sandbox)
    result = run_cli("run", "units.csv")
    assert result.returncode == 0, result.output
    assert not [method for method, _, _ in requests(sandbox) if method == "PUT"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "units", "--class", "99999"], "class 99999 has no unit enrolments to export; check the class ID"),
        (["export", "units", "--class", "31002", "-o", "x.ods"], "an export is written as .xlsx or .csv"),
        (["export", "modules", "--class", "32001", "--open-only"], "--open-only is for units exports"),
        (["export", "units", "--class", "31002", "--module-status", "Enrolled"], "--module-status is for modules"),
    ],
)
def test_an_export_that_cannot_be_made_says_why_in_one_line(run_cli, args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_an_export_never_overwrites_a_file(run_cli, tmp_path: Path) -> None:
    filled = tmp_path / "term4.xlsx"
    filled.write_bytes(b"filled in already")
    result = run_cli("export", "units", "--class", "31002", "-o", "term4.xlsx")
    assert result.returncode == 2 and "already exists" in result.stderr
    assert filled.read_bytes() == b"filled in already"


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_an_exported_workbook_opens_in_libreoffice(run_cli, tmp_path: Path) -> None:
    assert run_cli("export", "units", "--class", "31002", "-o", "term4.xlsx").returncode == 0
    profile = tmp_path / "lo-profile"
    converted = subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf", "term4.xlsx"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert converted.returncode == 0, converted.stderr
    assert (tmp_path / "term4.pdf").stat().st_size > 1000
    assert "repair" not in (converted.stdout + converted.stderr).lower()


def test_nightly_applies_an_edited_export_and_a_workbook_whose_first_worksheet_is_instructions(
    run_cli, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    assert run_cli("export", "units", "--class", "31003", "-o", "export.xlsx").returncode == 0
    book = openpyxl.load_workbook(tmp_path / "export.xlsx")
    column = {cell.value: cell.column - 1 for cell in book["units"][1]}
    edited = next(row for row in book["units"].iter_rows(min_row=2) if row[column["outcome"]].value != "CNA")
    edited[column["outcome"]].value = "CNA"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    book.save(inbox / "term4.xlsx")
    readme_first = openpyxl.Workbook()
    readme_first.active.title = "Read me"
    readme_first.active.append(["Outcomes for the second cohort; one row per student and unit."])
    data = readme_first.create_sheet("Outcomes")
    data.append(["contact_id", "class_id", "unit_code", "outcome"])
    data.append([edited[column["contact_id"]].value, 31003, edited[column["unit_code"]].value, "CNA"])
    readme_first.save(inbox / "cohort2.xlsx")
    requests(sandbox)

    result = run_cli("nightly", str(inbox), "--settle-seconds", "0")

    assert result.returncode == 0, result.output
    puts = [fields for method, _, fields in requests(sandbox) if method == "PUT"]
    assert [fields["competent"] for fields in puts] == ["30"]  # one write; the second sheet finds it done
    archived = sorted(path.name for path in (inbox / "archive").rglob("*.results.*"))
    assert archived == ["cohort2.results.csv", "term4.results.csv"]


def test_the_library_call_writes_an_export_into_a_buffer_for_a_download(sandbox: RunningSandbox) -> None:
    import asyncio
    import io

    from batchupdate.config import Connection
    from batchupdate.export import export_workbook
    from batchupdate.session import open_api

    connection = Connection(sandbox.url, SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, sandbox=True)

    async def export(buffer: io.BytesIO) -> int:
        async with open_api(connection) as api:
            exported = await export_workbook("modules", [32001], api, buffer, statuses=["Enrolled", "In Progress"])
            return len(exported.rows)

    buffer = io.BytesIO()
    rows = asyncio.run(export(buffer))
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    assert book.sheetnames == ["modules", "Instructions"]
    assert book["modules"].max_row == rows + 1 > 10
