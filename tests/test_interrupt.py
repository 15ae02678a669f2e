"""The record of an interrupted run is never lost: Ctrl-C, a kill followed by a changed sheet, a write still in the
air at the kill. Each drives the real CLI in a subprocess against the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from batchupdate.client import Api
from batchupdate.config import Connection
from batchupdate.journal import Journal, journal_path, record_key
from batchupdate.pacing import Pacer, RetryPolicy
from batchupdate.pipeline import RUN, Job, Report, execute
from batchupdate.progress import Progress
from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, RunningSandbox
from batchupdate.status import Status
from tests.fakes import KILLABLE_RUN as COMMAND
from tests.fakes import UNIT_COLUMNS as HEADER
from tests.fakes import UNIT_PUT as PUT
from tests.fakes import (
    FakeClock,
    LocalSandbox,
    cli_env,
    kill_when,
    known,
    read_results,
    rows_to_change,
    start_cli,
    write_csv,
)


def puts_per_record(sandbox: RunningSandbox) -> Counter[tuple[str, str, str]]:
    return Counter(
        (params["contactid"], params["instanceid"], params["programinstanceid"])
        for method, path, params in sandbox.stats.log
        if (method, path) == PUT
    )


def wait_until(reached: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not reached():
        assert time.monotonic() < deadline, "never reached"
        time.sleep(0.005)


def test_ctrl_c_marks_the_rows_not_reached_writes_every_row_and_a_rerun_resumes(start, cli, tmp_path: Path) -> None:
    sandbox: RunningSandbox = start(latency=0.03)  # slowed, so Ctrl-C lands mid-run
    chosen = rows_to_change(sandbox.store, 80)
    sheet = write_csv(tmp_path / "term.csv", HEADER, [row for _, row in chosen])
    results_path = tmp_path / "term.results.csv"

    process = start_cli(sheet, sandbox.url)
    wait_until(lambda: sandbox.stats.count(*PUT) >= 15)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    assert "Run stopped: the run was interrupted" in stderr and "run the same command again to resume" in stderr
    lines = read_results(results_path)
    assert [line["row"] for line in lines] == [str(n) for n in range(2, 82)], "one line per input row, in order"
    statuses = Counter(line["status"] for line in lines)
    assert statuses["updated"] >= 15 and statuses["skipped"] >= 1, statuses
    assert set(statuses) <= {"updated", "skipped"}, "writes on their way were let finish, so each row is settled"
    skipped = [line for line in lines if line["status"] == "skipped"]
    assert {line["error"] for line in skipped} == {"not attempted: the run was interrupted"}
    assert "not attempted, as the run stopped" in stdout and stdout.count("not attempted") == 1, "one line, not 20"
    assert journal_path(results_path).exists()
    written_before = sandbox.stats.count(*PUT)

    again = cli(*COMMAND[:1], str(sheet), *COMMAND[1:], url=sandbox.url)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "Resumed an interrupted run" in again.stdout
    assert {line["status"] for line in read_results(results_path)} == {"updated"}
    assert max(puts_per_record(sandbox).values()) == 1, "no row written twice"
    assert sandbox.stats.count(*PUT) - written_before == statuses["skipped"]


def test_a_resume_after_the_sheet_changed_keeps_the_true_before_values_and_undo_restores_them(
    start, cli, tmp_path: Path
) -> None:
    sandbox: RunningSandbox = start(latency=0.01)
    # Records that hold an outcome and an end date, so an undo sheet can put every before-value back.
    chosen = [(unit, row) for unit, row in rows_to_change(sandbox.store, 999) if unit.outcome_code and unit.end_date]
    chosen = chosen[:40]
    assert len(chosen) == 40
    sheet = write_csv(tmp_path / "s.csv", HEADER, [row for _, row in chosen])
    kill_when(start_cli(sheet, sandbox.url), lambda: sandbox.stats.count(*PUT) >= 20)
    killed_run = read_results(tmp_path / "s.results.csv")
    assert killed_run and {line["status"] for line in killed_run} == {"updated"}
    # The trainer adds a column before running it again: every row's cells differ from the journal's.
    write_csv(sheet, [*HEADER, "note"], [[*row, "checked"] for _, row in chosen])

    final = cli(*COMMAND[:1], str(sheet), *COMMAND[1:], url=sandbox.url)

    assert final.returncode == 0, final.stdout + final.stderr
    kept = [path for path in tmp_path.glob("s.results.*.csv")]
    assert len(kept) == 1 and "Earlier results kept as" in final.stdout
    assert read_results(kept[0]) == killed_run, "the killed run's record, as it was"
    lines = read_results(tmp_path / "s.results.csv")
    assert [line["status"] for line in lines] == ["updated"] * 40, "written before the kill: updated, not unchanged"
    for (unit, _), line in zip(chosen, lines, strict=True):
        assert line["before_outcome"] == (unit.outcome_code or ""), line
        assert line["before_end_date"] == (unit.end_date or ""), line
    assert max(puts_per_record(sandbox).values()) <= 2

    undo = cli("undo", str(tmp_path / "s.results.csv"))
    assert undo.returncode == 0, undo.stdout + undo.stderr
    restored = cli(*COMMAND[:1], str(tmp_path / "s.results.undo.csv"), *COMMAND[1:], url=sandbox.url)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    for unit, _ in chosen:
        held = known(sandbox.store.unit_enrolment(unit.contact_id, unit.class_id, unit.unit_id))
        assert (held["outcome_code"], held["end_date"]) == (unit.outcome_code, unit.end_date), unit


def test_a_write_still_in_the_air_at_the_kill_is_not_sent_again(start, tmp_path: Path) -> None:
    sandbox: RunningSandbox = start(late_landing=1.5)  # every write is held 1.5 s, then applied
    chosen = rows_to_change(sandbox.store, 12)
    sheet = write_csv(tmp_path / "late.csv", HEADER, [row for _, row in chosen])
    stats = sandbox.stats
    kill_when(
        start_cli(sheet, sandbox.url), lambda: stats.count(*PUT) >= 2 and stats.count(*PUT) > stats.writes_applied
    )
    assert stats.count(*PUT) > stats.writes_applied, "killed while a write was still in the air"

    # The same command at once: it waits out the killed run's --timeout (5 s) before re-reading those records.
    report = asyncio.run(resume(sheet, sandbox.url, timeout=3.0))
    time.sleep(2.0)  # anything still in the air lands now

    assert [result.status for result in report.results] == [Status.UPDATED] * 12
    assert max(puts_per_record(sandbox).values()) == 1, "the stuck writes landed and were not sent again"
    for (unit, _), result in zip(chosen, report.results, strict=True):
        assert result.found["before_outcome"] == (unit.outcome_code or "")


async def resume(sheet: Path, url: str, *, timeout: float) -> Report:
    connection = Connection(url, SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, sandbox=True)
    async with connection.http_client(concurrency=4, timeout=timeout) as http:
        api = Api(http, pacer=Pacer(ceiling=80, adaptive=False), policy=RetryPolicy(timeout=timeout), concurrency=4)
        return await execute(Job(sheet, RUN), api)


def test_ctrl_c_during_the_lookups_stops_at_once_with_nothing_written(start, cli, tmp_path: Path) -> None:
    sandbox: RunningSandbox = start(latency=0.5)
    sheet = write_csv(tmp_path / "early.csv", HEADER, [row for _, row in rows_to_change(sandbox.store, 30)])

    process = start_cli(sheet, sandbox.url)
    wait_until(lambda: any(method == "GET" for method, _, _ in sandbox.stats.log))
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr and "run the same command again to resume" in stderr
    lines = read_results(tmp_path / "early.results.csv")
    assert len(lines) == 30 and {line["error"] for line in lines} == {"not attempted: the run was interrupted"}
    assert sandbox.stats.count(*PUT) == 0


def test_a_nightly_retry_resumes_the_sheet_from_its_journal(start, tmp_path: Path) -> None:
    sandbox: RunningSandbox = start(latency=0.03)
    chosen = rows_to_change(sandbox.store, 60)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_csv(inbox / "night.csv", HEADER, [row for _, row in chosen])
    command = [sys.executable, "-m", "batchupdate", "nightly", str(inbox), "--settle-seconds", "0"]

    first = subprocess.Popen(command, cwd=tmp_path, env=cli_env(sandbox.url), stdout=subprocess.PIPE, text=True)
    wait_until(lambda: sandbox.stats.count(*PUT) >= 15)
    first.send_signal(signal.SIGINT)
    stdout, _ = first.communicate(timeout=60)
    assert first.returncode == 3 and json.loads(stdout.strip().splitlines()[-1])["aborted"] is True
    assert (inbox / "night.csv").exists(), "left in the inbox for the next night"
    partial = inbox / "archive" / "in-progress" / "night.results.csv"
    assert journal_path(partial).exists()

    second = subprocess.run(
        command, cwd=tmp_path, env=cli_env(sandbox.url), capture_output=True, text=True, timeout=120
    )

    assert second.returncode == 0, second.stdout + second.stderr
    [archived] = (inbox / "archive").glob("*/night.results.csv")
    lines = read_results(archived)
    assert [line["status"] for line in lines] == ["updated"] * 60, "rows of the first night: updated, not unchanged"
    for (unit, _), line in zip(chosen, lines, strict=True):
        assert line["before_outcome"] == (unit.outcome_code or ""), line
    assert max(puts_per_record(sandbox).values()) == 1
    assert not journal_path(partial).exists() and not partial.exists()


def test_a_journal_partly_lost_never_costs_the_killed_runs_record(start, cli, tmp_path: Path) -> None:
    sandbox: RunningSandbox = start(latency=0.01)
    sheet = write_csv(tmp_path / "s.csv", HEADER, [row for _, row in rows_to_change(sandbox.store, 40)])
    kill_when(start_cli(sheet, sandbox.url), lambda: sandbox.stats.count(*PUT) >= 20)
    killed_run = read_results(tmp_path / "s.results.csv")
    # Part of the journal is lost (a restore from an older backup, a sync client's copy): half its lines.
    with sqlite3.connect(journal_path(tmp_path / "s.results.csv")) as journal:
        for table in ("rows", "records"):
            journal.execute(f"DELETE FROM {table} WHERE line % 2 = 0")

    final = cli(*COMMAND[:1], str(sheet), *COMMAND[1:], url=sandbox.url)

    assert final.returncode == 0, final.stdout + final.stderr
    [kept] = tmp_path.glob("s.results.*.csv")
    assert f"Earlier results kept as: {kept}" in final.stdout
    assert read_results(kept) == killed_run, "the only record of those rows' before-values, kept as it was"


@pytest.mark.parametrize(
    ("sent_with", "waited"),
    [(None, 25.0), (20.0, 15.0)],
    ids=["the default 30 s timeout", "the killed run's --timeout 20, not this run's 30"],
)
def test_the_resume_waits_out_the_request_timeout_since_a_write_in_flight_was_sent(
    tmp_path: Path, local: LocalSandbox, sent_with: float | None, waited: float
) -> None:
    """On a fake clock: the journal says a write left 5 s ago with a 30 s (or 20 s) timeout; the resume waits
    25 s (or 15 s), says so, then re-reads, finds the write landed, and reports it updated with the journal's
    before-values. The wait is by the timeout the write was sent with, whatever this run's own."""
    sheet = write_csv(tmp_path / "s.csv", [*HEADER, "notes"], [["700001", "31001", "BSBTWK401", "C", "", "", ""]])
    held = local.store.find_unit_enrolment(700001, 31001, unit_code="BSBTWK401")
    assert held is not None and held.outcome_code == "70"
    local.store.update_unit_enrolment(held.record_id, {"outcome_code": "20"})  # the write landed after the kill
    journal = Journal.open(sheet.with_name("s.results.csv"))
    sent = dt.datetime(2026, 3, 1, 9, 30).timestamp() - 5
    before = {"before_outcome": "70", "unit_enrolment_id": str(held.record_id)}
    record = record_key("units", (700001, 31001, held.unit_id))
    if sent_with is None:
        journal.writing(2, "cells then", record, [], before, sent)
    else:
        journal.writing(2, "cells then", record, [], before, sent, sent_with)
    journal.finish(complete=False)
    waits: list[float] = []

    class Told(Progress):
        def notice(self, message: str) -> None:
            if "write(s) of the interrupted run" in message:
                waits.append(-1.0)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    api = local.api(FakeClock())
    report = asyncio.run(
        execute(Job(sheet, RUN), api, progress=Told(), now=lambda: dt.datetime(2026, 3, 1, 9, 30), sleep=sleep)
    )

    assert api.policy.timeout == 30.0
    assert waits == [-1.0, waited], "shown on screen, then waited"
    [result] = report.results
    assert result.status == Status.UPDATED and result.found["before_outcome"] == "70"
    assert local.stats.count("PUT", "/course/enrolment") == 0, "not sent again"


def test_a_journal_left_by_a_version_before_timeout_is_read_with_the_default(tmp_path: Path) -> None:
    """A run killed under the previous version left a journal without the timeout column: it still resumes,
    its writes in flight waited out by the 30 s they were sent with."""
    path = journal_path(tmp_path / "s.results.csv")
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.execute(
            "CREATE TABLE records (record TEXT PRIMARY KEY, line INTEGER NOT NULL, state TEXT NOT NULL,"
            " status TEXT NOT NULL DEFAULT '', changes TEXT NOT NULL, found TEXT NOT NULL, sent_at REAL NOT NULL)"
        )
        old.execute("INSERT INTO records VALUES ('units:[\"1\"]', 2, 'writing', '', '[]', '{}', 1000.0)")
        old.commit()

    journal = Journal.open(tmp_path / "s.results.csv")
    [written] = journal.records().values()
    journal.finish(complete=False)

    assert (written.sent_at, written.timeout, written.settled_by) == (1000.0, 30.0, 1030.0)
