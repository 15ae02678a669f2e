"""The web page served on loopback, driven over HTTP against the real sandbox: same engine, same results as the CLI."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from batchupdate.cli import main
from batchupdate.cli.web import web as web_command
from batchupdate.config import Connection
from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, RunningSandbox, SandboxSettings, start_sandbox
from batchupdate.web import WebConfig, create_app
from batchupdate.web import command as web_command_module
from tests.fakes import (
    SCRIPT,
    app_client,
    mixed_module_sheet,
    mixed_unit_sheet,
    press,
    read_results,
    rows_of,
    sample_with,
    serving,
    upload,
    wait_for,
    write_csv,
)

UNIT_PUT = ("PUT", "/course/enrolment")
TOKENS = (SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN)


@pytest.fixture
def bodies() -> list[str]:
    """Every response body the web client saw, to search for secrets."""
    return []


@pytest.fixture
def web(sandbox: RunningSandbox, tmp_path: Path, bodies: list[str]) -> Iterator[httpx.Client]:
    with app_client(sandbox, tmp_path / "web-data") as client:
        client.event_hooks["response"].append(lambda response: bodies.append(response.read().decode("utf-8")))
        yield client


def run_sheet(client: httpx.Client, checked_path: str) -> str:
    """Plan the uploaded sheet, wait for the plan, apply it: the only way the page writes; the run's address."""
    plan = press(client, f"{checked_path}/plan")
    assert wait_for(client, plan)["state"] == "done"
    return press(client, f"{plan}/apply")


def test_check_shows_every_row_with_invalid_ones_highlighted_and_cells_escaped(
    web: httpx.Client, tmp_path: Path
) -> None:
    response = upload(web, mixed_unit_sheet(tmp_path / "term.csv"))

    assert response.status_code == 200
    assert response.url.path.startswith("/uploads/")
    page = response.text
    assert page.count('<tr class="st-') == 32
    invalid = rows_of(page, "invalid")
    assert len(invalid) == 2
    assert "outcome &#x27;XYZ&#x27; is not an outcome code" in invalid[0]
    assert "start_date &#x27;31/02/2026&#x27; is not a real date" in invalid[1]
    assert len(rows_of(page, "valid")) == 30
    assert "2 of 32 rows will not be sent" in page
    assert "&lt;script&gt;alert(&#x27;cell&#x27;)&lt;/script&gt;" in page
    assert SCRIPT not in page and "<script>alert" not in page
    assert "sandbox at http://127.0.0.1:" in page  # the target is in the header


def test_plan_shows_before_and_after_per_row_and_sends_nothing(
    web: httpx.Client, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    checked = upload(web, mixed_unit_sheet(tmp_path / "term.csv"))
    job_url = press(web, f"{checked.url.path}/plan")

    status = wait_for(web, job_url)

    assert status["state"] == "done" and status["percent"] == 100
    assert status["counts"] == {"would-update": 23, "unchanged": 5, "invalid": 2, "failed": 2}
    assert sandbox.stats.count(*UNIT_PUT) == 0
    page = web.get(job_url).text
    planned = read_results_csv(web.get(f"{job_url}/results"))
    first = next(row for row in planned if row["status"] == "would-update")
    column, _, rest = first["changes"].split("; ")[0].partition(": ")
    before, _, after = rest.partition(" -> ")
    row_html = next(chunk for chunk in rows_of(page, "would-update") if f'data-line="{first["row"]}"' in chunk)
    assert f'<span class="field">{column}</span> <span class="before">{before}</span>' in row_html
    assert f'<span class="after">{after}</span>' in row_html
    assert len(rows_of(page, "would-update")) == 23
    assert 'id="apply-button"' in page and "Apply 23 changes" in page
    assert "&lt;script&gt;" in page and SCRIPT not in page


def read_results_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize(("kind", "make_sheet"), [("units", mixed_unit_sheet), ("modules", mixed_module_sheet)])
def test_run_results_download_equals_the_cli_results_on_an_identical_sandbox(
    web: httpx.Client, cli: Callable, tmp_path: Path, kind: str, make_sheet: Callable[[Path], Path]
) -> None:
    checked = upload(web, make_sheet(tmp_path / f"{kind}.csv"))
    job_url = run_sheet(web, checked.url.path)

    status = wait_for(web, job_url)
    download = web.get(f"{job_url}/results")

    assert status["state"] == "done" and status["percent"] == 100 and status["done"] == status["total"]
    assert download.headers["content-disposition"] == f'attachment; filename="{kind}.results.csv"'
    web_results = read_results_csv(download)
    cli_folder = tmp_path / "cli"
    cli_folder.mkdir()
    sheet = make_sheet(cli_folder / f"{kind}.csv")
    with start_sandbox(SandboxSettings(db_path=cli_folder / "sandbox.sqlite3")) as fresh:
        assert cli("run", str(sheet), "--rate", "200", url=fresh.url).returncode == 1
    cli_results = read_results(cli_folder / f"{kind}.results.csv")
    assert [(r["row"], r["status"], r["changes"]) for r in web_results] == [
        (r["row"], r["status"], r["changes"]) for r in cli_results
    ]
    assert web_results == cli_results  # errors, ids and before-values too
    assert status["counts"] == {
        status: sum(r["status"] == status for r in cli_results) for status in {r["status"] for r in cli_results}
    }
    page = web.get(job_url).text
    assert 'id="download"' in page and 'id="rerun-button"' in page
    assert len(rows_of(web.get(f"{job_url}?status=failed").text, "updated")) == 0


def test_rerun_failed_runs_only_the_failed_rows_from_the_results_file(
    web: httpx.Client, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    checked = upload(web, mixed_unit_sheet(tmp_path / "term.csv"))
    first = run_sheet(web, checked.url.path)
    wait_for(web, first)
    writes = sandbox.stats.count(*UNIT_PUT)
    assert "done, 2 failed, 2 invalid" in web.get("/").text  # not a green "done"

    replan = press(web, f"{first}/rerun")
    planned = wait_for(web, replan)
    assert sandbox.stats.count(*UNIT_PUT) == writes, "re-running failed rows plans first: nothing sent yet"
    assert planned["counts"] == {"failed": 2} and "Plan: re-run failed rows" in web.get(replan).text
    again = press(web, f"{replan}/apply")
    status = wait_for(web, again)

    assert again not in (first, replan)
    assert status["counts"] == {"failed": 2}
    rerun = read_results_csv(web.get(f"{again}/results"))
    assert [(r["row"], r["trainer_note"], r["status"]) for r in rerun] == [
        ("32", "unknown unit", "failed"),
        ("33", "no such student", "failed"),
    ]
    assert sandbox.stats.count(*UNIT_PUT) == writes
    assert "Only the failed rows of the earlier run" in web.get(again).text


def test_a_run_without_failed_rows_offers_no_re_run_and_refuses_one_posted_by_hand(
    web: httpx.Client, tmp_path: Path
) -> None:
    checked = upload(web, sample_with(tmp_path / "clean.csv", "unit-outcomes.csv", []))
    job = run_sheet(web, checked.url.path)
    assert wait_for(web, job)["counts"].get("failed") is None

    assert 'id="rerun-button"' not in web.get(job).text
    refused = web.post(f"{job}/rerun")
    assert refused.status_code == 404 and "no run with failed rows" in refused.text


def test_a_run_goes_on_unwatched_and_a_sheet_runs_once_at_a_time(
    start: Callable[..., RunningSandbox], tmp_path: Path
) -> None:
    slow = start(latency=0.2)
    with app_client(slow, tmp_path / "web-data") as client:
        sheet = mixed_unit_sheet(tmp_path / "term.csv")
        checked = upload(client, sheet).url.path
        job_url = run_sheet(client, checked)

        second = client.post(f"{checked}/plan", follow_redirects=False)
        same_content = client.post(f"{upload(client, sheet).url.path}/plan", follow_redirects=False)

        assert second.status_code == 409 and "A run of this sheet has not finished yet" in second.text
        assert same_content.status_code == 409
        assert f'<a href="{job_url}">follow it</a>' in client.get(checked).text
        deadline = time.monotonic() + 60
        while "Download results" not in (page := client.get(job_url).text):  # no status polling: nobody watches
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert len(rows_of(page, "updated")) == 23


def test_oversize_wrong_type_and_unreadable_uploads_are_refused_clearly(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    with app_client(sandbox, tmp_path / "web-data", max_upload_bytes=2000) as client:
        big = write_csv(tmp_path / "big.csv", ["contact_id"], [[str(n).rjust(20, "0")] for n in range(300)])
        oversize = upload(client, big)
        parts = [b'--x\r\nContent-Disposition: form-data; name="sheet"; filename="a.csv"\r\n\r\n']
        parts += [b"1" * 10_000] * 20 + [b"\r\n--x--\r\n"]
        chunked = client.post(  # no Content-Length: the server counts what arrives
            "/uploads", content=iter(parts), headers={"content-type": "multipart/form-data; boundary=x"}
        )
        executable = tmp_path / "macro.xlsm"
        executable.write_bytes(b"PK\x03\x04")
        wrong_type = upload(client, executable)
        unreadable = upload(client, write_csv(tmp_path / "notes.csv", ["name", "note"], [["a", "b"]]))

    assert oversize.status_code == 413
    assert "over the 2 KB limit" in oversize.text and 'id="upload-form"' in oversize.text
    assert chunked.status_code == 413 and "over the 2 KB limit" in chunked.text
    assert wrong_type.status_code == 415 and "is not a .csv or .xlsx file" in wrong_type.text
    assert unreadable.status_code == 200
    assert 'id="sheet-problem"' in unreadable.text and "cannot be used" in unreadable.text
    assert not list((tmp_path / "web-data").rglob("big.csv"))


def test_a_configured_password_is_required_everywhere(sandbox: RunningSandbox, tmp_path: Path) -> None:
    with app_client(sandbox, tmp_path / "web-data", password="correct horse battery", allowed_hosts=None) as client:
        anonymous = client.get("/")
        wrong = client.get("/", auth=("staff", "battery staple"))
        static = client.get("/static/app.js")
        right = client.get("/", auth=("staff", "correct horse battery"))

    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
    assert wrong.status_code == 401 and static.status_code == 401
    assert right.status_code == 200 and 'id="upload-form"' in right.text
    assert "correct horse battery" not in anonymous.text + wrong.text + right.text


def test_cross_site_posts_and_foreign_host_names_are_refused(web: httpx.Client, tmp_path: Path) -> None:
    sheet = mixed_unit_sheet(tmp_path / "term.csv")
    with sheet.open("rb") as handle:
        foreign = web.post("/uploads", files={"sheet": ("t.csv", handle)}, headers={"origin": "http://evil.example"})
    base = str(web.base_url).rstrip("/")
    with httpx.Client(base_url=base) as stranger:
        anonymous = stranger.post("/uploads", files={"sheet": ("t.csv", b"x")})
    rebound = web.get("/", headers={"host": "evil.example:8080"})

    assert foreign.status_code == 403 and anonymous.status_code == 403
    assert rebound.status_code == 400
    page = web.get("/")
    assert page.headers["x-content-type-options"] == "nosniff"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert "http://" not in page.text.replace(base, "").split("<main id=\"main\">")[1]  # no external assets


def test_tokens_never_reach_the_page(web: httpx.Client, bodies: list[str], tmp_path: Path) -> None:
    checked = upload(web, mixed_unit_sheet(tmp_path / "term.csv"))
    run = run_sheet(web, checked.url.path)
    plan = web.get(run).text.split('href="/jobs/')[1].split('"')[0]  # the Plan step links back to its plan
    for job_url in (f"/jobs/{plan}", run):
        wait_for(web, job_url)
        web.get(job_url)
        web.get(f"{job_url}/results")
    web.get("/")

    assert len(bodies) > 10
    for body in bodies:
        for token in TOKENS:
            assert token not in body


def test_web_command_refuses_a_public_address_without_a_password(monkeypatch, tmp_path: Path) -> None:
    served: list[WebConfig] = []
    monkeypatch.setattr(web_command_module, "serve", lambda config, *rest: served.append(config))
    monkeypatch.delenv("BATCHUPDATE_WEB_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    refused = runner.invoke(main, ["web", "--host", "0.0.0.0", "--sandbox"])
    monkeypatch.setenv("BATCHUPDATE_WEB_PASSWORD", "s3cret passphrase")
    allowed = runner.invoke(web_command, ["--host", "0.0.0.0", "--sandbox", "--max-upload-mb", "2"])
    local = runner.invoke(web_command, ["--sandbox"])

    assert refused.exit_code == 2
    assert "set a password in BATCHUPDATE_WEB_PASSWORD" in refused.output
    assert allowed.exit_code == 0, allowed.output
    assert local.exit_code == 0, local.output
    assert served[0].password == "s3cret passphrase" and served[0].allowed_hosts is None
    assert served[0].max_upload_bytes == 2 * 1024 * 1024
    assert served[1].allowed_hosts is not None and "localhost" in served[1].allowed_hosts


def test_a_plan_stopped_by_bad_tokens_shows_red_with_its_cause_once(sandbox: RunningSandbox, tmp_path: Path) -> None:
    wrong = Connection(sandbox.url, "not-the-api-token", "not-the-ws-token", sandbox=True)
    app = create_app(WebConfig(data_dir=tmp_path / "web-data", rate="200"), wrong)
    with serving(app) as url, httpx.Client(base_url=url, headers={"origin": url}, follow_redirects=True) as client:
        checked = upload(client, mixed_unit_sheet(tmp_path / "term.csv"))
        plan = press(client, f"{checked.url.path}/plan")
        status = wait_for(client, plan)
        page = client.get(plan).text
        listing = client.get("/").text

    assert status["state"] == "stopped" and status["percent"] < 100
    assert 'data-verdict="failed"' in page and 'data-verdict="updated"' not in page
    assert page.count('id="job-problem"') == 1 and "The plan stopped:" in page
    assert 'id="apply-button"' not in page, "a stopped plan cannot be applied"
    assert '<span class="badge st-failed">stopped</span>' in listing
