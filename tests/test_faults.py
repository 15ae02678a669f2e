"""Faults scripted through the sandbox's hook, met by the real CLI (in-process, tests.fakes.invoke_cli) as a user
would: what shows on screen, what the results file holds, and that running the same command again goes on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from batchupdate.cli.sheets import _Bar
from batchupdate.client import SLOW_DOWN
from batchupdate.sandbox import RunningSandbox, Store
from batchupdate.sandbox.faults import ScriptedFault, fail_every_write, throttle_first
from tests.fakes import Ran, invoke_cli, read_results, write_csv

HEADER = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date"]
PUT = ("PUT", "/course/enrolment")


def changing_rows(store: Store, count: int) -> list[list[object]]:
    """Rows of classes 31001-31003 (fresh seed) that each set an outcome where there is none, one per student."""
    rows: list[list[object]] = []
    for class_id in (31001, 31002, 31003):
        enrolments = store.program_enrolments(contact_id=None, class_id=class_id, program_id=None, offset=0, limit=999)
        taken = set()
        for unit in store.unit_enrolments_of([enrolment.enrol_id for enrolment in enrolments]):
            if unit.contact_id not in taken and unit.outcome_code is None and not unit.start_date:
                taken.add(unit.contact_id)
                rows.append([unit.contact_id, class_id, unit.unit_code, "CA", "", ""])
    assert len(rows) >= count
    return rows[:count]


def run(folder: Path, sandbox: RunningSandbox, *args: str, monkeypatch: pytest.MonkeyPatch) -> Ran:
    """`batchupdate run ARGS` in ``folder`` against the sandbox, as a user would type it."""
    monkeypatch.chdir(folder)
    return invoke_cli(["run", *args, "--no-progress", "--rate", "200"], folder, sandbox.url)


def puts(sandbox: RunningSandbox) -> Counter[str]:
    return Counter(fields["contactid"] for method, path, fields in sandbox.stats.log if (method, path) == PUT)


def test_a_server_failing_every_write_stops_the_run_and_the_same_command_goes_on_later(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = write_csv(tmp_path / "outcomes.csv", HEADER, changing_rows(sandbox.store, 40))
    sandbox.script.add(fail_every_write(500))

    stopped = run(tmp_path, sandbox, str(sheet), "--concurrency", "4", monkeypatch=monkeypatch)

    shown = stopped.stdout + stopped.stderr
    assert stopped.returncode == 3, shown
    assert shown.count("10 writes in a row failed with server errors or no answer") == 1, shown  # told once
    assert "Run stopped: 10 writes in a row failed" in stopped.stderr
    assert "run the same command again to resume" in stopped.stderr
    results = read_results(tmp_path / "outcomes.results.csv")
    assert [line["row"] for line in results] == [str(n) for n in range(2, 42)]  # every row, in order
    statuses = Counter(line["status"] for line in results)
    assert 10 <= statuses["failed"] <= 13 and statuses["failed"] + statuses["skipped"] == 40
    not_reached = [int(line["row"]) for line in results if line["status"] == "skipped"]
    shown_rows = f"rows {not_reached[0]}-{not_reached[-1]}" if len(not_reached) > 1 else f"row {not_reached[0]}"
    assert f"{shown_rows}: skipped: not attempted, as the run stopped" in stopped.stdout  # one line for them all
    assert sum(puts(sandbox).values()) <= 3 * statuses["failed"]  # was: 6 per row, for every row
    assert sandbox.stats.writes_applied == 0

    sandbox.script.clear()  # aXcelerate is back
    sandbox.stats.reset()
    again = run(tmp_path, sandbox, str(sheet), "--concurrency", "4", monkeypatch=monkeypatch)
    assert again.returncode == 1, again.stdout + again.stderr  # the failed rows stay failed, the rest are done
    assert "Resumed an interrupted run" in again.stdout
    results = read_results(tmp_path / "outcomes.results.csv")
    assert Counter(line["status"] for line in results) == {"failed": statuses["failed"], "updated": statuses["skipped"]}

    failed = run(tmp_path, sandbox, str(tmp_path / "outcomes.results.csv"), "--only", "failed",
                 "--results", str(tmp_path / "retry.csv"), monkeypatch=monkeypatch)  # fmt: skip
    assert failed.returncode == 0, failed.stdout + failed.stderr
    assert {line["status"] for line in read_results(tmp_path / "retry.csv")} == {"updated"}
    assert sandbox.stats.writes_applied == 40 and set(puts(sandbox).values()) == {1}  # each sent once since


@pytest.mark.parametrize("retry_after", [None, "1"], ids=["4 without Retry-After", "1 with Retry-After: 1"])
def test_early_429s_cost_a_run_nothing_but_time(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retry_after: str | None
) -> None:
    sheet = write_csv(tmp_path / "outcomes.csv", HEADER, changing_rows(sandbox.store, 30))
    sandbox.script.add(throttle_first(4 if retry_after is None else 1, retry_after=retry_after))

    result = run(tmp_path, sandbox, str(sheet), monkeypatch=monkeypatch)

    assert result.returncode == 0, result.stdout + result.stderr
    assert sandbox.stats.throttled == (4 if retry_after is None else 1)
    assert {line["status"] for line in read_results(tmp_path / "outcomes.results.csv")} == {"updated"}
    assert sandbox.stats.writes_applied == 30 and set(puts(sandbox).values()) == {1}


def test_a_long_wait_shows_one_line_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    _Bar(enabled=False, label="run").waiting(25.0, SLOW_DOWN)
    assert capsys.readouterr().err == "waiting 25 s: aXcelerate asked to slow down (429)\n"


def test_a_write_not_answered_within_the_timeout_is_re_read_and_sent_again(start, cli, tmp_path: Path) -> None:
    """--timeout is how long each request waits: a write held 8 s by the server is given up after 5 s, its record
    re-read (not changed), and the write sent again: the row ends `updated`, and the log says why it was retried."""
    sandbox: RunningSandbox = start()
    rows = changing_rows(sandbox.store, 3)
    sheet = write_csv(tmp_path / "slow.csv", HEADER, rows)
    sandbox.script.add(ScriptedFault(method="PUT", contact=int(str(rows[0][0])), delay=8.0))

    ran = cli("run", str(sheet), "--no-progress", "--rate", "200", "--timeout", "5", url=sandbox.url)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert [line["status"] for line in read_results(tmp_path / "slow.results.csv")] == ["updated"] * 3
    [log] = (tmp_path / "logs").glob("*.log")
    assert "no answer from aXcelerate (ReadTimeout); trying the write of row 2 again" in log.read_text()
    held = sandbox.store.find_unit_enrolment(int(str(rows[0][0])), int(str(rows[0][1])), unit_code=str(rows[0][2]))
    assert held is not None and held.outcome_code == "70"  # CA, as the sheet asks


def test_a_timeout_shorter_than_a_write_can_take_is_refused_in_one_line(cli, tmp_path: Path) -> None:
    """Under 5 s a write that aXcelerate is still applying would be given up on and sent again: refused."""
    ran = cli("run", "any.csv", "--timeout", "2")
    assert ran.returncode == 2 and "'--timeout': 2.0 is not in the range 5<=x<=600" in ran.stderr, ran.stderr
    ran = cli("run", "any.csv", "--timeout", "abc")
    assert ran.returncode == 2 and "'abc' is not a number of seconds; give e.g. 30" in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr
