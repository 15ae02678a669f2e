"""The web page in real headless Chromium (Debian's, driven by Playwright): the whole flow a user clicks through,
at desktop and phone widths, with the axe-core accessibility audit run on every step, and a restart mid-run.

Screenshots under docs/screenshots/ are rewritten only with BATCHUPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from batchupdate.sandbox import RunningSandbox, SandboxSettings, start_sandbox
from batchupdate.web import WebConfig, create_app
from tests.fakes import (
    REPO,
    SAMPLES,
    connection_to,
    free_port,
    kill,
    mixed_module_sheet,
    mixed_unit_sheet,
    read_results,
    serving,
    wait_until,
    web_process,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
UNIT_PUT = ("PUT", "/course/enrolment")
AXE = REPO / ".ci" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
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
PHONE: ViewportSize = {"width": 390, "height": 844}

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install --prefix .ci/axe)"),
]
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


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    yield context
    context.close()


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Rewrite a committed screenshot, only when asked to."""
    if os.environ.get("BATCHUPDATE_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def audit(page: Page, step: str) -> None:
    """Run axe-core on the page as it is now; fail on any serious or critical violation."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated, not a <script>: the page's CSP stays as served
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
    bad = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:5])
        for violation in found
        if violation["impact"] in ("serious", "critical")
    ]
    assert not bad, f"axe on the {step} step:\n" + "\n".join(bad)


def fits(page: Page, step: str) -> None:
    """No sideways scrolling of the page, and the TARGET badge shown in full."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{step}: the page is {width} px wide in a {viewport} px window"
    badge = page.evaluate(
        """() => { const t = document.getElementById('target'); const r = t.getBoundingClientRect();
        return {left: r.left, right: r.right, scroll: t.scrollWidth, client: t.clientWidth, text: t.innerText}; }"""
    )
    assert badge["left"] >= 0 and badge["right"] <= viewport, f"{step}: the TARGET badge runs off the screen"
    assert badge["scroll"] <= badge["client"] + 1, f"{step}: the TARGET badge is cut: {badge['text']!r}"


def background(locator: Locator) -> str:
    return str(locator.evaluate("cell => getComputedStyle(cell).backgroundColor"))


def wait_on_page(page: Page, expression: str, timeout: float = 60.0) -> None:
    """Wait until a JavaScript expression holds (polled with evaluate: the page's CSP forbids eval)."""

    def holds() -> bool:
        try:
            return bool(page.evaluate(expression))
        except sync_api.Error:  # the page is between two documents (it reloads when the job ends)
            return False

    wait_until(holds, timeout)


def focus_is_visible(page: Page) -> bool:
    return bool(
        page.evaluate(
            """() => { const e = document.activeElement; const s = getComputedStyle(e);
            if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) return true;
            const z = e.closest('.dropzone');
            return z !== null && getComputedStyle(z).outlineStyle !== 'none'; }"""
        )
    )


def test_unit_sheet_from_upload_to_results_matches_the_cli(
    context: BrowserContext, start: Callable[..., RunningSandbox], cli: Callable, tmp_path: Path
) -> None:
    sheet = mixed_unit_sheet(tmp_path / "term4-outcomes.csv")
    web_sandbox = start(latency=0.02)
    app = create_app(WebConfig(data_dir=tmp_path / "web-data"), connection_to(web_sandbox))  # rate auto, as served
    with serving(app) as url:
        page = context.new_page()
        page.goto(url)
        audit(page, "upload")
        focused = []
        for _ in range(8):  # keyboard only: every stop on the way shows where the focus is
            page.keyboard.press("Tab")
            focused.append((page.evaluate("document.activeElement.id || document.activeElement.tagName"),
                            focus_is_visible(page)))
        assert ("sheet", True) in focused, f"the file input shows its focus: {focused}"
        assert all(visible for name, visible in focused if name != "BODY"), f"focus not visible on {focused}"
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
        expect(page.locator("#columns")).to_contain_text("kept as notes: trainer_note")
        audit(page, "check")
        page.click("#settings summary")
        audit(page, "check, settings open")
        invalid.last.scroll_into_view_if_needed()  # the table scrolls inside the page: show the highlighted rows
        shot(page, "web-2-check.png")

        page.click("#plan-button")
        expect(page.locator("#apply-button")).to_have_text("Apply 23 changes", timeout=TIMEOUT)
        expect(page.locator("table.plan tr.st-would-update")).to_have_count(23)
        expect(page.locator("table.plan tr.st-would-update .change-list .after").first).to_be_visible()
        audit(page, "plan")
        shot(page, "web-3-plan.png")

        page.click("#apply-button")
        page.wait_for_url("**/jobs/*")
        job_url = page.url
        page.close()  # the browser goes away mid-run ...
        assert context.request.get(f"{job_url}/status").json()["state"] == "running", "the run goes on without it"
        page = context.new_page()  # ... and the address shows the run again
        page.goto(job_url)
        wait_on_page(page, "(document.getElementById('progress') || {value: 0}).value > 0")
        expect(page.locator("#progress-live")).to_have_attribute("aria-live", "polite")
        audit(page, "apply, running")
        shot(page, "web-4-progress.png", full_page=False)
        expect(page.locator("table.results")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator("#progress-counts [data-status=updated] b")).to_have_text("23")
        expect(page.locator("#progress-label")).to_have_text("Apply: done, 2 failed, 2 invalid")
        assert page.locator("#progress-panel").get_attribute("data-verdict") == "problems", "amber, not a green done"

        page.click("nav.filters a[data-filter=failed]")
        expect(page.locator("table.results tbody tr")).to_have_count(2)
        page.click("nav.filters a[data-filter='']")
        expect(page.locator("table.results tbody tr")).to_have_count(32)
        audit(page, "results")
        stops = []
        for _ in range(20):  # keyboard only on the results page too: links, buttons, filters, the scrolling table
            page.keyboard.press("Tab")
            stops.append((page.evaluate("document.activeElement.className || document.activeElement.tagName"),
                          focus_is_visible(page)))
        assert any("table-wrap" in name for name, _ in stops), f"the table can be scrolled by keyboard: {stops}"
        assert all(visible for name, visible in stops if name != "BODY"), f"focus not visible on {stops}"
        shot(page, "web-5-results.png")
        with page.expect_download() as downloading:
            page.click("#download")
        download = downloading.value
        assert download.suggested_filename == "term4-outcomes.results.csv"
        downloaded = tmp_path / "downloaded.results.csv"
        download.save_as(downloaded)

        writes = web_sandbox.stats.count(*UNIT_PUT)
        page.click("#rerun-button")
        expect(page.locator("#apply-button")).to_be_visible(timeout=TIMEOUT)  # a plan first, nothing sent ...
        assert web_sandbox.stats.count(*UNIT_PUT) == writes
        expect(page.locator("table.plan tbody tr.st-failed")).to_have_count(2)  # ... which shows they fail again
        expect(page.locator("#apply-button")).to_be_disabled()
        audit(page, "plan of a re-run")

    cli_folder = tmp_path / "cli"
    cli_folder.mkdir()
    cli_sheet = Path(shutil.copy(sheet, cli_folder / sheet.name))
    with start_sandbox(SandboxSettings(db_path=cli_folder / "sandbox.sqlite3")) as fresh:
        assert cli("run", str(cli_sheet), "--rate", "200", url=fresh.url).returncode == 1
    assert read_results(downloaded) == read_results(cli_folder / "term4-outcomes.results.csv")


def test_every_step_fits_a_390_px_phone(phone: BrowserContext, sandbox: RunningSandbox, tmp_path: Path) -> None:
    sheet = mixed_unit_sheet(tmp_path / "a-long-file-name-for-term-four-outcomes-2026.csv")
    app = create_app(WebConfig(data_dir=tmp_path / "web-data", rate="200"), connection_to(sandbox))
    with serving(app) as url:
        page = phone.new_page()
        page.goto(url)
        fits(page, "upload")
        audit(page, "upload (phone)")
        page.set_input_files("#sheet", str(sheet))
        page.click("#check-button")
        expect(page.locator("h1")).to_contain_text("Check:")
        fits(page, "check")
        page.click("#settings summary")
        fits(page, "check, settings open")
        audit(page, "check (phone)")
        page.click("#plan-button")
        expect(page.locator("#apply-button")).to_be_visible(timeout=TIMEOUT)
        fits(page, "plan")
        audit(page, "plan (phone)")
        after = page.locator("table.plan .change-list .after").first.bounding_box()
        assert after is not None and after["x"] + after["width"] <= PHONE["width"], "the after-values are not cut off"
        wrap = page.locator(".table-wrap").last
        assert wrap.evaluate("w => w.scrollWidth > w.clientWidth"), "the wide table scrolls inside its card"
        shot(page, "web-6-phone.png")
        page.click("#apply-button")
        expect(page.locator("table.results")).to_be_visible(timeout=TIMEOUT)
        fits(page, "results")
        audit(page, "results (phone)")
        page.goto(url)
        fits(page, "job list")
        audit(page, "job list (phone)")
        page.click("#export-link")
        fits(page, "start from a class")
        audit(page, "start from a class (phone)")
        page.fill("#classes", "31002")
        page.click("#export-button")
        expect(page.locator("#export-download")).to_be_visible(timeout=TIMEOUT)
        fits(page, "exported")
        audit(page, "exported (phone)")


def test_module_sheet_upload_plan_apply(context: BrowserContext, sandbox: RunningSandbox, tmp_path: Path) -> None:
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
        expect(page.locator("table.results")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator("table.results tr.st-updated")).to_have_count(10)
        expect(page.locator("table.results tr.st-unchanged")).to_have_count(2)
    assert sandbox.stats.count("PUT", "/v2/learningPlan/modules/enrolments") == 10


def test_the_open_page_notices_a_restart_and_the_run_resumes(
    context: BrowserContext, start: Callable[..., RunningSandbox], tmp_path: Path
) -> None:
    sandbox = start(latency=0.05)
    data_dir = tmp_path / "web-data"
    sheet = mixed_unit_sheet(tmp_path / "term4.csv")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    page = context.new_page()
    # --timeout 5: the resume waits out the killed server's request timeout for its writes in flight.
    with web_process(sandbox.url, data_dir, port, "--rate", "6", "--timeout", "5") as server:
        page.goto(url)
        page.set_input_files("#sheet", str(sheet))
        page.click("#check-button")
        page.click("#plan-button")
        page.locator("#apply-button").wait_for(timeout=TIMEOUT)
        with page.expect_navigation():
            page.click("#apply-button")
        assert page.locator("#progress").get_attribute("data-state") == "running"
        wait_on_page(page, "(document.getElementById('progress') || {value: 0}).value > 3")
        kill(server)
    expect(page.locator("#progress-note")).to_have_text("Lost touch with the server; trying again…", timeout=TIMEOUT)
    with web_process(sandbox.url, data_dir, port, "--rate", "50", "--timeout", "5"):
        expect(page.locator("#restarted")).to_contain_text("The server was restarted", timeout=TIMEOUT)
        audit(page, "restart noticed")
        page.click("#restarted-link")
        expect(page.locator("#job-problem")).to_contain_text("was interrupted")
        assert page.locator("#progress-panel").get_attribute("data-verdict") == "failed"
        audit(page, "interrupted")
        page.click("#resume-button")
        expect(page.locator("table.results")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator("#resumed")).to_contain_text("Resumed after an interruption")
        expect(page.locator("table.results tr.st-updated")).to_have_count(23)
        audit(page, "resumed")
        shot(page, "web-7-resumed.png")
    assert sandbox.stats.count(*UNIT_PUT) == 23, "each changed row written once across the restart"
