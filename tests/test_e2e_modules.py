"""End to end: the real CLI against the real sandbox over loopback, for learning-plan module sheets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from batchupdate.sandbox import RunningSandbox
from batchupdate.sandbox.settings import READINGS
from tests.conftest import read_results, write_csv

PUT = ("PUT", "/v2/learningPlan/modules/enrolments")
REPORT = ("POST", "/report/run")
HEADER = ["Contact ID", "Class ID", "Module Name", "Access", "Start Date", "End Date", "why"]


def open_modules(sandbox: RunningSandbox) -> list:
    """Module enrolments the default report filter sees (Enrolled or In Progress), one per student."""
    seen: set[int] = set()
    chosen = []
    for module in sandbox.store.module_enrolments():
        if module.status_id in (1, 2) and module.contact_id not in seen:
            seen.add(module.contact_id)
            chosen.append(module)
    return chosen


def report_rows(sandbox: RunningSandbox, contacts: set[int], classes: set[int]) -> int:
    """Rows the default report filter holds for these students in these classes."""
    return sum(
        1
        for m in sandbox.store.module_enrolments()
        if m.status_id in (1, 2) and m.contact_id in contacts and m.class_id in classes
    )


def fewest_reports(reading: str, rows: int) -> int:
    """Report runs the reading allows at the fewest: one, or one per capped answer's worth of rows."""
    cap = READINGS[reading].get("report_row_cap")
    return 1 if cap is None else max(1, math.ceil(rows / cap))


@pytest.mark.parametrize("reading", list(READINGS))
def test_module_sheet_unlocks_locks_clears_and_redates_exactly(reading: str, start, run_cli, tmp_path: Path) -> None:
    sandbox = start(**READINGS[reading])
    cli = run_cli
    access_known = READINGS[reading].get("report_access_field", True)
    reply_proves = READINGS[reading].get("write_reply", "documented") == "documented"
    modules = open_modules(sandbox)
    unlock = next(m for m in modules if m.access_override is not True)
    lock = next(m for m in modules if m.access_override is not False and m is not unlock)
    clear = next(m for m in modules if m.access_override is not None and m not in (unlock, lock))
    dates = next(m for m in modules if m not in (unlock, lock, clear))
    odd_name = next(m for m in modules if m.access_override is not True and m not in (unlock, lock, clear, dates))
    already = next(m for m in modules if m.access_override is True and m not in (unlock, lock, clear, dates, odd_name))
    unknown = next(m for m in modules if m not in (unlock, lock, clear, dates, odd_name, already))
    bad_word = unknown
    before = sandbox.store.snapshot()
    shouted = "  " + "  ".join(odd_name.module_name.upper().split(" ")) + " "
    rows = [
        [unlock.contact_id, unlock.class_id, unlock.module_name, "Unlocked", "02/03/2026", "16/03/2026", "unlock"],
        [lock.contact_id, lock.class_id, lock.module_name, "LOCKED", "", "", "lock"],
        [clear.contact_id, clear.class_id, clear.module_name, " clear ", "", "", "clear"],
        [dates.contact_id, dates.class_id, dates.module_name, "", "2026-05-04", "2026-05-29", "dates"],
        [odd_name.contact_id, odd_name.class_id, shouted, "unlocked", "", "", "odd name"],
        [unknown.contact_id, unknown.class_id, "Module 99 - Basket Weaving", "unlocked", "", "", "unknown"],
        [bad_word.contact_id, bad_word.class_id, bad_word.module_name, "open", "", "", "bad word"],
        [already.contact_id, already.class_id, already.module_name, "unlocked", "", "", "already"],
    ]
    sheet = write_csv(tmp_path / "modules.csv", HEADER, rows)

    first = cli("run", str(sheet), url=sandbox.url)

    assert first.returncode == 1, first.stdout + first.stderr
    results = {r["why"]: r for r in read_results(tmp_path / "modules.results.csv")}
    # When neither the write's answer nor the report can show an access override, a row setting one cannot be
    # known to be applied: it fails saying so (though the sandbox did apply it).
    access_written = "updated" if access_known or reply_proves else "failed"
    assert {why: r["status"] for why, r in results.items()} == {
        "unlock": access_written,
        "lock": access_written,
        "clear": access_written,
        "dates": "updated",
        "odd name": access_written,
        "unknown": "failed",
        "bad word": "invalid",
        # Without an access field the report cannot show the override is already unlocked: the row is sent.
        "already": "unchanged" if access_known else access_written,
    }
    if access_written == "failed":
        assert "cannot be read back" in results["lock"]["error"]
    assert results["lock"]["before_access"] == ("unlocked" if lock.access_override else "none") or not access_known
    assert results["already"]["before_access"] == ("unlocked" if access_known else "unknown")
    assert "Module 99 - Basket Weaving" in results["unknown"]["error"]
    assert unknown.module_name in results["unknown"]["error"], "the hint lists the student's modules"
    assert "use unlocked, locked or clear" in results["bad word"]["error"]
    store = sandbox.store
    assert store.module_enrolment(unlock.module_enrolment_id)["access_override"] is True
    assert store.module_enrolment(unlock.module_enrolment_id)["start_date"] == "2026-03-02"
    assert store.module_enrolment(unlock.module_enrolment_id)["end_date"] == "2026-03-16"
    assert store.module_enrolment(lock.module_enrolment_id)["access_override"] is False
    assert store.module_enrolment(clear.module_enrolment_id)["access_override"] is None
    assert store.module_enrolment(dates.module_enrolment_id)["start_date"] == "2026-05-04"
    assert store.module_enrolment(odd_name.module_enrolment_id)["access_override"] is True
    changed = {k for k, v in store.snapshot()["modules"].items() if before["modules"][k] != v}
    assert changed == {m.module_enrolment_id for m in (unlock, lock, clear, dates, odd_name)}
    writes = [params for method, path, params in sandbox.stats.log if (method, path) == PUT]
    sent_writes = 5 if access_known else 6
    assert len(writes) == sent_writes
    assert all(params.get("usecache") == "false" for params in writes)
    clear_write = next(p for p in writes if p["moduleenrolmentid"] == str(clear.module_enrolment_id))
    assert clear_write["accessoverride"] == "", "clear sends an empty accessOverride"
    dates_write = next(p for p in writes if p["moduleenrolmentid"] == str(dates.module_enrolment_id))
    assert "accessoverride" not in dates_write, "a blank access cell leaves the override alone"
    rows = report_rows(sandbox, {row[0] for row in rows}, {row[1] for row in rows})
    runs = sandbox.stats.count(*REPORT)
    # The fewest: one field list, the report runs the reading allows, the writes, and (where a write's answer
    # proves nothing) one report re-read per write until three answers of that shape are confirmed; with no
    # access field either, an access write can never be confirmed, so each write is re-read.
    rereads = 0 if reply_proves else sent_writes if not access_known else min(sent_writes, 3)
    fewest = 1 + fewest_reports(reading, rows) + sent_writes + rereads
    if reading == "fastest":
        assert runs == 1, "one report run for the whole sheet"
    assert runs + 1 + sent_writes <= 1.2 * fewest, (runs, fewest)

    second = cli("run", str(sheet), url=sandbox.url)

    assert second.returncode == 1  # the unknown module and the bad word are still wrong
    # Re-running sends nothing, but where the report cannot show the override every row that sets it is sent.
    resent = 0 if access_known else 5
    assert sandbox.stats.count(*PUT) == sent_writes + resent, "re-running sends nothing it can know is done"
    again = [r["status"] for r in read_results(tmp_path / "modules.results.csv")]
    assert again.count("unchanged") == (6 if access_known else 1)


