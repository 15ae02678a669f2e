"""The page's server killed mid-run and started again: every job is still listed, the run shows as interrupted,
and Resume finishes it through the run journal, writing each changed row exactly once, with true before-values.

The server runs as `batchupdate web` in a subprocess (killed with SIGKILL, as a crash or power cut would),
against the sandbox on loopback.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx

from batchupdate.sandbox import RunningSandbox, SandboxSettings, start_sandbox
from batchupdate.web import WebConfig, create_app
from batchupdate.web.jobs import DONE, RUNNING, Settings, Store, WebJob
from tests.fakes import (
    connection_to,
    free_port,
    kill,
    mixed_unit_sheet,
    read_results,
    serving,
    upload,
    wait_for,
    wait_until,
    web_process,
)

UNIT_PUT = ("PUT", "/course/enrolment")


def client_for(port: int) -> httpx.Client:
    return client_for_url(f"http://127.0.0.1:{port}")


def test_a_run_killed_mid_way_is_listed_after_the_restart_and_resumes_without_writing_twice(
    start: Callable[..., RunningSandbox], cli: Callable, tmp_path: Path
) -> None:
    sandbox = start(latency=0.05)
    data_dir = tmp_path / "web-data"
    sheet = mixed_unit_sheet(tmp_path / "term4.csv")
    port = free_port()
    # A short --timeout: the resume waits that long for the writes the kill caught in flight (30 s by default).
    with web_process(sandbox.url, data_dir, port, "--rate", "6", "--timeout", "5") as first, client_for(port) as web:
        checked = upload(web, sheet).url.path
        plan = web.post(f"{checked}/plan", follow_redirects=False).headers["location"]
        wait_for(web, plan)
        run = web.post(f"{plan}/apply", follow_redirects=False).headers["location"]
        wait_until(lambda: sandbox.stats.count(*UNIT_PUT) >= 6)
        kill(first)
    written_before_kill = sandbox.stats.count(*UNIT_PUT)
    assert 6 <= written_before_kill < 23, "killed mid-run"

    port = free_port()
    with web_process(sandbox.url, data_dir, port, "--rate", "50"), client_for(port) as web:
        listing = web.get("/").text
        assert run.removeprefix("/jobs/") in listing and plan.removeprefix("/jobs/") in listing
        assert "interrupted" in listing
        assert web.get(f"{run}/status").json()["state"] == "interrupted"
        page = web.get(run).text
        assert 'id="resume-button"' in page and "was interrupted" in page

        again = upload(web, sheet).text  # the same sheet uploaded again points to the run to resume
        assert 'id="resume-instead"' in again and f'href="{run}"' in again

        resumed = web.post(f"{run}/resume", follow_redirects=False)
        assert resumed.headers["location"] == run  # the same job goes on, into the same results file
        status = wait_for(web, run)
        downloaded = web.get(f"{run}/results")
        page = web.get(run).text

    assert status["state"] == "done"
    assert status["counts"] == {"updated": 23, "unchanged": 5, "invalid": 2, "failed": 2}
    assert sandbox.stats.count(*UNIT_PUT) == 23, "every changed row written exactly once, across the kill"
    assert "Resumed after an interruption" in page
    (tmp_path / "web.results.csv").write_bytes(downloaded.content)
    web_results = read_results(tmp_path / "web.results.csv")

    cli_folder = tmp_path / "cli"
    cli_folder.mkdir()
    cli_sheet = Path(shutil.copy(sheet, cli_folder / sheet.name))
    with start_sandbox(SandboxSettings(db_path=cli_folder / "sandbox.sqlite3")) as fresh:
        assert cli("run", str(cli_sheet), "--rate", "200", url=fresh.url).returncode == 1
    assert web_results == read_results(cli_folder / "term4.results.csv"), "statuses and true before-values"


def test_every_past_job_is_listed_after_a_restart_50_a_page(sandbox: RunningSandbox, tmp_path: Path) -> None:
    data_dir = tmp_path / "web-data"
    store = Store(data_dir / "web.sqlite3")
    started = dt.datetime(2026, 11, 2, 9, 0)
    for number in range(60):
        store.save_job(
            WebJob(
                id=f"{number:016x}", upload_id="f" * 16, mode="run", label="Apply", sheet=tmp_path / f"s{number}.csv",
                results_path=tmp_path / f"s{number}.results.csv", settings=Settings(), digest="ab" * 32,
                started=started + dt.timedelta(minutes=number), user=f"staff{number}", target="sandbox",
                state=RUNNING if number == 59 else DONE, counts={"updated": number},
            )
        )
    with serving(create_app(WebConfig(data_dir=data_dir), connection_to(sandbox))) as url:
        first, second = httpx.get(url).text, httpx.get(f"{url}/?page=2").text

    assert first.count('<tr data-job="') == 50 and second.count('<tr data-job="') == 10
    assert "staff59" in first and "staff0<" in second and "Older jobs" in first
    newest = first.split('<tr data-job="')[1]
    assert "interrupted" in newest, "the job that was running when the server stopped"
    assert "<b>58</b> updated" in first.split('<tr data-job="')[2] and "sha256 abababababab" in newest


def test_a_plan_cut_short_by_a_restart_is_planned_again_by_resume(sandbox: RunningSandbox, tmp_path: Path) -> None:
    data_dir = tmp_path / "web-data"
    config = WebConfig(data_dir=data_dir, rate="200")
    with serving(create_app(config, connection_to(sandbox))) as url, client_for_url(url) as web:
        checked = upload(web, mixed_unit_sheet(tmp_path / "term.csv")).url.path
        plan = web.post(f"{checked}/plan", follow_redirects=False).headers["location"]
        wait_for(web, plan)
    store = Store(data_dir / "web.sqlite3")
    (cut_short,) = [job for job in store.jobs() if job.id == plan.removeprefix("/jobs/")]
    cut_short.state, cut_short.counts, cut_short.done = RUNNING, {"would-update": 3}, 3  # as a crash would leave it
    store.save_job(cut_short)

    with serving(create_app(config, connection_to(sandbox))) as url, client_for_url(url) as web:
        interrupted = web.get(plan).text
        assert "This plan was interrupted" in interrupted and 'id="apply-button"' not in interrupted
        web.post(f"{plan}/resume")
        status = wait_for(web, plan)
        page = web.get(plan).text

    assert status["state"] == "done" and status["counts"]["would-update"] == 23
    assert 'id="apply-button"' in page
    assert sandbox.stats.count(*UNIT_PUT) == 0


def client_for_url(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"origin": url}, follow_redirects=True, timeout=30)
