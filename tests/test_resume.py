"""Crash safety: kill the real CLI (SIGKILL) mid-run against the sandbox, run it again, and check nothing is lost
or repeated."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from batchupdate.journal import journal_path
from batchupdate.sandbox import RunningSandbox
from tests.fakes import KILLABLE_RUN as COMMAND
from tests.fakes import UNIT_COLUMNS as HEADER
from tests.fakes import UNIT_PUT as PUT
from tests.fakes import kill_when, known, read_results, rows_to_change, start_cli, write_csv

GET = ("GET", "/course/enrolments")


def test_killed_three_times_the_run_still_ends_right_and_never_repeats_a_finished_row(
    start, cli, tmp_path: Path
) -> None:
    sandbox: RunningSandbox = start(latency=0.01)
    chosen = rows_to_change(sandbox.store, 150)
    assert len(chosen) == 150
    originals = {unit.record_id: unit for unit, _ in chosen}
    sheet = write_csv(tmp_path / "big.csv", HEADER, [row for _, row in chosen])
    results_path = tmp_path / "big.results.csv"
    stats = sandbox.stats

    # 1: while ids are still being looked up; 2 and 3: in the middle of the writes.
    kill_when(start_cli(sheet, sandbox.url), lambda: stats.count(*GET) >= 1)
    kill_when(start_cli(sheet, sandbox.url), lambda: stats.count(*PUT) >= 40)
    assert journal_path(results_path).exists(), "a killed run leaves its journal"
    kept = read_results(results_path)
    assert kept and all(line["status"] == "updated" for line in kept), "lines were flushed as rows finished"
    kill_when(start_cli(sheet, sandbox.url), lambda: stats.count(*PUT) >= 100)

    final = cli(*COMMAND[:1], str(sheet), *COMMAND[1:], url=sandbox.url)

    assert final.returncode == 0, final.stdout + final.stderr
    assert "Resumed an interrupted run" in final.stdout
    results = read_results(results_path)
    assert [line["row"] for line in results] == [str(n) for n in range(2, 152)], "complete and in input order"
    assert {line["status"] for line in results} == {"updated"}
    for (unit, _), line in zip(chosen, results, strict=True):
        # Before-values are those of the first run, not what a re-read after the kill showed.
        assert line["before_outcome"] == (unit.outcome_code or ""), line
        assert sandbox.store.unit_enrolment(unit.contact_id, unit.class_id, unit.unit_id) == {
            "outcome_code": "70",
            "start_date": unit.start_date,
            "end_date": "2026-06-30",
        }
    puts = Counter(
        (params["contactid"], params["instanceid"], params["programinstanceid"])
        for method, path, params in stats.log
        if (method, path) == PUT
    )
    assert len(puts) == len(originals)
    repeats = sum(count - 1 for count in puts.values())
    # Only a write in flight at a kill (at most --concurrency 4 per kill) may be sent again.
    assert repeats <= 8, puts
    assert stats.writes_applied == 150
    assert not journal_path(results_path).exists(), "a finished run removes its journal"

    again = cli(*COMMAND[:1], str(sheet), *COMMAND[1:], url=sandbox.url)
    assert again.returncode == 0 and "Resumed" not in again.stdout
    assert stats.count(*PUT) == sum(puts.values()), "a finished sheet run again sends nothing"


def test_rows_changed_in_the_sheet_after_a_crash_are_treated_as_new(start, cli, tmp_path: Path) -> None:
    sandbox: RunningSandbox = start(latency=0.01)
    chosen = rows_to_change(sandbox.store, 60)
    sheet = write_csv(tmp_path / "s.csv", HEADER, [row for _, row in chosen])
    kill_when(start_cli(sheet, sandbox.url), lambda: sandbox.stats.count(*PUT) >= 30)
    done = read_results(tmp_path / "s.results.csv")
    first_done = int(done[0]["row"]) - 2
    unit, row = chosen[first_done]
    row[3] = "CNA"  # the trainer corrects a row that the killed run had already applied
    write_csv(sheet, HEADER, [r for _, r in chosen])

    final = cli(*COMMAND[:1], str(sheet), *COMMAND[1:], url=sandbox.url)

    assert final.returncode == 0, final.stdout + final.stderr
    line = read_results(tmp_path / "s.results.csv")[first_done]
    assert line["status"] == "updated" and line["outcome"] == "CNA"
    assert known(sandbox.store.unit_enrolment(unit.contact_id, unit.class_id, unit.unit_id))["outcome_code"] == "30"
