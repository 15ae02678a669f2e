"""The nightly job: the real CLI on a real inbox folder against the real sandbox over loopback."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import openpyxl

from batchupdate.locks import hold_lock
from batchupdate.morning_report import HAD_PROBLEMS, NightlyReport, ProblemRow, SheetOutcome, render_markdown
from batchupdate.nightly import LEDGER_NAME, scan_inbox
from batchupdate.sandbox import RunningSandbox, Store
from tests.fakes import SAMPLES, Ran, read_results, units_of, write_csv

PUT_UNITS = ("PUT", "/course/enrolment")
PUT_MODULES = ("PUT", "/v2/learningPlan/modules/enrolments")
UNIT_HEADER = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date", "note"]
JUNK = b"\x00\x01\x02\xffnot a spreadsheet\x00" * 40


def nightly(cli, inbox: Path, *args: str, url: str | None = None, env: dict[str, str] | None = None):
    return cli("nightly", str(inbox), "--settle-seconds", "0", *args, url=url, env=env)


def summary_of(result: Ran) -> dict:
    """The JSON line: the last line of stdout, and the only thing on it."""
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    return json.loads(lines[-1])


def drop(inbox: Path, name: str, content: bytes | Path, age_seconds: float) -> Path:
    """Put a file in the inbox as if it arrived ``age_seconds`` ago."""
    inbox.mkdir(exist_ok=True)
    path = inbox / name
    path.write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    arrived = time.time() - age_seconds
    os.utime(path, (arrived, arrived))
    return path


def failing_rows(store: Store) -> list[list[object]]:
    """One row that updates, two the API cannot resolve, one invalid; none touch the sample sheet's records."""
    in_sample = {700002, 700058, 700102, 700131}
    units = units_of(store, 31002)
    update = next(u for u in units if u.contact_id not in in_sample and u.outcome_code != "20")
    enrolled = {u.contact_id for u in units}
    outsider = next(u for u in units_of(store, 31003) if u.contact_id not in enrolled)
    return [
        [update.contact_id, 31002, update.unit_code, "C", "", "", "fine"],
        [update.contact_id, 31002, "ZZZ999", "C", "", "", "<b>x</b>"],
        [outsider.contact_id, 31002, update.unit_code, "C", "", "", "not enrolled"],
        [update.contact_id, 31002, update.unit_code, "XYZ", "", "", "bad outcome"],
    ]


def xlsx_of(csv_path: Path, target: Path) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for line in csv_path.read_text(encoding="utf-8").splitlines():
        sheet.append(line.split(","))
    book.save(target)
    data = target.read_bytes()
    target.unlink()
    return data


def hrefs(page: str) -> list[str]:
    return [urllib.parse.unquote(href) for href in re.findall(r'href="([^"]+)"', page)]


