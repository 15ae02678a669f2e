"""Benchmark of the web page: server memory for big uploads, and a 5,000-row plan's page in Chromium.

    python bench/web.py            # about 3 minutes; writes its section of docs/benchmarks.md

- Memory: `batchupdate web` runs in a subprocess; its resident set (VmRSS) and peak (VmHWM) are read from
  /proc before and after uploading a 600,000-row workbook (refused: over the row limit) and a 100,000-row
  workbook (at the limit: checked in full).
- The plan page: a sandbox seeded with 50 classes of 100 students; a 5,000-row units sheet is uploaded and
  planned through the served page, then the plan's page is opened in Debian's Chromium three times: its
  HTML size, and the time from navigation to the load event (the page is then usable: the Apply button and
  the first page of rows drawn).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openpyxl
from report import put_section  # beside this script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from batchupdate.sandbox import (  # noqa: E402
    SANDBOX_API_TOKEN,
    SANDBOX_WS_TOKEN,
    SandboxSettings,
    create_bench_database,
    start_sandbox,
)
from batchupdate.sandbox.seed import BENCH_FIRST_CLASS_ID  # noqa: E402

HEADERS = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date", "trainer_note"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found


@contextlib.contextmanager
def web_server(work: Path, url: str | None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AXCELERATE_")}
    env["PYTHONPATH"] = str(REPO)
    if url:
        env.update(AXCELERATE_URL=url, AXCELERATE_API_TOKEN=SANDBOX_API_TOKEN, AXCELERATE_WS_TOKEN=SANDBOX_WS_TOKEN)
    command = [sys.executable, "-m", "batchupdate", "web", "--port", str(port), "--data", str(work / "web-data")]
    process = subprocess.Popen(
        [*command, *([] if url else ["--sandbox"]), "--rate", "200", "--max-upload-mb", "25"],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base, timeout=2).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "batchupdate web did not start"
            time.sleep(0.2)
        yield process, base
    finally:
        process.send_signal(2)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def workbook(path: Path, rows: int) -> Path:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Outcomes")
    sheet.append(HEADERS)
    for number in range(rows):
        sheet.append(
            [1_000_001 + number // 4, BENCH_FIRST_CLASS_ID + number % 500, "BSBWHS411", "C", "01/02/2026",
             "30/11/2026", f"note {number}"]
        )
    book.save(path)
    return path


def upload(client: httpx.Client, path: Path) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    with path.open("rb") as handle:
        response = client.post("/uploads", files={"sheet": (path.name, handle)}, data={"kind": ""})
    return response, time.perf_counter() - started


def memory_lines(work: Path) -> list[str]:
    big, limit = work / "600k.xlsx", work / "100k.xlsx"
    workbook(big, 600_000)
    workbook(limit, 100_000)
    lines = []
    with web_server(work, None) as (process, base), httpx.Client(
        base_url=base, headers={"origin": base}, follow_redirects=True, timeout=600
    ) as client:
        before = memory(process.pid)
        refused, seconds = upload(client, big)
        after_big = memory(process.pid)
        assert "the page takes at most 100,000" in refused.text, refused.text[:500]
        checked, limit_seconds = upload(client, limit)
        after_limit = memory(process.pid)
        assert "Check: 100k.xlsx" in checked.text
        page_bytes = len(checked.content)
    lines.append(
        f"| upload of a 600,000-row workbook ({big.stat().st_size / 1e6:.1f} MB, with `--max-upload-mb 25`): "
        f"refused, over the 100,000-row limit, in {seconds:.2f} s | server {before['VmRSS']:.0f} MB before, "
        f"{after_big['VmRSS']:.0f} MB after, peak {after_big['VmHWM']:.0f} MB | under 400 MB |"
    )
    lines.append(
        f"| upload of a 100,000-row workbook ({limit.stat().st_size / 1e6:.1f} MB): checked in full in "
        f"{limit_seconds:.1f} s; its check page {page_bytes / 1024:.0f} KB | server {after_limit['VmRSS']:.0f} MB "
        f"after, peak {after_limit['VmHWM']:.0f} MB | under 400 MB |"
    )
    return lines


def units_sheet(db_path: Path, sheet: Path) -> int:
    with sqlite3.connect(db_path) as connection:
        units = connection.execute(
            "SELECT e.contact_id, e.class_id, n.code, u.outcome_code FROM unit_enrolments u"
            " JOIN enrolments e USING (enrol_id) JOIN units n USING (unit_id)"
            " WHERE e.class_id >= ? ORDER BY e.class_id, e.contact_id, u.record_id",
            (BENCH_FIRST_CLASS_ID,),
        ).fetchall()
    rows, seen = [], set()
    for contact_id, class_id, code, outcome in units:
        if (contact_id, class_id) not in seen:
            seen.add((contact_id, class_id))
            rows.append([contact_id, class_id, code, "30" if outcome == "20" else "20", "02/03/2026", "29/05/2026", ""])
    import csv

    with sheet.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return len(rows)


def plan_lines(work: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    db_path = work / "sandbox.sqlite3"
    create_bench_database(db_path, classes=50, students=100, units=4)
    sheet = work / "units-5000.csv"
    rows = units_sheet(db_path, sheet)
    with start_sandbox(SandboxSettings(db_path=db_path)) as sandbox, web_server(work, sandbox.url) as (_, base):
        with httpx.Client(base_url=base, headers={"origin": base}, follow_redirects=True, timeout=600) as client:
            checked, _ = upload(client, sheet)
            plan = client.post(checked.url.path + "/plan", follow_redirects=False).headers["location"]
            while client.get(f"{plan}/status").json()["state"] == "running":
                time.sleep(0.5)
            html = client.get(plan)
        with sync_playwright() as playwright:
            chromium = playwright.chromium
            browser = chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            times = []
            for _ in range(3):
                started = time.perf_counter()
                page.goto(base + plan, wait_until="load")
                page.locator("#apply-button").wait_for(state="visible")
                times.append(time.perf_counter() - started)
            shown = page.locator("table.plan tbody tr").count()
            browser.close()
    return [
        f"| the plan page of a {rows:,}-row sheet: {len(html.content) / 1024:.0f} KB of HTML ({shown} rows a "
        f"page), usable in Chromium in {statistics.median(times):.2f} s (median of 3: "
        f"{', '.join(f'{t:.2f}' for t in times)} s) | | under 2 s |"
    ]


def main() -> None:
    started = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="batchupdate-web-bench-") as folder:
        work = Path(folder)
        lines = memory_lines(work) + plan_lines(work)
    load = os.getloadavg()
    section = f"""## The web page

`python bench/web.py`, taken {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores (load average
{load[0]:.1f} after). The server is `batchupdate web` in a subprocess; memory is read from its /proc status.

| Measure | Result | Target |
|---|---|---|
{chr(10).join(lines)}
"""
    put_section("bench/web.py", section)
    print(section)


if __name__ == "__main__":
    main()
