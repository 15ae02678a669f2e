"""Workbooks in and out: `check` of a 100,000-row .xlsx, a zip bomb, and `export` of the benchmark's 50 classes.

    python bench/workbooks.py           # about 2 minutes; its section of docs/benchmarks.md is rewritten

Every measurement is the real CLI in a subprocess (`python -m batchupdate ...`), timed as a whole process
(imports included); peak memory is its maximum resident set size. The export runs against a sandbox served
by this process on 127.0.0.1 with the main benchmark's latency (50 ms) and rate limit (50/s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import run as bench  # noqa: E402 - bench/run.py, beside this file
from report import put_section  # noqa: E402

from batchupdate.sandbox import create_bench_database  # noqa: E402
from batchupdate.sandbox.seed import BENCH_FIRST_CLASS_ID  # noqa: E402
from tests.fakes import write_xlsx_bomb  # noqa: E402

ROWS = 100_000
BOMB_BYTES = 3 * 2**30  # 3 GB of XML inside the zip
HUGE_CELL_BYTES = 50 * 2**20
CLASSES, STUDENTS, UNITS = 50, 100, 4


def write_check_workbook(csv_sheet: Path, path: Path) -> None:
    """The main benchmark's check sheet as a workbook: numbers as numbers, dates as real date cells."""
    import csv

    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Outcomes")
    with csv_sheet.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        sheet.append(next(rows))
        for contact, class_id, unit, outcome, start, end in rows:
            day, month, year = (int(part) for part in end.split("/"))
            starts = dt.date.fromisoformat(start) if "-" in start else dt.datetime.strptime(start, "%d/%m/%Y").date()
            sheet.append([int(contact), int(class_id), unit, outcome, starts, dt.date(year, month, day)])
    book.save(path)


def check(sheet: Path, work: Path, expect: int = 0) -> bench.Measured:
    command = [sys.executable, "-m", "batchupdate", "check", str(sheet), "--no-progress"]
    measured = bench.measure(command, env=bench.environment(work), cwd=work)
    if measured.exit_code != expect:
        raise SystemExit(f"check {sheet.name} exited {measured.exit_code}, not {expect}:\n{measured.output}")
    return measured


def median_of_three(sheet: Path, work: Path) -> tuple[float, list[float], float]:
    runs = [check(sheet, work) for _ in range(3)]
    seconds = sorted(run.seconds for run in runs)
    return statistics.median(seconds), seconds, max(run.peak_mb for run in runs)


