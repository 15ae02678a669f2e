"""Secrets never leave the process: a server whose error pages quote the request's headers (a ColdFusion debug
page, a proxy) must not get the tokens into the results file, the screen, the log or the nightly archive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from batchupdate.client import Api
from batchupdate.errors import RejectedError
from batchupdate.redact import REDACTED, Redactor
from batchupdate.sandbox import RunningSandbox
from tests.fakes import UNIT_COLUMNS as HEADER
from tests.fakes import read_results, rows_to_change, write_csv

API_TOKEN = "tok-API-5ecret+/=9"  # characters a URL or JSON string would escape
WS_TOKEN = "ws-TOKEN-7766-secret"
TOKENS = {"AXCELERATE_API_TOKEN": API_TOKEN, "AXCELERATE_WS_TOKEN": WS_TOKEN}


def leaked(text: str) -> list[str]:
    """The tokens, in any form a page could quote them, found in ``text``."""
    forms = {API_TOKEN, WS_TOKEN, "tok-API", "ws-TOKEN", "5ecret+/=9", "7766-secret"}  # halves of a token too
    return [form for form in forms if form in text]


def all_text(folder: Path) -> str:
    """Every file below ``folder`` (results, logs, reports, archive, notes, journals) as text."""
    return "\n".join(path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*") if path.is_file())


def echoing_sandbox(start: Callable[..., RunningSandbox]) -> RunningSandbox:
    return start(echo_headers=True, api_token=API_TOKEN, ws_token=WS_TOKEN)


def test_a_server_echoing_the_headers_leaks_no_token_into_results_screen_or_log(start, cli, tmp_path: Path) -> None:
    sandbox = echoing_sandbox(start)
    rows = [row for _, row in rows_to_change(sandbox.store, 3)]
    sheet = write_csv(tmp_path / "outcomes.csv", HEADER, rows)

    result = cli("run", str(sheet), url=sandbox.url, env=TOKENS)

    assert result.returncode == 1, result.stdout + result.stderr
    lines = read_results(tmp_path / "outcomes.results.csv")
    assert [line["status"] for line in lines] == ["failed"] * 3
    assert "Request headers" in lines[0]["error"] and "<td>apitoken</td>" in lines[0]["error"], "the page is kept"
    assert not leaked(result.stdout + result.stderr)
    assert not leaked(all_text(tmp_path)), "no file the run wrote holds a token"
    assert list((tmp_path / "logs").glob("*.log")), "the log was written (and checked above)"


def test_nightly_archives_and_reports_hold_no_token(start, cli, tmp_path: Path) -> None:
    sandbox = echoing_sandbox(start)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_csv(inbox / "night.csv", HEADER, [row for _, row in rows_to_change(sandbox.store, 2)])

    result = cli("nightly", str(inbox), "--settle-seconds", "0", "--report-format", "md", url=sandbox.url, env=TOKENS)

    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["exit"] == 1
    archived = list((inbox / "archive").rglob("*.results.csv"))
    assert archived and "Request headers" in archived[0].read_text(encoding="utf-8-sig")
    assert not leaked(result.stdout + result.stderr)
    assert not leaked(all_text(inbox))


def test_the_client_scrubs_its_own_tokens_from_any_answer_it_keeps() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        quoted = json.dumps(dict(request.headers))  # JSON-escaped, as a JSON error body would carry them
        return httpx.Response(412, json={"messages": f"bad {request.headers['wstoken']}", "details": quoted})

    headers = {"apitoken": API_TOKEN, "wstoken": WS_TOKEN}
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="https://x/api/", headers=headers)
    with pytest.raises(RejectedError) as refused:
        asyncio.run(Api(http).put("/course/enrolment", {"contactID": 1}))
    text = f"{refused.value} {refused.value.details}"
    assert not leaked(text) and REDACTED in text


def test_the_redactor_catches_the_forms_a_page_quotes_a_token_in() -> None:
    scrub = Redactor([API_TOKEN, WS_TOKEN])
    for text in (
        f"apitoken: {API_TOKEN}",
        f"https://x/?t={'tok-API-5ecret%2B%2F%3D9'}",
        json.dumps({"h": API_TOKEN}),
        f"<td>wstoken</td><td>{WS_TOKEN}</td>",
        "Authorization: Bearer abc.def.ghi",
    ):
        scrubbed = scrub(text)
        assert not leaked(scrubbed) and "abc.def.ghi" not in scrubbed and REDACTED in scrubbed, scrubbed
