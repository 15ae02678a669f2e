"""End to end: the real CLI against the real sandbox over loopback, for unit-outcome sheets."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from batchupdate.sandbox import RunningSandbox
from batchupdate.sandbox.settings import READINGS
from batchupdate.sandbox.store import UnitEnrolment
from tests.fakes import SAMPLES, known, read_results, units_of, write_csv

PUT = ("PUT", "/course/enrolment")
GET = ("GET", "/course/enrolments")
HEADER = ["contact_id", "class_id", "unit_code", "unit_id", "outcome", "start_date", "end_date", "note"]


def pick(
    units: list[UnitEnrolment], taken: set[int], test: Callable[[UnitEnrolment], object] = lambda unit: True
) -> UnitEnrolment:
    unit = next(unit for unit in units if unit.record_id not in taken and test(unit))
    taken.add(unit.record_id)
    return unit


def fewest_requests(reading: str, listed_students: int, negatives: int, writes: int) -> int:
    """The fewest requests the reading allows a tool that concludes only from documented answers.

    Full listings: one page, plus the per-student answers "not enrolled" / "unit not found" rest on. Listings
    without units: one GET per student. A write answer that proves nothing: each write re-read until the run
    has confirmed three answers of that shape (the sheets here write three rows at most).
    """
    settings = READINGS[reading]
    lookups = 1 + negatives if settings.get("listing_activities", "full") == "full" else listed_students
    rereads = writes if settings.get("write_reply", "documented") != "documented" else 0
    return lookups + writes + rereads


@pytest.mark.parametrize("reading", list(READINGS))
def test_mixed_sheet_ends_exactly_right_and_a_second_run_sends_nothing(
    reading: str, start, cli, tmp_path: Path
) -> None:
    sandbox = start(**READINGS[reading])
    store = sandbox.store
    units, taken = units_of(store, 31002), set[int]()
    update = pick(units, taken, lambda u: u.outcome_code != "20")
    same = pick(units, taken, lambda u: u.outcome_code and u.start_date and u.end_date)
    bad_outcome = pick(units, taken)
    bad_date = pick(units, taken)
    duplicate_pair = pick(units, taken)
    end_only = pick(units, taken, lambda u: (u.start_date or "") <= "2026-04-13" and u.end_date != "2026-04-13")
    by_id = pick(units, taken, lambda u: u.outcome_code != "51")
    nas = pick(units, taken)
    contacts_in_class = {u.contact_id for u in units}
    outsider = next(u for u in units_of(store, 31003) if u.contact_id not in contacts_in_class)
    before = store.snapshot()

    rows = [
        [update.contact_id, 31002, update.unit_code, "", "C", "03/02/2026", "25/11/2026", "update"],
        [same.contact_id, 31002, same.unit_code, "", same.outcome_code, same.start_date, same.end_date, "same"],
        [bad_outcome.contact_id, 31002, bad_outcome.unit_code, "", "XYZ", "", "", "bad outcome"],
        [bad_date.contact_id, 31002, bad_date.unit_code, "", "", "31/02/2026", "", "bad date"],
        [outsider.contact_id, 31002, update.unit_code, "", "C", "", "", "not enrolled"],
        [update.contact_id, 31002, "ZZZ999", "", "C", "", "", "unknown unit"],
        [update.contact_id, 31002, update.unit_code.lower(), "", " c ", "2026-02-03", "2026-11-25", "repeat"],
        [duplicate_pair.contact_id, 31002, duplicate_pair.unit_code, "", "20", "", "", "conflict a"],
        [duplicate_pair.contact_id, 31002, duplicate_pair.unit_code, "", "30", "", "", "conflict b"],
        [end_only.contact_id, 31002, end_only.unit_code, "", "", "", "13/04/2026", "end only"],
        [by_id.contact_id, 31002, "", by_id.unit_id, "RPL-G", "", "", "by id"],
        [nas.contact_id, 31002, nas.unit_code, "", "NAS", "", "", "ambiguous"],
    ]
    sheet = write_csv(tmp_path / "term4.csv", HEADER, rows)

    first = cli("run", str(sheet), url=sandbox.url)

    assert first.returncode == 1, first.stdout + first.stderr
    results = read_results(tmp_path / "term4.results.csv")
    assert [r["row"] for r in results] == [str(n) for n in range(2, 14)]
    assert [r["note"] for r in results] == [row[-1] for row in rows]
    assert [r["status"] for r in results] == [
        "updated",
        "unchanged",
        "invalid",
        "invalid",
        "failed",
        "failed",
        "skipped",
        "invalid",
        "invalid",
        "updated",
        "updated",
        "invalid",
    ]
    by_note = {r["note"]: r for r in results}
    assert "outcome 'XYZ' is not an outcome code" in by_note["bad outcome"]["error"]
    assert "start_date '31/02/2026' is not a real date" in by_note["bad date"]["error"]
    assert f"contact {outsider.contact_id} is not enrolled in class 31002" in by_note["not enrolled"]["error"]
    assert "ZZZ999" in by_note["unknown unit"]["error"] and update.unit_code in by_note["unknown unit"]["error"]
    assert "duplicate of row 2" in by_note["repeat"]["error"]
    assert "conflicts with row 10" in by_note["conflict a"]["error"]
    assert "81" in by_note["ambiguous"]["error"] and "82" in by_note["ambiguous"]["error"]
    assert by_note["update"]["before_outcome"] == (update.outcome_code or "")
    assert by_note["update"]["resolved_unit_id"] == str(update.unit_id)

    assert store.unit_enrolment(update.contact_id, 31002, update.unit_id) == {
        "outcome_code": "20",
        "start_date": "2026-02-03",
        "end_date": "2026-11-25",
    }
    assert known(store.unit_enrolment(end_only.contact_id, 31002, end_only.unit_id))["end_date"] == "2026-04-13"
    assert known(store.unit_enrolment(by_id.contact_id, 31002, by_id.unit_id))["outcome_code"] == "51"
    changed = {k for k, v in store.snapshot()["units"].items() if before["units"][k] != v}
    assert changed == {update.record_id, end_only.record_id, by_id.record_id}
    assert sandbox.stats.count(*PUT) == 3
    # 5 students of one class with rows to look up: with full listings the class is listed once (one page), and
    # only the two rows the listing cannot settle (a student not listed, a unit not listed) are asked per student,
    # the documented path their verdicts rest on. Other readings: within 1.2x of what they allow.
    sent = sandbox.stats.count(*GET) + sandbox.stats.count(*PUT)
    fewest = fewest_requests(reading, listed_students=5, negatives=2, writes=3)
    if reading == "fastest":
        assert sandbox.stats.count(*GET) == 3
    assert sent <= 1.2 * fewest, f"{sent} requests where {fewest} would do"
    assert "3 PUT /course/enrolment" in first.stdout, "the summary prints the requests by kind"

    second = cli("run", str(sheet), url=sandbox.url)

    assert second.returncode == 1  # the invalid rows are still invalid
    assert sandbox.stats.count(*PUT) == 3, "a second run must send no write"
    statuses = [r["status"] for r in read_results(tmp_path / "term4.results.csv")]
    assert statuses.count("updated") == 0 and statuses.count("unchanged") == 4
    assert list(tmp_path.glob("term4.results.*.csv")), "the first run's results (its undo record) are kept"


def test_xlsx_with_real_date_cells_over_a_paged_class(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    units, taken = units_of(sandbox.store, 31001), set[int]()
    seen: set[int] = set()  # four different students

    def new_student(unit: UnitEnrolment) -> bool:
        fresh = unit.contact_id not in seen
        seen.add(unit.contact_id)
        return fresh

    chosen = [pick(units, taken, new_student) for _ in range(4)]
    # Students beyond the first page of 100 enrolments force a second page.
    late = [u for u in units if u.contact_id not in {c.contact_id for c in chosen}][-1]
    chosen.append(late)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Outcomes"
    book.create_sheet("Notes").append(["nothing here"])
    sheet.append(["Contact ID", "Class ID", "Unit Code", "Outcome", "Start Date", "End Date"])
    for unit in chosen:
        sheet.append([unit.contact_id, 31001.0, unit.unit_code, 30, dt.datetime(2026, 3, 2), dt.datetime(2026, 12, 1)])
    path = tmp_path / "outcomes.xlsx"
    book.save(path)

    result = cli("run", str(path), "--sheet", "Outcomes", url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    for unit in chosen:
        assert sandbox.store.unit_enrolment(unit.contact_id, 31001, unit.unit_id) == {
            "outcome_code": "30",
            "start_date": "2026-03-02",
            "end_date": "2026-12-01",
        }
    assert sandbox.stats.count(*GET) == 2  # 130 enrolments: two pages of 100
    results = read_results(tmp_path / "outcomes.results.xlsx")
    assert [r["Start Date"] for r in results] == ["2026-03-02"] * 5


def test_cp1252_csv_with_day_first_dates(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    unit = units_of(sandbox.store, 31003)[0]
    path = write_csv(
        tmp_path / "excel.csv",
        ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date", "Trainer"],
        [[unit.contact_id, 31003, unit.unit_code, "CA", "01/02/2026", "12/03/2026", "Zoë O’Brien – résumé"]],
        encoding="cp1252",
    )

    result = cli("run", str(path), url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert sandbox.store.unit_enrolment(unit.contact_id, 31003, unit.unit_id) == {
        "outcome_code": "70",
        "start_date": "2026-02-01",
        "end_date": "2026-03-12",
    }
    assert read_results(tmp_path / "excel.results.csv")[0]["Trainer"] == "Zoë O’Brien – résumé"


def test_plan_reports_changes_and_sends_no_write(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    sheet = Path(shutil.copy(SAMPLES / "unit-outcomes.csv", tmp_path / "plan.csv"))
    before = sandbox.store.snapshot()

    result = cli("plan", str(sheet), url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert sandbox.stats.count(*PUT) == 0
    assert sandbox.store.snapshot() == before
    results = read_results(tmp_path / "plan.results.csv")
    assert {r["status"] for r in results} == {"would-update", "unchanged"}
    planned = next(r for r in results if r["status"] == "would-update")
    assert " -> " in planned["changes"]


def test_faults_and_a_tight_rate_limit_still_end_every_row_right(start, cli, tmp_path: Path) -> None:
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    from batchupdate.sandbox import SandboxSettings, start_sandbox

    with start_sandbox(SandboxSettings(db_path=reference_dir / "clean.sqlite3")) as clean:
        sheet = Path(shutil.copy(SAMPLES / "unit-outcomes.csv", tmp_path / "sample.csv"))
        assert cli("run", str(sheet), "--results", str(reference_dir / "r.csv"), url=clean.url).returncode == 0
        wanted = clean.store.snapshot()
    faulty = start(fail_before_write=0.15, fail_after_write=0.15, rate_limit=15, seed=7)

    result = cli("run", str(sheet), "--rate", "auto", url=faulty.url)  # finding the limit is the point

    # Writes get 3 tries each: with 30% of writes failing at random, a row may (rarely) fail all three. It must
    # then say so, and the morning-after re-run of just the failures finishes the job.
    statuses = [r["status"] for r in read_results(tmp_path / "sample.results.csv")]
    assert result.returncode == (1 if "failed" in statuses else 0), result.stdout + result.stderr
    assert set(statuses) <= {"updated", "unchanged", "failed"}
    assert statuses.count("updated") + statuses.count("failed") == 23
    if "failed" in statuses:
        retry = cli("run", str(tmp_path / "sample.results.csv"), "--only", "failed", "--results",
                    str(tmp_path / "retry.csv"), url=faulty.url)  # fmt: skip
        assert {r["status"] for r in read_results(tmp_path / "retry.csv")} <= {"updated", "unchanged"}, retry.stdout
    assert faulty.store.snapshot() == wanted
