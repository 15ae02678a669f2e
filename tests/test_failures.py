"""What the machine throws at a command (unwritable folders, a locked or full disk, a busy port, bad settings, a
corrupt journal) ends in one line naming the file and the fix, and the contract's exit code; never a traceback.

Tests run as root here, where file modes do not stop writes, so the OS's refusals are raised where the tool
meets them (opening a file, creating a folder, syncing to disk), exactly as the OS would raise them.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from batchupdate import __version__
from batchupdate.journal import journal_path
from tests.fakes import UNIT_COLUMNS as HEADER
from tests.fakes import Ran, invoke_cli, write_csv

GOOD_ROW = ["700001", "31001", "BSBWHS411", "C", "", ""]
BAD_ROW = ["700001", "31001", "BSBWHS411", "XX", "", ""]


def invoke(*args: str, env: dict[str, str] | None = None) -> Ran:
    return invoke_cli(args, Path.cwd(), env=env)


def one_line_failure(result: Ran, code: int, *fragments: str) -> None:
    """Exit ``code``, no traceback, an ``Error:`` line holding every fragment."""
    assert result.returncode == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def refuse_opening(monkeypatch: pytest.MonkeyPatch, refused: Callable[[Path], bool], error: OSError) -> None:
    """Path.open raises ``error`` (with the file's name) for the paths ``refused`` picks, as the OS would."""
    real_open = pathlib.Path.open

    def opening(self: Path, *args: Any, **kwargs: Any) -> Any:
        if refused(self):
            raise type(error)(error.errno, error.strerror, str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", opening)


@pytest.fixture
def sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_csv(tmp_path / "term.csv", HEADER, [GOOD_ROW, BAD_ROW])


def test_a_results_file_held_open_by_excel_is_one_line(sheet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows answers a file another program holds open with a sharing violation: PermissionError on open.
    refuse_opening(monkeypatch, lambda path: path.name == "out.csv", PermissionError(errno.EACCES, "Permission denied"))
    one_line_failure(invoke("check", str(sheet), "--results", "out.csv"), 2, "out.csv", "close it in Excel")


def test_a_read_only_working_folder_still_checks_without_a_log(sheet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("batchupdate.logfile._writable", lambda folder: False)
    result = invoke("check", str(sheet))
    assert result.returncode == 1 and "no log is kept" in result.output and "Traceback" not in result.output
    assert not (sheet.parent / "logs").exists()


def test_a_read_only_sheet_folder_names_the_journal_and_the_fix(sheet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = sqlite3.connect

    def connect(path: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if str(path).endswith(".journal.sqlite3"):
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(path, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    result = invoke("run", str(sheet), "--sandbox", "--no-progress")
    one_line_failure(result, 2, str(journal_path(sheet.with_name("term.results.csv"))), "--results")


def test_a_corrupt_journal_names_its_file_and_the_safe_fix(sheet: Path) -> None:
    journal = journal_path(sheet.with_name("term.results.csv"))
    journal.write_bytes(b"this is not a database\x00" * 100)
    result = invoke("run", str(sheet), "--sandbox", "--no-progress")
    one_line_failure(result, 2, str(journal), "move it aside")


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(sheet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = invoke("check", str(sheet), "--results", "out.csv")
    one_line_failure(result, 3, "disk is full", "free some space")
    assert not list(sheet.parent.glob("*.tmp")), "no partial .tmp file is left"


def test_results_onto_the_sheet_itself_are_refused(sheet: Path) -> None:
    result = invoke("run", str(sheet), "--results", str(sheet), "--sandbox", "--no-progress")
    one_line_failure(result, 2, "would overwrite your sheet", "pick another --results path")
    assert "in use by another" not in result.output


def test_a_non_ascii_token_is_one_line_that_does_not_show_it(sheet: Path) -> None:
    env = {"AXCELERATE_URL": "https://college.app.axcelerate.com/api", "AXCELERATE_WS_TOKEN": "ws-token-123"}
    env["AXCELERATE_API_TOKEN"] = "tok\u2019en-secret"  # a curly quote pasted from an email
    result = invoke("plan", str(sheet), "--no-progress", env=env)
    one_line_failure(result, 2, "AXCELERATE_API_TOKEN", "not plain ASCII", "copy the token again")
    assert "en-secret" not in result.output


@pytest.mark.parametrize(("port", "fragment"), [("99999", "99999"), ("0", "0")])
def test_a_port_out_of_range_is_a_usage_error(port: str, fragment: str) -> None:
    result = invoke("sandbox", "--port", port)
    assert result.returncode == 2 and fragment in result.output and "Traceback" not in result.output


def test_a_port_in_use_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = invoke("sandbox", "--port", str(port))
    one_line_failure(result, 2, "already in use", "--port")


def test_a_folder_given_as_a_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sheet = write_csv(tmp_path / "term.csv", HEADER, [GOOD_ROW])
    (tmp_path / "out").mkdir()
    one_line_failure(invoke("check", str(sheet), "--results", "out"), 2, "out")


def test_check_writes_the_results_it_is_asked_for_and_never_points_at_one_it_did_not_write(sheet: Path) -> None:
    many = write_csv(sheet.with_name("many.csv"), HEADER, [BAD_ROW] * 25)
    plain = invoke("check", str(many))
    assert plain.returncode == 1 and "... and 5 more" in plain.output
    assert "results file" not in plain.output and not many.with_name("many.results.csv").exists()

    asked = invoke("check", str(sheet), "--results", "checked.csv")
    assert asked.returncode == 1, asked.output
    lines = (sheet.parent / "checked.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[7] for line in lines[1:]] == ["valid", "invalid"]
    assert "Results: checked.csv" in asked.output


def test_logs_have_a_header_and_a_failed_command_leaves_none(sheet: Path) -> None:
    failed = invoke("check", "missing.csv")
    assert failed.returncode == 2
    assert not list(Path("logs").glob("*.log")), "no empty log file for a command that failed"
    done = invoke("check", str(sheet))
    [log] = Path("logs").glob("*.log")
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith(f"batchupdate {__version__} check {sheet}"), lines[0]
    rows = [line for line in lines if " row " in line]
    assert rows and all("term.csv row" in line for line in rows), "every row line names its sheet"
    assert f"Log: {log}" in done.output


def test_nightly_takes_no_progress_and_a_misused_nightly_still_prints_its_json_line(tmp_path: Path) -> None:
    result = invoke("nightly", str(tmp_path / "nowhere"), "--no-progress")
    assert result.returncode == 2 and "No such option" not in result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["exit"] == 2
    misused = invoke("nightly", str(tmp_path), "--settle-seconds", "soon")
    assert misused.returncode == 2
    line = json.loads(misused.stdout.strip().splitlines()[0])
    assert line["inbox"] == str(tmp_path) and line["exit"] == 2 and "soon" in line["error"]


def test_a_stopped_run_says_its_cause_first_and_the_rows_not_attempted_in_one_line(
    cli, sandbox, tmp_path: Path
) -> None:
    rows = [[700001 + n, 31001, "BSBWHS411", "C", "", ""] for n in range(30)]
    sheet = write_csv(tmp_path / "many.csv", HEADER, rows)
    wrong = {"AXCELERATE_API_TOKEN": "not-the-token", "AXCELERATE_WS_TOKEN": "nor-this-one"}

    result = cli("run", str(sheet), url=sandbox.url, env=wrong)

    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.splitlines()[0].startswith("Run stopped: aXcelerate refused the credentials")
    assert "check AXCELERATE_API_TOKEN" in result.stderr.splitlines()[0]
    assert "run the same command again to resume" in result.stderr
    assert result.stdout.count("not attempted") == 1 and "rows 2-31: skipped" in result.stdout


def test_a_run_whose_results_file_is_open_in_excel_sends_nothing_and_leaves_no_journal(
    sheet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = sheet.with_name("term.results.csv")
    refuse_opening(monkeypatch, lambda path: path == results, PermissionError(errno.EACCES, "Permission denied"))
    result = invoke("run", str(sheet), "--sandbox", "--no-progress")
    one_line_failure(result, 2, "term.results.csv", "close it in Excel")
    assert not journal_path(results).exists()


def test_a_disk_that_fills_during_a_run_stops_it_in_one_line_and_keeps_the_journal(
    sheet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the results file's final rewrite meets a full disk
    result = invoke("run", str(sheet), "--sandbox", "--no-progress")
    one_line_failure(result, 3, "disk is full", "the journal keeps what was done")
    assert journal_path(sheet.with_name("term.results.csv")).exists(), "the same command resumes"
    assert not list(sheet.parent.glob("*.tmp"))
