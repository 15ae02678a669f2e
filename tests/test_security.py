"""Secrets stay secret, results cells cannot run as formulas, and aXcelerate's error text is kept short."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchupdate.cli import main
from batchupdate.config import Connection, load_connection
from batchupdate.errors import ConfigError
from batchupdate.logfile import Redact
from batchupdate.pipeline import RUN, Job
from batchupdate.sandbox.faults import fail_write
from tests.fakes import LocalSandbox, execute_with, read_results, write_csv

SECRET = "tok-VERY-SECRET-9876"
HEADER = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date", "notes"]


def test_a_connection_never_shows_its_tokens() -> None:
    connection = Connection("https://college.app.axcelerate.com/api", SECRET, SECRET + "-ws")
    assert SECRET not in repr(connection) and SECRET not in str(connection)
    assert connection.target == "PRODUCTION college.app.axcelerate.com"


def test_the_log_filter_scrubs_tokens_from_messages_and_exceptions() -> None:
    record = logging.LogRecord("batchupdate", logging.ERROR, __file__, 1, "header was %s", (SECRET,), None)
    try:
        raise RuntimeError(f"apitoken={SECRET}")
    except RuntimeError as error:
        record.exc_info = (RuntimeError, error, error.__traceback__)
    Redact([SECRET]).filter(record)
    assert SECRET not in record.getMessage() and "[redacted]" in record.getMessage()
    assert record.exc_info is None


@pytest.mark.parametrize("flag", ["--api-token", "--apitoken", "--ws-token", "--token"])
def test_tokens_are_not_accepted_as_flags(flag: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path / "x.csv"), flag, SECRET])
    assert result.exit_code == 2 and "No such option" in result.output


def test_dotenv_supplies_the_connection_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# tokens for the college\nAXCELERATE_URL=https://college.stg.axcelerate.com/api/\n"
        f"export AXCELERATE_API_TOKEN='{SECRET}'\nAXCELERATE_WS_TOKEN=\"ws\"\n",
        encoding="utf-8",
    )
    connection = load_connection({"AXCELERATE_WS_TOKEN": "from-env"}, dotenv)
    assert connection.url == "https://college.stg.axcelerate.com/api"
    assert connection.api_token == SECRET and connection.ws_token == "from-env"
    assert connection.target.startswith("STAGING")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://college.app.axcelerate.com/api", "https://"),
        ("https://college.app.axcelerate.com", "should end in /api"),
        ("ftp://college/api", "not a URL"),
        ("https://user:pw@college.app.axcelerate.com/api", "plain base URL"),
    ],
)
def test_unsafe_or_wrong_urls_are_refused(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_connection({"AXCELERATE_URL": url, "AXCELERATE_API_TOKEN": "a", "AXCELERATE_WS_TOKEN": "b"}, Path("-"))


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/api", "http://localhost:8765/api", "http://[::1]:8765/api"])
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    assert (
        load_connection({"AXCELERATE_URL": url, "AXCELERATE_API_TOKEN": "a", "AXCELERATE_WS_TOKEN": "b"}, Path("-")).url
        == url
    )


def test_a_long_api_error_is_cut_short_and_cannot_run_as_a_formula(tmp_path: Path, local: LocalSandbox) -> None:
    sheet = write_csv(tmp_path / "s.csv", HEADER, [["700001", "31001", "BSBTWK401", "C", "", "", "@SUM(1)"]])
    local.script.add(fail_write(700001, 412, details='=HYPERLINK("http://evil")' + "x" * 5000))

    execute_with(Job(sheet, RUN), local)

    [line] = read_results(sheet.with_name("s.results.csv"))
    assert line["status"] == "failed"
    assert len(line["error"]) < 700 and line["error"].endswith("…")
    raw = sheet.with_name("s.results.csv").read_text(encoding="utf-8-sig")
    assert "'@SUM(1)" in raw, "echoed input is neutralised"
    assert ",=" not in raw and ",+" not in raw and ",-" not in raw and ",@" not in raw
