"""The whole flow for one sheet (`execute`), against the sandbox app in this process (fresh seed, faults
scripted through its hook, time on a fake clock): statuses and the results file."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from pathlib import Path

import httpx
import pytest

from batchupdate.pacing import Pacer, RetryPolicy
from batchupdate.pipeline import CHECK, PLAN, RUN, Job, Report, execute
from batchupdate.progress import Progress
from batchupdate.sandbox.faults import ScriptedFault, drop_answer, fail_write, throttle_first
from tests.fakes import FakeClock, LocalSandbox

HEADER = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date", "notes"]
RESULT_COLUMNS = [
    "row",
    "status",
    "error",
    "changes",
    "student_name",
    "resolved_unit_id",
    "unit_enrolment_id",
    "before_outcome",
    "before_start_date",
    "before_end_date",
]
# One row for each thing that can happen, on the sandbox's fresh seed; the comment is the row's line in the sheet.
SHEET = [
    ["700001", "31001", "BSBTWK401", "C", "", "", "+61 400 000 000"],  # 2 updated (held: 70, from 2026-02-23)
    ["700001", "31001", "BSBXCM401", "C", "02/02/2026", "", ""],  # 3 unchanged: already so
    ["700003", "31001", "BSBWHS411", "C", "31/02/2026", "", ""],  # 4 invalid: no such date
    ["700003", "31001", "HLTAID011", "C", "", "", ""],  # 5 failed: not one of the student's units
    ["700001", "31001", "bsbtwk401", "c", "", "", "again"],  # 6 skipped: duplicate of row 2
    ["700004", "31001", "BSBOPS404", "CNA", "", "28/11/2026", "=SUM(A1:A2)"],  # 7 updated (held: nothing)
]
STATUSES = ["updated", "unchanged", "invalid", "failed", "skipped", "updated"]
ROW_2 = (700001, 31001, 41005)  # contact, class, unit
ROW_7 = (700004, 31001, 41002)
PUT = ("PUT", "/course/enrolment")


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


def execute_with(
    job: Job, local: LocalSandbox, *, concurrency: int = 4, transport: httpx.AsyncBaseTransport | None = None
) -> Report:
    clock = FakeClock()
    api = local.api(clock, concurrency=concurrency, transport=transport)
    return asyncio.run(execute(job, api, now=lambda: dt.datetime(2026, 3, 1, 9, 30), clock=clock))


def puts_for(local: LocalSandbox, contact_id: int | None = None) -> int:
    """PUTs the sandbox served (for one contact, or all)."""
    return sum(
        1
        for method, path, fields in local.stats.log
        if (method, path) == PUT and contact_id in (None, int(fields["contactid"]))
    )


def outcome_of(local: LocalSandbox, key: tuple[int, int, int]) -> str | None:
    held = local.store.unit_enrolment(*key)
    assert held is not None
    return held["outcome_code"]


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    return write_sheet(tmp_path / "outcomes.csv", SHEET)


# --- statuses and the results file --------------------------------------------------------------------------


def test_a_run_gives_every_row_its_status_and_writes_the_results_file(sheet: Path, local: LocalSandbox) -> None:
    report = execute_with(Job(sheet, RUN), local)
    header, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert report.results_path == sheet.with_name("outcomes.results.csv")
    assert header == [*HEADER, *RESULT_COLUMNS]
    assert [line["row"] for line in results] == ["2", "3", "4", "5", "6", "7"]
    assert [line["status"] for line in results] == STATUSES
    assert [[line[column] for column in HEADER] for line in results][1] == SHEET[1]
    names = [line["student_name"] for line in results]  # staff can check each line against the student
    assert names[0] and names[0] == names[1] and names[5] and names[0] != names[5] and names[2] == ""
    assert report.counts == {"updated": 2, "unchanged": 1, "invalid": 1, "failed": 1, "skipped": 1}
    assert report.exit_code == 1
    assert puts_for(local) == 2
    assert outcome_of(local, ROW_2) == "20"
    assert local.store.unit_enrolment(*ROW_7) == {"outcome_code": "30", "start_date": None, "end_date": "2026-11-28"}


def test_the_results_file_records_resolved_ids_before_values_and_why(sheet: Path, local: LocalSandbox) -> None:
    execute_with(Job(sheet, RUN), local)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    updated, unchanged, invalid, failed, skipped, _ = results
    assert updated["changes"] == "outcome: 70 (CA) -> 20 (C)"
    assert updated["error"] == ""
    assert (updated["resolved_unit_id"], updated["unit_enrolment_id"]) == ("41005", "2100002")
    assert (updated["before_outcome"], updated["before_start_date"], updated["before_end_date"]) == (
        "70",
        "2026-02-23",
        "",
    )
    assert unchanged["changes"] == "" and unchanged["before_outcome"] == "20"
    assert "start_date" in invalid["error"] and "31/02/2026" in invalid["error"]
    assert invalid["resolved_unit_id"] == ""
    assert "HLTAID011" in failed["error"] and "BSBWHS411, BSBXCM401" in failed["error"]
    assert "duplicate of row 2" in skipped["error"]


def test_formula_looking_cells_come_out_quoted_so_a_spreadsheet_does_not_run_them(
    sheet: Path, local: LocalSandbox
) -> None:
    execute_with(Job(sheet, RUN), local)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["notes"] == "'+61 400 000 000"
    assert results[5]["notes"] == "'=SUM(A1:A2)"
    assert results[4]["notes"] == "again"


def test_a_plan_reports_would_update_and_sends_no_put(sheet: Path, local: LocalSandbox) -> None:
    report = execute_with(Job(sheet, PLAN), local)
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
    assert puts_for(local) == 0
    assert outcome_of(local, ROW_2) == "70"
    assert report.exit_code == 1


def test_a_check_sends_nothing_at_all(sheet: Path) -> None:
    report = asyncio.run(execute(Job(sheet, CHECK), None))
    assert [result.status for result in report.results] == ["valid", "valid", "invalid", "valid", "skipped", "valid"]
    assert not sheet.with_name("outcomes.results.csv").exists()


def test_a_clean_sheet_exits_zero(tmp_path: Path, local: LocalSandbox) -> None:
    sheet = write_sheet(tmp_path / "clean.csv", [SHEET[0], SHEET[1]])
    report = execute_with(Job(sheet, RUN), local)
    assert report.counts == {"updated": 1, "unchanged": 1}
    assert report.exit_code == 0


def test_requests_sent_are_reported(sheet: Path, local: LocalSandbox) -> None:
    report = execute_with(Job(sheet, RUN), local)
    # The class listing, then row 5's student alone: "not one of their units" rests on the documented answer.
    assert report.requests == {"GET /course/enrolments": 2, "PUT /course/enrolment": 2}


# --- when aXcelerate refuses or fails (faults scripted through the sandbox's hook) -----------------------------


def test_a_412_on_a_put_fails_the_row_with_axcelerates_details(sheet: Path, local: LocalSandbox) -> None:
    local.script.add(fail_write(700001, 412, details="competent is not valid for this unit."))
    report = execute_with(Job(sheet, RUN), local)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["status"] == "failed"
    assert "412" in results[0]["error"]
    assert "competent is not valid for this unit." in results[0]["error"]
    assert results[5]["status"] == "updated"  # one row's refusal never stops the others
    assert puts_for(local, 700001) == 1
    assert report.exit_code == 1


@pytest.mark.parametrize("dropped", [False, True], ids=["503", "answer lost"])
def test_a_failure_after_the_change_was_applied_is_settled_by_rereading(
    sheet: Path, local: LocalSandbox, dropped: bool
) -> None:
    local.script.add(drop_answer(contact=700001) if dropped else fail_write(700001, 503, applied=True))
    report = execute_with(Job(sheet, RUN), local)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["status"] == "updated"
    assert results[0]["error"] == ""
    assert results[0]["before_outcome"] == "70"
    assert puts_for(local, 700001) == 1  # not sent again: the re-read showed it had been applied
    assert report.requests["GET /course/enrolments"] == 3  # the listing, row 5's student alone, then the re-read


def test_a_503_before_the_change_was_applied_is_retried(sheet: Path, local: LocalSandbox) -> None:
    local.script.add(fail_write(700001, 503))
    execute_with(Job(sheet, RUN), local)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["status"] == "updated"
    assert puts_for(local, 700001) == 2
    assert outcome_of(local, ROW_2) == "20"


def test_a_write_that_keeps_failing_ends_failed_saying_the_record_is_unchanged(
    sheet: Path, local: LocalSandbox
) -> None:
    local.script.add(fail_write(700001, 503, times=None))
    execute_with(Job(sheet, RUN), local)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert results[0]["status"] == "failed"
    assert "re-reading did not show the change applied" in results[0]["error"]
    assert puts_for(local, 700001) == RetryPolicy().write_attempts
    assert results[5]["status"] == "updated"


class _GoesDownAfterAPut(httpx.AsyncBaseTransport):
    """The way to the sandbox, until a PUT has been sent: from then on, nothing can connect."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.down = inner, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("Network is unreachable")
        self.down = request.method == "PUT"
        return await self.inner.handle_async_request(request)