def test_report_runs_are_one_per_chunk_of_students(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    modules = open_modules(sandbox)
    rows = [[m.contact_id, m.class_id, m.module_name, "", "", "2026-12-18", "bulk"] for m in modules]
    sheet = write_csv(tmp_path / "bulk.csv", HEADER, rows)

    result = cli("plan", str(sheet), url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(rows) > 30
    assert sandbox.stats.count(*REPORT) == 1  # fewer than 100 students: one chunk
    assert sandbox.stats.count(*PUT) == 0
    assert {r["status"] for r in read_results(tmp_path / "bulk.results.csv")} <= {"would-update", "unchanged"}


def test_unknown_module_status_is_a_usage_error_listing_the_valid_ones(sandbox: RunningSandbox, cli, tmp_path: Path):
    module = open_modules(sandbox)[0]
    sheet = write_csv(
        tmp_path / "m.csv", HEADER, [[module.contact_id, module.class_id, module.module_name, "locked", "", "", ""]]
    )

    result = cli("run", str(sheet), "--module-status", "Enrolled,Finished", url=sandbox.url)

    assert result.returncode == 2
    assert "Finished" in result.stderr and "In Progress" in result.stderr
    assert sandbox.stats.count(*PUT) == 0


def test_completed_modules_are_reached_with_module_status(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    done = next(m for m in sandbox.store.module_enrolments() if m.status_id == 3)
    sheet = write_csv(
        tmp_path / "m.csv", HEADER, [[done.contact_id, done.class_id, done.module_name, "", "", "2026-12-24", ""]]
    )

    default = cli("run", str(sheet), url=sandbox.url)
    assert default.returncode == 1
    assert read_results(tmp_path / "m.results.csv")[0]["status"] == "failed"  # a completed module is not matched

    widened = cli("run", str(sheet), "--module-status", "completed", url=sandbox.url)

    assert widened.returncode == 0, widened.stdout + widened.stderr
    assert sandbox.store.module_enrolment(done.module_enrolment_id)["end_date"] == "2026-12-24"
