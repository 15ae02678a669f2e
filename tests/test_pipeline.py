"""The whole flow for one sheet (`execute`), over a small in-memory aXcelerate: statuses and the results file."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from pathlib import Path

import httpx
import pytest
from fakes import FakeAxcelerate, FakeClock, Handler, HeldUnit, PutFault, endpoint, error_response, make_api

from batchupdate.pipeline import CHECK, PLAN, RUN, Job, Report, execute

HEADER = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date", "notes"]
RESULT_COLUMNS = [
    "row",
    "status",
    "error",
    "changes",
    "resolved_unit_id",
    "unit_enrolment_id",
    "before_outcome",
    "before_start_date",
    "before_end_date",
]
# One row for each thing that can happen; the comment is the row's line in the sheet.
SHEET = [
    ["700001", "31001", "BSBWHS411", "C", "", "", "+61 400 000 000"],  # 2 updated
    ["700002", "31001", "BSBWHS411", "CA", "03/02/2026", "", ""],  # 3 unchanged: already so
    ["700003", "31001", "BSBWHS411", "C", "31/02/2026", "", ""],  # 4 invalid: no such date
    ["700003", "31001", "HLTAID011", "C", "", "", ""],  # 5 failed: not one of the student's units
    ["700001", "31001", "bsbwhs411", "c", "", "", "again"],  # 6 skipped: duplicate of row 2
    ["700004", "31001", "BSBCUS403", "CNA", "", "28/11/2026", "=SUM(A1:A2)"],  # 7 updated
]
STATUSES = ["updated", "unchanged", "invalid", "failed", "skipped", "updated"]


def class_31001() -> FakeAxcelerate:
    units = []
    for contact in (700001, 700002, 700003, 700004):
        units.append(HeldUnit(contact, 31001, 41001, "BSBWHS411", "70", "2026-02-03", None, 880000 + contact % 100))
        units.append(HeldUnit(contact, 31001, 41002, "BSBCUS403", None, "2026-02-03"))
    return FakeAxcelerate(units)


def write_sheet(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_results(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def execute_with(job: Job, handler: Handler, *, concurrency: int = 4) -> Report:
    clock = FakeClock()
    api = make_api(handler, clock, concurrency=concurrency)
    return asyncio.run(execute(job, api, now=lambda: dt.datetime(2026, 3, 1, 9, 30), clock=clock))


def puts_for(fake: FakeAxcelerate, contact_id: int) -> int:
    return sum(1 for form in fake.puts if form["contactID"] == str(contact_id))


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    return write_sheet(tmp_path / "outcomes.csv", SHEET)


# --- statuses and the results file --------------------------------------------------------------------------


def test_a_run_gives_every_row_its_status_and_writes_the_results_file(sheet: Path) -> None:
    fake = class_31001()
    report = execute_with(Job(sheet, RUN), fake.handler)
    header, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert report.results_path == sheet.with_name("outcomes.results.csv")
    assert header == [*HEADER, *RESULT_COLUMNS]
    assert [line["row"] for line in results] == ["2", "3", "4", "5", "6", "7"]
    assert [line["status"] for line in results] == STATUSES
    assert [[line[column] for column in HEADER] for line in results][1] == SHEET[1]
    assert report.counts == {"updated": 2, "unchanged": 1, "invalid": 1, "failed": 1, "skipped": 1}
    assert report.exit_code == 1
    assert fake.count("PUT") == 2
    assert fake.units[(700001, 31001, 41001)].outcome == "20"
    assert fake.units[(700004, 31001, 41002)].outcome == "30"
    assert fake.units[(700004, 31001, 41002)].end == "2026-11-28"


def test_the_results_file_records_resolved_ids_before_values_and_why(sheet: Path) -> None:
    execute_with(Job(sheet, RUN), class_31001().handler)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    updated, unchanged, invalid, failed, skipped, _ = results
    assert updated["changes"] == "outcome: 70 (CA) -> 20 (C)"
    assert updated["error"] == ""
    assert (updated["resolved_unit_id"], updated["unit_enrolment_id"]) == ("41001", "880001")
    assert (updated["before_outcome"], updated["before_start_date"], updated["before_end_date"]) == (
        "70",
        "2026-02-03",
        "",
    )
    assert unchanged["changes"] == "" and unchanged["before_outcome"] == "70"
    assert "start_date" in invalid["error"] and "31/02/2026" in invalid["error"]
    assert invalid["resolved_unit_id"] == ""
    assert "HLTAID011" in failed["error"] and "BSBCUS403, BSBWHS411" in failed["error"]
    assert "duplicate of row 2" in skipped["error"]


def test_formula_looking_cells_come_out_quoted_so_a_spreadsheet_does_not_run_them(sheet: Path) -> None:
    execute_with(Job(sheet, RUN), class_31001().handler)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["notes"] == "'+61 400 000 000"
    assert results[5]["notes"] == "'=SUM(A1:A2)"
    assert results[4]["notes"] == "again"


def test_a_plan_reports_would_update_and_sends_no_put(sheet: Path) -> None:
    fake = class_31001()
    report = execute_with(Job(sheet, PLAN), fake.handler)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert [line["status"] for line in results] == [
        "would-update",
        "unchanged",
        "invalid",
        "failed",
        "skipped",
        "would-update",
    ]
    assert results[5]["changes"] == "outcome: (blank) -> 30 (CNA); end_date: (blank) -> 2026-11-28"
    assert fake.count("PUT") == 0
    assert fake.units[(700001, 31001, 41001)].outcome == "70"
    assert report.exit_code == 1


def test_a_check_sends_nothing_at_all(sheet: Path) -> None:
    report = asyncio.run(execute(Job(sheet, CHECK), None))
    assert [result.status for result in report.results] == ["valid", "valid", "invalid", "valid", "skipped", "valid"]
    assert not sheet.with_name("outcomes.results.csv").exists()


def test_a_clean_sheet_exits_zero(tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "clean.csv", [SHEET[0], SHEET[1]])
    report = execute_with(Job(sheet, RUN), class_31001().handler)
    assert report.counts == {"updated": 1, "unchanged": 1}
    assert report.exit_code == 0


def test_requests_sent_are_reported(sheet: Path) -> None:
    report = execute_with(Job(sheet, RUN), class_31001().handler)
    # The class listing, then row 5's student alone: "not one of their units" rests on the documented answer.
    assert report.requests == {"GET /course/enrolments": 2, "PUT /course/enrolment": 2}


# --- when aXcelerate refuses or fails ------------------------------------------------------------------------


def test_a_412_on_a_put_fails_the_row_with_axcelerates_details(sheet: Path) -> None:
    fake = class_31001()
    fake.faults.append(PutFault(700001, 412, applied=False, details="competent is not valid for this unit."))
    report = execute_with(Job(sheet, RUN), fake.handler)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["status"] == "failed"
    assert "412" in results[0]["error"]
    assert "competent is not valid for this unit." in results[0]["error"]
    assert results[5]["status"] == "updated"  # one row's refusal never stops the others
    assert puts_for(fake, 700001) == 1
    assert report.exit_code == 1


@pytest.mark.parametrize("status", [503, 0], ids=["503", "read-timeout"])
def test_a_failure_after_the_change_was_applied_is_settled_by_rereading(sheet: Path, status: int) -> None:
    fake = class_31001()
    fake.faults.append(PutFault(700001, status, applied=True))
    report = execute_with(Job(sheet, RUN), fake.handler)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["status"] == "updated"
    assert results[0]["error"] == ""
    assert results[0]["before_outcome"] == "70"
    assert puts_for(fake, 700001) == 1  # not sent again: the re-read showed it had been applied
    assert report.requests["GET /course/enrolments"] == 3  # the listing, row 5's student alone, then the re-read


def test_a_503_before_the_change_was_applied_is_retried(sheet: Path) -> None:
    fake = class_31001()
    fake.faults.append(PutFault(700001, 503, applied=False))
    execute_with(Job(sheet, RUN), fake.handler)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["status"] == "updated"
    assert puts_for(fake, 700001) == 2
    assert fake.units[(700001, 31001, 41001)].outcome == "20"


def test_a_write_that_keeps_failing_ends_failed_saying_the_record_is_unchanged(sheet: Path) -> None:
    fake = class_31001()
    fake.faults.append(PutFault(700001, 503, applied=False, times=100))
    execute_with(Job(sheet, RUN), fake.handler)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["status"] == "failed"
    assert "re-reading did not show the change applied" in results[0]["error"]
    assert puts_for(fake, 700001) == 6
    assert results[5]["status"] == "updated"


def test_a_write_sent_just_before_the_network_went_down_is_not_reported_as_not_attempted(tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "outcomes.csv", [SHEET[0]])
    fake = class_31001()
    fake.faults.append(PutFault(700001, 0, applied=True))  # applied, but the answer never arrives
    network_down = False

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal network_down
        if network_down:
            raise httpx.ConnectError("Network is unreachable")
        network_down = request.method == "PUT"
        return fake.handler(request)

    report = execute_with(Job(sheet, RUN), handler)
    assert report.exit_code == 3
    assert fake.units[(700001, 31001, 41001)].outcome == "20"  # it was applied
    _, [result] = read_results(sheet.with_name("outcomes.results.csv"))
    assert result["status"] != "skipped"
    assert "not attempted" not in result["error"]
    assert result["before_outcome"] == "70"  # so that undo can put it back


def test_bad_tokens_abort_the_run_and_skip_every_row_not_yet_decided(sheet: Path) -> None:
    fake = class_31001()
    fake.refuse = 401
    report = execute_with(Job(sheet, RUN), fake.handler)
    assert report.aborted is not None and "AXCELERATE_API_TOKEN" in report.aborted
    assert report.exit_code == 3
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert [line["row"] for line in results] == ["2", "3", "4", "5", "6", "7"]
    assert [line["status"] for line in results] == ["skipped", "skipped", "invalid", "skipped", "skipped", "skipped"]
    assert all("the run stopped" in line["error"] for line in results if line["row"] in ("2", "3", "5", "7"))
    assert fake.count("PUT") == 0


def test_bad_tokens_found_mid_run_keep_what_was_done(tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "outcomes.csv", [SHEET[0], SHEET[5], ["700003", "31001", "BSBCUS403", "C"]])
    fake = class_31001()
    fake.faults.append(PutFault(700004, 401, applied=False))
    report = execute_with(Job(sheet, RUN), fake.handler, concurrency=1)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert [line["status"] for line in results] == ["updated", "skipped", "skipped"]
    assert report.exit_code == 3
    assert fake.count("PUT") == 2  # nothing was sent after the 401


def test_bad_tokens_on_a_modules_sheet_abort_the_run_with_results_written(tmp_path: Path) -> None:
    sheet = write_sheet(
        tmp_path / "plan.csv",
        [["700001", "32001", "Module 1", "unlocked"], ["700002", "32001", "Module 2", "locked"]],
        header=["contact_id", "class_id", "module_name", "access"],
    )
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return error_response(401, messages="Invalid token.")

    report = execute_with(Job(sheet, RUN), handler)
    assert report.exit_code == 3
    _, results = read_results(sheet.with_name("plan.results.csv"))
    assert [line["status"] for line in results] == ["skipped", "skipped"]
    assert {endpoint(request) for request in requests} == {"/report/fields"}


# --- running again --------------------------------------------------------------------------------------------


def test_rerunning_only_the_failed_rows_of_a_results_file_keeps_their_row_numbers(sheet: Path) -> None:
    fake = class_31001()
    fake.faults.append(PutFault(700001, 412, applied=False, details="try later"))
    execute_with(Job(sheet, RUN), fake.handler)
    first = sheet.with_name("outcomes.results.csv")
    _, before = read_results(first)
    assert [line["row"] for line in before if line["status"] == "failed"] == ["2", "5"]
    puts_before = fake.count("PUT")

    rerun = sheet.with_name("rerun.csv")
    report = execute_with(Job(first, RUN, results=rerun, only=frozenset({"failed"})), fake.handler)
    header, results = read_results(rerun)
    assert [line["row"] for line in results] == ["2", "5"]
    assert [line["status"] for line in results] == ["updated", "failed"]
    assert header == [*HEADER, *RESULT_COLUMNS]  # the earlier result columns are not carried in as input
    assert results[0]["notes"] == "'+61 400 000 000"  # quoted once, not twice
    assert fake.count("PUT") - puts_before == 1
    assert report.counts == {"updated": 1, "failed": 1}


def test_running_the_same_sheet_again_sends_no_put(sheet: Path) -> None:
    fake = class_31001()
    execute_with(Job(sheet, RUN), fake.handler)
    puts_after_first = fake.count("PUT")
    report = execute_with(Job(sheet, RUN), fake.handler)
    assert fake.count("PUT") == puts_after_first
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert [line["status"] for line in results] == [
        "unchanged",
        "unchanged",
        "invalid",
        "failed",
        "skipped",
        "unchanged",
    ]
    # The first run's results (with its before-values) are kept, not overwritten.
    assert report.kept_previous is not None and report.kept_previous.exists()
    _, kept = read_results(report.kept_previous)
    assert kept[0]["status"] == "updated" and kept[0]["before_outcome"] == "70"