def test_a_write_sent_just_before_the_network_went_down_is_not_reported_as_not_attempted(
    tmp_path: Path, local: LocalSandbox
) -> None:
    sheet = write_sheet(tmp_path / "outcomes.csv", [SHEET[0]])
    local.script.add(drop_answer(contact=700001))  # applied, but the answer never arrives
    report = execute_with(Job(sheet, RUN), local, transport=_GoesDownAfterAPut(local.transport()))
    assert report.exit_code == 3
    assert outcome_of(local, ROW_2) == "20"  # it was applied
    _, [result] = read_results(sheet.with_name("outcomes.results.csv"))
    assert result["status"] != "skipped"
    assert "not attempted" not in result["error"]
    assert result["before_outcome"] == "70"  # so that undo can put it back


def test_bad_tokens_abort_the_run_and_skip_every_row_not_yet_decided(sheet: Path, local: LocalSandbox) -> None:
    local.script.add(ScriptedFault(status=401, times=None, details="Invalid token."))
    report = execute_with(Job(sheet, RUN), local)
    assert report.aborted is not None and "AXCELERATE_API_TOKEN" in report.aborted
    assert report.exit_code == 3
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert [line["row"] for line in results] == ["2", "3", "4", "5", "6", "7"]
    assert [line["status"] for line in results] == ["skipped", "skipped", "invalid", "skipped", "skipped", "skipped"]
    assert all("the run stopped" in line["error"] for line in results if line["row"] in ("2", "3", "5", "7"))
    assert puts_for(local) == 0