def status_totals(results_files: list[Path]) -> dict[str, int]:
    return dict(Counter(row["status"] for path in results_files for row in read_results(path)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_night_of_good_failing_unreadable_repeated_and_module_sheets(
    sandbox: RunningSandbox, cli, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    good_sample = SAMPLES / "unit-outcomes.csv"
    drop(inbox, "term4.csv", good_sample, 500)
    failing = write_csv(tmp_path / "failing.csv", UNIT_HEADER, failing_rows(sandbox.store))
    drop(inbox, "placement.csv", failing, 400)
    drop(inbox, "export.csv", JUNK, 300)
    drop(inbox, "term4 resent.csv", good_sample, 200)  # the same bytes under another name
    drop(inbox, "Modules.XLSX", xlsx_of(SAMPLES / "module-enrolments.csv", tmp_path / "m.xlsx"), 100)
    drop(inbox, "~$Modules.XLSX", b"excel lock file", 100)
    drop(inbox, "upload.csv.part", b"contact_id,class_id", 100)

    result = nightly(cli, inbox, url=sandbox.url)

    assert result.returncode == 1, result.stdout + result.stderr
    assert len(result.stdout.strip().splitlines()) == 1, "stdout holds the JSON line only; progress is on stderr"
    assert "export.csv: rejected" in result.stderr and "placement.csv: had problems" in result.stderr
    summary = summary_of(result)
    day = inbox / "archive" / summary["started"][:10]
    assert sorted(path.name for path in day.iterdir()) == [
        "Modules.XLSX",
        "Modules.results.csv",
        "placement.csv",
        "placement.results.csv",
        "term4 resent.csv",
        "term4 resent.csv.why.txt",
        "term4.csv",
        "term4.results.csv",
    ]
    assert (day / "term4.csv").read_bytes() == good_sample.read_bytes()
    assert "same content as term4.csv" in (day / "term4 resent.csv.why.txt").read_text(encoding="utf-8")
    assert sorted(path.name for path in (inbox / "rejected").iterdir()) == ["export.csv", "export.csv.why.txt"]
    why = (inbox / "rejected" / "export.csv.why.txt").read_text(encoding="utf-8")
    assert "not a text CSV file" in why and why.count("\n") == 1
    left = sorted(path.name for path in inbox.iterdir() if path.is_file())
    assert left == ["upload.csv.part", "~$Modules.XLSX"], "partial uploads and lock files are never touched"

    placement = read_results(day / "placement.results.csv")
    assert [(r["row"], r["status"]) for r in placement] == [
        ("2", "updated"),
        ("3", "failed"),
        ("4", "failed"),
        ("5", "invalid"),
    ], "invalid rows do not reject the sheet: it runs, and its results say which rows were invalid"
    assert {r["status"] for r in read_results(day / "term4.results.csv")} <= {"updated", "unchanged"}
    assert {r["status"] for r in read_results(day / "Modules.results.csv")} <= {"updated", "unchanged"}

    written = [day / "term4.results.csv", day / "placement.results.csv", day / "Modules.results.csv"]
    totals = status_totals(written)
    assert summary["rows"] == totals
    assert sandbox.stats.count(*PUT_UNITS) + sandbox.stats.count(*PUT_MODULES) == totals["updated"]
    assert {key: summary[key] for key in ("sheets", "applied", "had_problems", "rejected", "repeats")} == {
        "sheets": 5,
        "applied": 3,
        "had_problems": 1,
        "rejected": 1,
        "repeats": 1,
    }
    assert summary["aborted"] is False and summary["exit"] == 1 and summary["left_in_inbox"] == 0

    report = Path(summary["report"]) if Path(summary["report"]).is_absolute() else tmp_path / summary["report"]
    assert report.parent == inbox / "reports" and report.suffix == ".html"
    page = report.read_text(encoding="utf-8")
    for name in ("term4.csv", "placement.csv", "export.csv", "term4 resent.csv", "Modules.XLSX"):
        assert name in page
    assert "had problems" in page and "rejected" in page and "repeat" in page
    assert "ZZZ999" in page and "is not enrolled in class 31002" in page and "not a text CSV file" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    links = hrefs(page)
    assert "../archive/{}/placement.results.csv".format(summary["started"][:10]) in links
    assert all((report.parent / link).exists() for link in links), links
    assert "<script" not in page and "http" not in page.split("<body>")[1].replace(sandbox.url, "")

    rerun = cli("run", str(day / "placement.results.csv"), "--only", "failed", url=sandbox.url)

    assert rerun.returncode == 1, rerun.stdout + rerun.stderr  # still unknown, still not enrolled
    again = read_results(day / "placement.results.results.csv")
    assert [(r["row"], r["status"]) for r in again] == [("3", "failed"), ("4", "failed")]


def test_a_sheet_applied_on_an_earlier_night_is_filed_as_a_repeat_and_sends_nothing(
    sandbox: RunningSandbox, cli, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "term4.csv", SAMPLES / "unit-outcomes.csv", 100)
    first = nightly(cli, inbox, url=sandbox.url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert summary_of(first)["applied"] == 1
    served, writes = len(sandbox.stats.log), sandbox.stats.count(*PUT_UNITS)
    assert writes > 0
    drop(inbox, "term4.csv", SAMPLES / "unit-outcomes.csv", 50)  # dropped again, same name, same bytes

    second = nightly(cli, inbox, "--report-format", "md", url=sandbox.url)

    assert second.returncode == 0, second.stdout + second.stderr
    assert len(sandbox.stats.log) == served, "a repeat is not applied: not even a read is sent"
    assert sandbox.stats.count(*PUT_UNITS) == writes
    summary = summary_of(second)
    assert (summary["repeats"], summary["applied"], summary["exit"]) == (1, 0, 0)
    day = inbox / "archive" / summary["started"][:10]
    assert (day / "term4.csv").exists() and (day / "term4-2.csv").exists(), "nothing in the archive is overwritten"
    assert not (day / "term4-2.results.csv").exists()
    ledger = json.loads((inbox / "archive" / LEDGER_NAME).read_text(encoding="utf-8"))
    assert [entry["name"] for entry in ledger["sheets"].values()] == ["term4.csv"]
    report = tmp_path / summary["report"]
    assert report.suffix == ".md"
    assert "repeat" in report.read_text(encoding="utf-8")
    assert "Nothing new to apply: 1 repeat of a sheet applied before" in report.read_text(encoding="utf-8")


def test_an_empty_inbox_exits_0_with_a_report_that_nothing_arrived(cli, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nowhere = f"http://127.0.0.1:{free_port()}/api"  # nothing to apply, so nothing is contacted

    result = nightly(cli, inbox, "--report-format", "md", url=nowhere)

    assert result.returncode == 0, result.stdout + result.stderr
    summary = summary_of(result)
    assert (summary["sheets"], summary["exit"]) == (0, 0)
    assert "Nothing arrived" in (tmp_path / summary["report"]).read_text(encoding="utf-8")
    assert not (inbox / "archive").exists()


def test_no_such_inbox_is_misuse_exit_2_with_one_clear_line(cli, tmp_path: Path) -> None:
    result = nightly(cli, tmp_path / "missing", url="http://127.0.0.1:9/api")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "missing: no such folder" in errors[0], result.stderr
    assert summary_of(result)["exit"] == 2


def test_bad_tokens_stop_the_night_with_exit_3_and_leave_the_sheets_in_the_inbox(
    sandbox: RunningSandbox, cli, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    first = drop(inbox, "term4.csv", SAMPLES / "unit-outcomes.csv", 200)
    second = drop(inbox, "modules.csv", SAMPLES / "module-enrolments.csv", 100)
    secret_api, secret_ws = "api-SECRET-1234567", "ws-SECRET-7654321"
    wrong = {"AXCELERATE_URL": sandbox.url, "AXCELERATE_API_TOKEN": secret_api, "AXCELERATE_WS_TOKEN": secret_ws}

    result = nightly(cli, inbox, env=wrong)

    assert result.returncode == 3, result.stdout + result.stderr
    assert first.exists() and second.exists(), "the next night tries them again"
    assert sandbox.stats.count(*PUT_UNITS) == 0
    summary = summary_of(result)
    assert (summary["aborted"], summary["left_in_inbox"], summary["applied"]) == (True, 2, 0)
    # Kept, with the journal, at one path per sheet: the next night resumes it from there.
    partial = inbox / "archive" / "in-progress" / "term4.results.csv"
    assert {r["status"] for r in read_results(partial)} == {"skipped"}, "kept for the record"
    assert not (inbox / "archive" / LEDGER_NAME).exists(), "a stopped sheet is not recorded as applied"
    page = (tmp_path / summary["report"]).read_text(encoding="utf-8")
    assert "The run stopped at term4.csv" in page and "modules.csv" in page
    everything = result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".log", ".html", ".txt", ".json"):
            everything += path.read_text(encoding="utf-8-sig", errors="replace")
    assert secret_api not in everything and secret_ws not in everything


def test_a_second_nightly_on_a_held_inbox_does_nothing_and_exits_2(sandbox: RunningSandbox, cli, tmp_path: Path):
    inbox = tmp_path / "inbox"
    sheet = drop(inbox, "term4.csv", SAMPLES / "unit-outcomes.csv", 100)

    with hold_lock(inbox, "the inbox"):
        result = nightly(cli, inbox, url=sandbox.url)

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"another nightly run is using {inbox}" in result.stderr and "Traceback" not in result.stderr
    assert summary_of(result)["exit"] == 2
    assert sheet.exists() and sorted(path.name for path in inbox.iterdir()) == ["term4.csv"]
    assert len(sandbox.stats.log) == 0


def test_a_sheet_someone_is_running_by_hand_is_left_in_the_inbox_not_rejected(
    sandbox: RunningSandbox, cli, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    busy = drop(inbox, "busy.csv", SAMPLES / "unit-outcomes.csv", 200)
    drop(inbox, "modules.csv", SAMPLES / "module-enrolments.csv", 100)

    with hold_lock(busy, "the sheet"):  # as `batchupdate run busy.csv` holds it
        result = nightly(cli, inbox, url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert busy.exists(), "left in the inbox for the next night"
    assert not (inbox / "rejected" / "busy.csv").exists()
    assert summary_of(result)["in_use"] == 1
    assert sandbox.stats.count("PUT", "/course/enrolment") == 0
    assert sandbox.stats.count("PUT", "/v2/learningPlan/modules/enrolments") > 0


def test_the_inbox_scan_takes_settled_sheets_oldest_first_and_leaves_the_rest(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    ages = {
        "old.csv": 120,
        "Older.XLSX": 300,
        "fresh.csv": 10,
        "notes.txt": 500,
        ".hidden.csv": 500,
        "~$Older.XLSX": 500,
        "upload.csv.part": 500,
        "copy.tmp": 500,
    }
    for name, age in ages.items():
        path = tmp_path / name
        path.write_text("contact_id,class_id\n", encoding="utf-8")
        os.utime(path, (now - age, now - age))
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "inside.csv").write_text("x", encoding="utf-8")

    scan = scan_inbox(tmp_path, settle_seconds=60, now=now)

    assert [path.name for path in scan.sheets] == ["Older.XLSX", "old.csv"]
    assert scan.arriving == ("fresh.csv",)
    assert scan.ignored == ("notes.txt",)
    assert [path.name for path in scan_inbox(tmp_path, settle_seconds=0, now=now).sheets] == [
        "Older.XLSX",
        "old.csv",
        "fresh.csv",
    ]


def test_the_markdown_report_escapes_sheet_cells(tmp_path: Path) -> None:
    started = dt.datetime(2026, 5, 1, 1, 30)
    problem = ProblemRow(7, "failed", "unit `ZZZ|9` not found", ("700001", "<b>x</b> | *bold* [link](http://x)"))
    sheet = SheetOutcome(
        "term 4.csv",
        HAD_PROBLEMS,
        kind="units",
        counts={"failed": 1},
        location=tmp_path / "archive" / "2026-05-01" / "term 4.csv",
        results=tmp_path / "archive" / "2026-05-01" / "term 4.results.csv",
        columns=("contact_id", "note"),
        problems=(problem,),
        problem_total=60,
    )
    report = NightlyReport(tmp_path, started, started, "sandbox", sheets=(sheet,))

    page = render_markdown(report, tmp_path / "reports")

    row = next(line for line in page.splitlines() if line.startswith("| 7 |"))
    assert row.count(" | ") == 4, "a | in a cell must not make a new column"
    assert "<b>" not in page and "\\<b\\>x\\</b\\>" in row and "\\*bold\\*" in row and "\\[link\\]" in row
    assert "(../archive/2026-05-01/term%204.results.csv)" in page
    assert "and 59 more" in page
    assert '"' + str(sheet.results) + '" --only failed,invalid,skipped' in page
