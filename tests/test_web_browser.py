"""The web page in real headless Chromium (Debian's, driven by Playwright): the whole flow a user clicks through.

Saves a screenshot of each step under docs/screenshots/ for the README.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from batchupdate.sandbox import RunningSandbox, SandboxSettings, start_sandbox
from batchupdate.web import WebConfig, create_app
from tests.fakes import REPO, SAMPLES, connection_to, mixed_module_sheet, mixed_unit_sheet, read_results, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)"
)
expect = sync_api.expect
TIMEOUT = 60_000  # ms, for runs against the sandbox


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context
    context.close()


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def background(locator: Locator) -> str:
    return str(locator.evaluate("cell => getComputedStyle(cell).backgroundColor"))


def test_unit_sheet_from_upload_to_results_matches_the_cli(
    context: BrowserContext, start: Callable[..., RunningSandbox], cli: Callable, tmp_path: Path
) -> None:
    sheet = mixed_unit_sheet(tmp_path / "term4-outcomes.csv")
    web_sandbox = start(latency=0.02)
    app = create_app(WebConfig(data_dir=tmp_path / "web-data"), connection_to(web_sandbox))  # rate auto, as served
    with serving(app) as url:
        page = context.new_page()
        page.goto(url)
        page.set_input_files("#sheet", str(sheet))
        expect(page.locator("#chosen")).to_contain_text("term4-outcomes.csv")
        shot(page, "web-1-upload.png")

        page.click("#check-button")
        expect(page.locator("h1")).to_have_text("Check: term4-outcomes.csv")
        invalid = page.locator("table.check tr.st-invalid")
        expect(invalid).to_have_count(2)
        expect(invalid.nth(0).locator(".error")).to_contain_text("outcome 'XYZ' is not an outcome code")
        expect(invalid.nth(1).locator(".error")).to_contain_text("start_date '31/02/2026' is not a real date")
        valid_cell = page.locator("table.check tr.st-valid td").nth(3)
        assert background(invalid.nth(0).locator("td").nth(3)) != background(valid_cell), "invalid rows stand out"
        expect(page.locator("table.check td", has_text="<script>alert('cell')</script>")).to_have_count(1)
        expect(page.locator("#check-verdict")).to_contain_text("2 of 32 rows will not be sent")
        invalid.last.scroll_into_view_if_needed()  # the table scrolls inside the page: show the highlighted rows
        shot(page, "web-2-check.png")

        page.click("#plan-button")
        expect(page.locator("#apply-button")).to_have_text("Apply 23 changes", timeout=TIMEOUT)
        expect(page.locator("table.plan tr.st-would-update")).to_have_count(23)
        expect(page.locator("table.plan tr.st-would-update .change-list .after").first).to_be_visible()
        shot(page, "web-3-plan.png")

        page.click("#apply-button")
        page.wait_for_url("**/jobs/*")
        job_url = page.url
        page.close()  # the browser goes away mid-run ...
        assert context.request.get(f"{job_url}/status").json()["state"] == "running", "the run goes on without it"
        page = context.new_page()  # ... and the address shows the run again
        page.goto(job_url)
        page.wait_for_function("document.getElementById('progress').value > 0")
        shot(page, "web-4-progress.png", full_page=False)
        expect(page.locator("#progress-text")).to_have_text("100%", timeout=TIMEOUT)
        expect(page.locator("table.results")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator("#progress-text")).to_have_text("100%")
        expect(page.locator("#progress-counts [data-status=updated] b")).to_have_text("23")

        page.click("nav.filters a[data-filter=failed]")
        expect(page.locator("table.results tbody tr:visible")).to_have_count(2)
        page.click("nav.filters a[data-filter='']")
        expect(page.locator("table.results tbody tr:visible")).to_have_count(32)
        shot(page, "web-5-results.png")
        with page.expect_download() as downloading:
            page.click("#download")
        download = downloading.value
        assert download.suggested_filename == "term4-outcomes.results.csv"
        downloaded = tmp_path / "downloaded.results.csv"
        download.save_as(downloaded)

        page.click("#rerun-button")
        expect(page.locator("#progress-text")).to_have_text("100%", timeout=TIMEOUT)
        expect(page.locator("table.results tbody tr")).to_have_count(2, timeout=TIMEOUT)
        expect(page.locator("table.results tbody tr.st-failed")).to_have_count(2)

    cli_folder = tmp_path / "cli"
    cli_folder.mkdir()
    cli_sheet = Path(shutil.copy(sheet, cli_folder / sheet.name))
    with start_sandbox(SandboxSettings(db_path=cli_folder / "sandbox.sqlite3")) as fresh:
        assert cli("run", str(cli_sheet), "--rate", "200", url=fresh.url).returncode == 1
    assert read_results(downloaded) == read_results(cli_folder / "term4-outcomes.results.csv")


def test_module_sheet_upload_plan_apply(
    context: BrowserContext, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sheet = mixed_module_sheet(tmp_path / (SAMPLES / "module-enrolments.csv").name)
    app = create_app(WebConfig(data_dir=tmp_path / "web-data", rate="100"), connection_to(sandbox))
    with serving(app) as url:
        page = context.new_page()
        page.goto(url)
        page.set_input_files("#sheet", str(sheet))
        page.select_option("#kind", "modules")
        page.click("#check-button")
        expect(page.locator(".meta")).to_contain_text("Learning-plan modules")
        expect(page.locator("table.check tr.st-invalid .error")).to_contain_text("use unlocked, locked or clear")

        page.click("#plan-button")
        expect(page.locator("#apply-button")).to_have_text("Apply 10 changes", timeout=TIMEOUT)
        expect(page.locator("table.plan tr.st-failed .error")).to_contain_text("Module 99 - Basket Weaving")

        page.click("#apply-button")
        expect(page.locator("#progress-text")).to_have_text("100%", timeout=TIMEOUT)
        expect(page.locator("table.results")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator("table.results tr.st-updated")).to_have_count(10)
        expect(page.locator("table.results tr.st-unchanged")).to_have_count(2)
    assert sandbox.stats.count("PUT", "/v2/learningPlan/modules/enrolments") == 10