def export_line(work: Path) -> tuple[str, str]:
    database = work / "bench.sqlite3"
    create_bench_database(database, classes=CLASSES, students=STUDENTS, units=UNITS)
    classes = [str(BENCH_FIRST_CLASS_ID + number) for number in range(CLASSES)]
    with bench.serving(database, work, latency=bench.LATENCY, rate_limit=bench.LIMIT) as sandbox:
        sandbox.stats.reset()
        args = [item for class_id in classes for item in ("--class", class_id)]
        command = [sys.executable, "-m", "batchupdate", "export", "units", *args, "-o", "export.xlsx"]
        measured = bench.measure(command, env=bench.environment(work, sandbox.url), cwd=work)
        if measured.exit_code != 0:
            raise SystemExit(f"export failed (exit {measured.exit_code}):\n{measured.output}")
        served = sandbox.stats.count("GET", bench.UNITS_PATH)
        throttled = sandbox.stats.throttled
        sandbox.stats.reset()
        command = [sys.executable, "-m", "batchupdate", "run", "export.xlsx", "--no-progress"]
        ran = bench.measure(command, env=bench.environment(work, sandbox.url), cwd=work)
        if ran.exit_code != 0:
            raise SystemExit(f"run of the export failed (exit {ran.exit_code}):\n{ran.output}")
        run_gets = sandbox.stats.count("GET", bench.UNITS_PATH)
        run_puts = sandbox.stats.count("PUT", bench.UPDATE_PATH)
    rows = int(re.search(r"Wrote \S+: ([0-9,]+) rows", measured.output).group(1).replace(",", ""))  # type: ignore[union-attr]
    pages = CLASSES * -(-STUDENTS // 100)  # one listing page per 100 students of each class
    result = (
        f"{measured.seconds:.1f} s wall, {rows:,} rows; {served} GET /course/enrolments: the {pages} class pages, "
        f"and for each class of exactly 100 students one more (empty) page, as the listing gives no count; "
        f"{throttled} answered 429; peak memory {measured.peak_mb:.0f} MB. `run` of the untouched export: "
        f"{run_gets} GETs (it knows its students), {run_puts} PUTs, {ran.seconds:.1f} s"
    )
    return f"`export units` of the {CLASSES} benchmark classes ({STUDENTS} students x {UNITS} units each)", result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    options = parser.parse_args()
    started = dt.datetime.now().astimezone()
    lines: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="batchupdate-workbooks-") as folder:
        work = Path(folder)
        csv_sheet, xlsx_sheet = work / "check.csv", work / "check.xlsx"
        bench.write_check_sheet(csv_sheet, ROWS)
        write_check_workbook(csv_sheet, xlsx_sheet)
        check(xlsx_sheet, work)  # once to warm the bytecode cache and the page cache
        middle, seconds, peak = median_of_three(xlsx_sheet, work)
        size = xlsx_sheet.stat().st_size / 2**20
        shown = ", ".join(f"{value:.2f}" for value in seconds)
        lines.append(
            (
                f"`check` of {ROWS:,} rows, .xlsx ({size:.1f} MB; date cells, numbers)",
                f"{middle:.2f} s (median of 3: {shown}), peak memory {peak:.0f} MB",
                "under 3 s and 500 MB",
            )
        )
        middle, seconds, peak = median_of_three(csv_sheet, work)
        shown = ", ".join(f"{value:.2f}" for value in seconds)
        lines.append(("... the same rows as CSV, for comparison", f"{middle:.2f} s (median of 3: {shown}), "
                      f"peak memory {peak:.0f} MB", ""))  # fmt: skip
        bomb = work / "bomb.xlsx"
        write_xlsx_bomb(bomb, BOMB_BYTES)
        measured = check(bomb, work, expect=2)
        message = measured.output.strip().splitlines()[-1]
        lines.append(
            (
                f"`check` of a {bomb.stat().st_size / 2**20:.1f} MB .xlsx that expands to "
                f"{BOMB_BYTES / 2**30:.0f} GB of XML",
                f'exit 2 in {measured.seconds:.2f} s, peak memory {measured.peak_mb:.0f} MB: "{message}"',
                "one line, under 500 MB",
            )
        )
        huge = work / "huge-cell.xlsx"
        write_xlsx_bomb(huge, HUGE_CELL_BYTES)  # one 50 MB cell in row 2: no bomb by size, refused by its cell
        measured = check(huge, work, expect=2)
        message = measured.output.strip().splitlines()[-1]
        lines.append(
            (
                f"`check` of a .xlsx ({huge.stat().st_size / 2**10:.0f} KB) "
                f"with a {HUGE_CELL_BYTES // 2**20} MB cell in row 2",
                f'exit 2 in {measured.seconds:.2f} s, peak memory {measured.peak_mb:.0f} MB: "{message}"',
                "one line, under 500 MB",
            )
        )
        name, result = export_line(work)
        lines.append((name, result, "the lookups a run of the rows makes (one GET per class page)"))
    table = ["| Measure | Result | Target |", "|---|---|---|"]
    table += [f"| {measure} | {result} | {target} |" for measure, result, target in lines]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    section = "\n".join(
        [
            "## Workbooks in and out",
            "",
            f"`python bench/workbooks.py`, taken {started:%Y-%m-%d %H:%M %Z}; load average after {load}.",
            "",
            *table,
            "",
            "- `check` runs are whole processes (imports included), after one warm-up run; workbooks are read with",
            "  python-calamine, the bounds (expanded size, rows, cells) checked from the zip before any parsing.",
            f"- The export runs against the sandbox with {bench.LATENCY * 1000:.0f} ms latency and a limit of "
            f"{bench.LIMIT:.0f} requests/s.",
        ]
    )
    print(section)
    if not options.no_write:
        put_section("bench/workbooks.py", section, options.out)


if __name__ == "__main__":
    main()
