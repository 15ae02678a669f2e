"""`batchupdate doctor`: reports the reading a tenant follows, one clear line and the right exit when it cannot."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN
from batchupdate.sandbox.settings import READINGS, READINGS_VARIABLE
from tests.fakes import read_results, write_csv

CLASSES = ("--class", "31002", "--class", "32001")
# What doctor's summary says for each reading it can find out without writing.
FOUND = {
    "fastest": ("class_listing_activities=full", "report_paging=all-at-once", "report_access_field=learning"),
    "listing-empty": ("class_listing_activities=empty",),
    "listing-absent": ("class_listing_activities=absent",),
    "report-capped": ("report_paging=capped-40-ignored",),
    "report-paged": ("report_paging=capped-40-paged",),
    "no-access-field": ("report_access_field=none",),
    "slowest": ("class_listing_activities=absent", "report_paging=capped-40-ignored", "report_access_field=none"),
}


@pytest.mark.parametrize("reading", list(READINGS))
def test_doctor_reports_the_reading_and_sends_no_write(start, cli, reading: str) -> None:
    sandbox = start(**READINGS[reading])

    result = cli("doctor", *CLASSES, url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    checklist = [line for line in lines if line.split()[0] in ("ok", "warn", "fail")]
    assert len(checklist) == 8 and all(line.split()[0] == "ok" for line in checklist), result.stdout
    [summary] = [line for line in lines if line.startswith("Readings: ")]
    for phrase in FOUND.get(reading, FOUND["fastest"][:1]):
        assert phrase in summary, summary
    assert "no writes" in summary
    assert all(method in ("GET", "POST") for method, _, _ in sandbox.stats.log)
    assert all(path.startswith("/report/") for method, path, _ in sandbox.stats.log if method == "POST")
    assert sandbox.stats.writes_applied == 0


def test_doctor_sandbox_plays_the_reading_the_environment_names(cli) -> None:
    result = cli("doctor", "--sandbox", *CLASSES, env={READINGS_VARIABLE: "listing-absent,report-capped"})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "class_listing_activities=absent" in result.stdout
    assert "report_paging=capped-40-ignored" in result.stdout


def test_doctor_sandbox_says_it_keeps_nothing(cli, tmp_path: Path) -> None:
    result = cli("doctor", "--sandbox", *CLASSES)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Not kept: a --sandbox run starts its own sandbox" in result.stdout
    assert not (tmp_path / "logs" / "doctor-readings.json").exists()


def test_doctor_gives_up_on_a_link_slower_than_its_timeout(start, cli) -> None:
    slow = start(latency=6.0)  # every answer takes 6 s: inside doctor's default 10 s, past --timeout 5

    result = cli("doctor", "--timeout", "5", url=slow.url)

    assert result.returncode == 3, result.stdout + result.stderr
    [failure] = [line for line in result.stdout.splitlines() if line.startswith("fail")]
    assert "Traceback" not in result.stdout + result.stderr and "AXCELERATE_URL" in failure


def test_without_a_class_doctor_says_what_it_could_not_test_and_warns(sandbox, cli) -> None:
    result = cli("doctor", url=sandbox.url)

    assert result.returncode == 1
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warn")]
    assert [line.split(":")[0] for line in warnings] == ["warn  class listings", "warn  report paging"]
    assert all("add --class ID" in line for line in warnings)


def test_bad_tokens_give_one_fail_line_and_exit_3(start, cli) -> None:
    sandbox = start(api_token="another-token")

    result = cli("doctor", url=sandbox.url)

    assert result.returncode == 3
    [failure] = [line for line in result.stdout.splitlines() if line.startswith("fail")]
    assert failure.startswith("fail  tokens: aXcelerate refused the credentials (HTTP 401")
    assert "check AXCELERATE_API_TOKEN and AXCELERATE_WS_TOKEN" in failure
    assert "Traceback" not in result.stdout + result.stderr
    assert "sandbox-api-token" not in result.stdout + result.stderr, "a token never appears in output"


def test_an_unreachable_host_gives_one_fail_line_and_exit_3(cli) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens on it once closed

    result = cli("doctor", url=f"http://127.0.0.1:{port}/api")

    assert result.returncode == 3
    [failure] = [line for line in result.stdout.splitlines() if line.startswith("fail")]
    assert failure.startswith("fail  connection: cannot reach aXcelerate") and "AXCELERATE_URL" in failure


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://tenant.app.axcelerate.com/api", "plain http://"),
        ("https://tenant.app.axcelerate.com", "should end in /api"),
    ],
)
def test_unsafe_or_malformed_settings_give_one_line_and_exit_2(cli, url: str, said: str) -> None:
    result = cli("doctor", env={"AXCELERATE_URL": url, "AXCELERATE_API_TOKEN": "a", "AXCELERATE_WS_TOKEN": "b"})

    assert result.returncode == 2
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("fail  settings: ") and said in result.stdout


def test_missing_settings_name_the_variables_and_exit_2(cli) -> None:
    result = cli("doctor")

    assert result.returncode == 2
    assert "AXCELERATE_URL, AXCELERATE_API_TOKEN, AXCELERATE_WS_TOKEN not set" in result.stdout


def test_what_doctor_learnt_is_kept_without_a_token_and_the_next_run_starts_on_it(
    start, cli, tmp_path: Path
) -> None:
    sandbox = start(**READINGS["listing-absent"])
    doctor = cli("doctor", *CLASSES, url=sandbox.url)
    assert doctor.returncode == 0, doctor.stdout
    kept = tmp_path / "logs" / "doctor-readings.json"
    assert f"Kept in {kept.relative_to(tmp_path)}" in doctor.stdout
    assert SANDBOX_API_TOKEN not in kept.read_text() and SANDBOX_WS_TOKEN not in kept.read_text()
    units = [u for u in sandbox.store.unit_enrolments_of(
        [e.enrol_id for e in sandbox.store.program_enrolments(contact_id=None, class_id=31003, program_id=None,
                                                               offset=0, limit=4)])]  # fmt: skip
    chosen = {u.contact_id: u for u in units}.values()
    sheet = write_csv(tmp_path / "s.csv", ["contact_id", "class_id", "unit_code", "outcome"],
                      [[u.contact_id, 31003, u.unit_code, "CNA"] for u in chosen])  # fmt: skip
    sandbox.stats.reset()

    result = cli("run", str(sheet), url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert [r["status"] for r in read_results(tmp_path / "s.results.csv")] == ["updated"] * len(chosen)
    listings = [p for m, path, p in sandbox.stats.log if m == "GET" and "contactid" not in p]
    assert listings == [], "the run read the students one by one from the start"
    assert sandbox.stats.count("GET", "/course/enrolments") == len(chosen)