def test_bad_tokens_found_mid_run_keep_what_was_done(tmp_path: Path, local: LocalSandbox) -> None:
    sheet = write_sheet(tmp_path / "outcomes.csv", [SHEET[0], SHEET[5], ["700003", "31001", "BSBWHS411", "C"]])
    local.script.add(fail_write(700004, 401))
    report = execute_with(Job(sheet, RUN), local, concurrency=1)
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert [line["status"] for line in results] == ["updated", "skipped", "skipped"]
    assert report.exit_code == 3
    assert puts_for(local) == 2  # nothing was sent after the 401


def test_bad_tokens_on_a_modules_sheet_abort_the_run_with_results_written(tmp_path: Path, local: LocalSandbox) -> None:
    sheet = write_sheet(
        tmp_path / "plan.csv",
        [["700001", "32001", "Module 1", "unlocked"], ["700002", "32001", "Module 2", "locked"]],
        header=["contact_id", "class_id", "module_name", "access"],
    )
    local.script.add(ScriptedFault(status=401, times=None, details="Invalid token."))
    report = execute_with(Job(sheet, RUN), local)
    assert report.exit_code == 3
    _, results = read_results(sheet.with_name("plan.results.csv"))
    assert [line["status"] for line in results] == ["skipped", "skipped"]
    assert {path for _, path, _ in local.stats.log} == {"/report/fields"}


# --- running again --------------------------------------------------------------------------------------------


def test_rerunning_only_the_failed_rows_of_a_results_file_keeps_their_row_numbers(
    sheet: Path, local: LocalSandbox
) -> None:
    local.script.add(fail_write(700001, 412, details="try later"))
    execute_with(Job(sheet, RUN), local)
    first = sheet.with_name("outcomes.results.csv")
    _, before = read_results(first)
    assert [line["row"] for line in before if line["status"] == "failed"] == ["2", "5"]
    puts_before = puts_for(local)

    rerun = sheet.with_name("rerun.csv")
    report = execute_with(Job(first, RUN, results=rerun, only=frozenset({"failed"})), local)
    header, results = read_results(rerun)
    assert [line["row"] for line in results] == ["2", "5"]
    assert [line["status"] for line in results] == ["updated", "failed"]
    assert header == [*HEADER, *RESULT_COLUMNS]  # the earlier result columns are not carried in as input
    assert results[0]["notes"] == "'+61 400 000 000"  # quoted once, not twice
    assert puts_for(local) - puts_before == 1
    assert report.counts == {"updated": 1, "failed": 1}


def test_running_the_same_sheet_again_sends_no_put(sheet: Path, local: LocalSandbox) -> None:
    execute_with(Job(sheet, RUN), local)
    puts_after_first = puts_for(local)
    report = execute_with(Job(sheet, RUN), local)
    assert puts_for(local) == puts_after_first
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


# --- the circuit breaker, and long waits -----------------------------------------------------------------------


def changing_rows(local: LocalSandbox, count: int) -> list[list[str]]:
    """Rows of class 31001 (fresh seed) that each change one unit enrolment's outcome, one per student."""
    enrolments = local.store.program_enrolments(contact_id=None, class_id=31001, program_id=None, offset=0, limit=999)
    rows, seen = [], set()
    for unit in local.store.unit_enrolments_of([enrolment.enrol_id for enrolment in enrolments]):
        if unit.contact_id not in seen and unit.outcome_code not in ("70", "20") and not unit.start_date:
            seen.add(unit.contact_id)
            rows.append([str(unit.contact_id), "31001", unit.unit_code, "CA", "", "", ""])
    assert len(rows) >= count
    return rows[:count]


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (ScriptedFault(method="PUT", status=500, times=None), "server errors or no answer"),
        (ScriptedFault(method="PUT", drop=True, times=None), "server errors or no answer"),
        (ScriptedFault(method="PUT", status=429, times=None), "429 (too many requests) every time"),
    ],
    ids=["500", "no answer", "429 without Retry-After"],
)
def test_writes_failing_the_same_way_ten_times_in_a_row_stop_the_run(
    tmp_path: Path, local: LocalSandbox, fault: ScriptedFault, cause: str
) -> None:
    sheet = write_sheet(tmp_path / "outcomes.csv", changing_rows(local, 30))
    local.script.add(fault)
    report = execute_with(Job(sheet, RUN), local, concurrency=2)
    assert report.exit_code == 3
    assert report.aborted is not None and f"10 writes in a row failed with {cause}" in report.aborted
    _, results = read_results(sheet.with_name("outcomes.results.csv"))
    assert [line["row"] for line in results] == [str(line) for line in range(2, 32)]  # every row, in order
    failed = [line for line in results if line["status"] == "failed"]
    skipped = [line for line in results if line["status"] == "skipped"]
    assert 10 <= len(failed) <= 11  # the tenth trips it; the other worker's write in flight ends too
    assert len(failed) + len(skipped) == 30
    assert all(line["error"].startswith("not attempted: the run stopped (10 writes in a row") for line in skipped)
    # Each failed row had its bounded tries, and nothing was sent for the rows after the stop.
    assert puts_for(local) <= len(failed) * max(RetryPolicy().write_attempts, RetryPolicy().throttles + 1)


def test_rows_refused_for_their_own_reasons_never_stop_the_run(tmp_path: Path, local: LocalSandbox) -> None:
    sheet = write_sheet(tmp_path / "outcomes.csv", changing_rows(local, 15))
    local.script.add(ScriptedFault(method="PUT", status=412, times=None, details="competent is not valid."))
    report = execute_with(Job(sheet, RUN), local, concurrency=2)
    assert report.aborted is None and report.exit_code == 1
    assert report.counts == {"failed": 15}
    assert puts_for(local) == 15  # a 412 is not retried


def test_a_success_between_failures_resets_the_count(tmp_path: Path, local: LocalSandbox) -> None:
    rows = changing_rows(local, 20)
    sheet = write_sheet(tmp_path / "outcomes.csv", rows)
    for number, row in enumerate(rows):
        if number % 9 != 8:  # every ninth row's write goes through
            local.script.add(fail_write(int(row[0]), 500, times=None))
    report = execute_with(Job(sheet, RUN), local, concurrency=1)
    assert report.aborted is None
    assert report.counts == {"failed": 18, "updated": 2}


class _Waits(Progress):
    def __init__(self) -> None:
        self.waits: list[tuple[float, str]] = []

    def waiting(self, seconds: float, reason: str) -> None:
        self.waits.append((seconds, reason))


def test_a_long_wait_is_told_to_whoever_shows_the_progress(tmp_path: Path, local: LocalSandbox) -> None:
    sheet = write_sheet(tmp_path / "outcomes.csv", [SHEET[0]])
    local.script.add(throttle_first(1, retry_after="25"))
    clock, progress = FakeClock(), _Waits()
    api = local.api(clock, pacer=Pacer(adaptive=True, clock=clock, sleep=clock.sleep))
    report = asyncio.run(execute(Job(sheet, RUN), api, progress=progress, clock=clock))
    assert report.counts == {"updated": 1}
    assert progress.waits == [(25.0, "aXcelerate asked to slow down (429)")]
    assert clock() - clock.start == pytest.approx(25.0, abs=0.5)
