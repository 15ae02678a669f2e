"""How fast batchupdate applies a big sheet, measured against the sandbox over loopback.

    python bench/run.py                 # the full benchmark (about 7 minutes), table to docs/benchmarks.md
    python bench/run.py --quick         # a small smoke version (about a minute), nothing written
    python bench/run.py --pacing        # only the pacing section (about 7 minutes), to docs/benchmarks.md
    python bench/run.py --readings      # requests and wall time under each reading of the API (a few minutes),
                                        # its lines into docs/benchmarks.md ("Under each reading")

Every run of the tool is the real CLI in a subprocess (`python -m batchupdate run SHEET --no-progress`)
against a sandbox served by this process on 127.0.0.1 with its latency and rate-limit knobs; each scenario
gets a fresh copy of one seeded database. Requests are counted by the sandbox (served and answered 429)
and by the CLI's own summary line. Not part of the test suite: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pacing_sim  # beside this script
from report import put_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from batchupdate.pacing import DEFAULT_CONCURRENCY  # noqa: E402
from batchupdate.sandbox import (  # noqa: E402 - the repo root goes on the path first
    SANDBOX_API_TOKEN,
    SANDBOX_WS_TOKEN,
    RunningSandbox,
    SandboxSettings,
    create_bench_database,
    start_sandbox,
)
from batchupdate.sandbox.faults import ScriptedFault, throttle_first  # noqa: E402
from batchupdate.sandbox.seed import BENCH_FIRST_CLASS_ID  # noqa: E402
from batchupdate.sandbox.settings import READINGS  # noqa: E402

LATENCY = 0.050  # seconds the sandbox waits before answering
SLOW_LATENCY = 0.250  # a slow server: more requests must be in flight to keep up the pace
LIMIT = 50.0  # requests per second the sandbox lets through before answering 429
FIXED_RATE = 40.0  # the --rate N whose ceiling is checked
UNITS_PATH, UPDATE_PATH = "/course/enrolments", "/course/enrolment"
SHEET_HEADERS = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date"]
NEW_START, NEW_END = "02/03/2026", "29/05/2026"
RECOVERY_ROWS = (100, 400)  # sheets run after early 429s
EARLY_429S = 4
RECOVERY_REPEATS = 5  # runs of each, the median shown
PACING_HEADING = "## Pacing: steady state, and recovery after early 429s"


@dataclass(frozen=True)
class Size:
    """How big each part of the benchmark is."""

    classes: int  # classes in the sheet, every student of each in it (one row per student)
    students: int  # per class
    units: int  # unit enrolments per student
    unchanged_every: int  # every Nth row (that has an outcome) already holds what it asks for
    sequential_rows: int  # the sample the sequential script runs (then scaled per row)
    check_rows: int
    fixed_rate_rows: int
    slow_server_classes: int  # the first classes of the sheet, run against a slow server

    @property
    def rows(self) -> int:
        return self.classes * self.students


FULL = Size(classes=50, students=100, units=4, unchanged_every=20, sequential_rows=200, check_rows=100_000,
            fixed_rate_rows=1_000, slow_server_classes=25)  # fmt: skip
QUICK = Size(classes=10, students=50, units=4, unchanged_every=20, sequential_rows=40, check_rows=20_000,
             fixed_rate_rows=200, slow_server_classes=5)  # fmt: skip


@dataclass
class Measured:
    """A finished subprocess: wall time, its own CPU time and peak memory, exit code and output."""

    seconds: float
    cpu: float
    peak_mb: float
    exit_code: int
    output: str


@dataclass
class ToolRun:
    """One `batchupdate run` against the sandbox, seen from both ends."""

    process: Measured
    sandbox_cpu: float
    served: Counter[str]
    throttled: int
    writes_applied: int
    statuses: Counter[str]
    reported: dict[str, int]  # the CLI's "Requests:" line
    pool_timeouts: int
    arrivals: list[float] = field(default_factory=list)

    @property
    def answered_429_share(self) -> float:
        total = sum(self.served.values()) + self.throttled
        return self.throttled / total if total else 0.0


# --- the data ------------------------------------------------------------------------------------------------


def seed(path: Path, size: Size) -> None:
    create_bench_database(path, classes=size.classes, students=size.students, units=size.units)


def write_units_sheet(db_path: Path, sheet: Path, size: Size) -> int:
    """One row per bench student (their first unit); return how many rows change something."""
    with sqlite3.connect(db_path) as connection:
        units = connection.execute(
            "SELECT e.contact_id, e.class_id, n.code, u.outcome_code FROM unit_enrolments u"
            " JOIN enrolments e USING (enrol_id) JOIN units n USING (unit_id)"
            " WHERE e.class_id >= ? ORDER BY e.class_id, e.contact_id, u.record_id",
            (BENCH_FIRST_CLASS_ID,),
        ).fetchall()
    rows: list[list[object]] = []
    seen: set[tuple[int, int]] = set()
    changed = 0
    for contact_id, class_id, code, outcome in units:
        if (contact_id, class_id) in seen:
            continue
        seen.add((contact_id, class_id))
        if outcome and len(rows) % size.unchanged_every == 0:
            rows.append([contact_id, class_id, code, outcome, "", ""])  # already so: nothing to send
        else:
            rows.append([contact_id, class_id, code, "30" if outcome == "20" else "20", NEW_START, NEW_END])
            changed += 1
    assert len(rows) == size.rows, (len(rows), size.rows)
    write_csv(sheet, rows)
    return changed


def write_check_sheet(sheet: Path, rows: int) -> None:
    """A big units sheet for `check`: valid rows in the shapes people type (codes, numbers, both date forms)."""
    outcomes = ["C", "20", "CNA", "30", "RPL-G", "ct", "CA"]
    units = ["BSBWHS411", "BSBOPS404", "CHCDIV001", "SITXFSA005", "BSBXCM401"]
    write_csv(
        sheet,
        (
            [
                1_000_001 + number // 4,
                BENCH_FIRST_CLASS_ID + number % 500,
                units[number % len(units)],
                outcomes[number % len(outcomes)],
                f"{1 + number % 28:02d}/02/2026" if number % 2 else f"2026-02-{1 + number % 28:02d}",
                f"{1 + number % 28:02d}/11/2026",
            ]
            for number in range(rows)
        ),
    )


def write_csv(path: Path, rows: object) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(SHEET_HEADERS)
        writer.writerows(rows)  # type: ignore[arg-type]


# --- running things ------------------------------------------------------------------------------------------


def measure(command: list[str], *, env: dict[str, str], cwd: Path) -> Measured:
    """Run a subprocess to the end; its own rusage (not every child's) gives its CPU time and peak memory."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    return Measured(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode, text)


def environment(work: Path, url: str | None = None) -> dict[str, str]:
    """The CLI's environment: this repo on the path, its bytecode cached as an installed package has it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AXCELERATE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # `pip install` compiles the package; a checkout run with PYTHONDONTWRITEBYTECODE would compile it
    # again on every start. The cache goes to the benchmark's temporary folder, not into the repo.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    if url:
        env |= {"AXCELERATE_URL": url, "AXCELERATE_API_TOKEN": SANDBOX_API_TOKEN}
        env["AXCELERATE_WS_TOKEN"] = SANDBOX_WS_TOKEN
    return env


@contextmanager
def serving(template: Path, work: Path, **settings: float | None) -> Iterator[RunningSandbox]:
    """A sandbox on loopback over a fresh copy of the seeded database."""
    db_path = work / f"sandbox-{time.monotonic_ns()}.sqlite3"
    shutil.copyfile(template, db_path)
    with start_sandbox(SandboxSettings(db_path=db_path, **settings)) as sandbox:  # type: ignore[arg-type]
        yield sandbox


def run_tool(sandbox: RunningSandbox, sheet: Path, work: Path, *options: str, record_arrivals: bool = False) -> ToolRun:
    """`batchupdate run SHEET` in a subprocess, as a user would run it."""
    stats = sandbox.stats
    stats.reset()
    arrivals: list[float] = []
    if record_arrivals:
        record_served = stats.record_served

        def record(method: str, path: str, params: dict[str, str]) -> None:
            arrivals.append(time.monotonic())
            record_served(method, path, params)

        stats.record_served = record  # type: ignore[method-assign]
    command = [sys.executable, "-m", "batchupdate", "run", str(sheet), "--no-progress", *options]
    cpu_before = time.process_time()  # this process does nothing but serve the sandbox meanwhile
    process = measure(command, env=environment(work, sandbox.url), cwd=work)
    sandbox_cpu = time.process_time() - cpu_before
    if record_arrivals:
        del stats.record_served
    if process.exit_code not in (0, 1):
        raise SystemExit(f"batchupdate run failed (exit {process.exit_code}):\n{process.output}")
    served = Counter({f"{method} {path}": stats.count(method, path) for method, path in
                      (("GET", UNITS_PATH), ("PUT", UPDATE_PATH))})  # fmt: skip
    return ToolRun(
        process=process,
        sandbox_cpu=sandbox_cpu,
        served=served,
        throttled=stats.throttled,
        writes_applied=stats.writes_applied,
        statuses=result_statuses(sheet),
        reported=reported_requests(process.output),
        pool_timeouts=count_in_log(process.output, "PoolTimeout", work),
        arrivals=arrivals,
    )


def result_statuses(sheet: Path) -> Counter[str]:
    with sheet.with_suffix(".results.csv").open(encoding="utf-8-sig", newline="") as file:
        return Counter(row["status"] for row in csv.DictReader(file))


def reported_requests(output: str) -> dict[str, int]:
    """The CLI summary's "Requests: 50 GET /course/enrolments, 4750 PUT /course/enrolment (...)"."""
    line = next((line for line in output.splitlines() if line.startswith("Requests:")), "")
    return {kind: int(number) for number, kind in re.findall(r"(\d+) ((?:GET|PUT|POST) \S+?)(?:,| \()", line)}


def count_in_log(output: str, text: str, work: Path) -> int:
    match = re.search(r"^Log: (.+)$", output, re.MULTILINE)
    if not match:
        return 0
    log = work / match.group(1).strip()
    return log.read_text(encoding="utf-8").count(text) if log.is_file() else 0


def run_sequential(sandbox: RunningSandbox, sheet: Path, rows: int, work: Path) -> dict[str, float]:
    command = [sys.executable, str(REPO / "bench" / "sequential.py"), str(sheet), "--rows", str(rows)]
    process = measure(command, env=environment(work, sandbox.url), cwd=work)
    if process.exit_code != 0:
        raise SystemExit(f"bench/sequential.py failed (exit {process.exit_code}):\n{process.output}")
    result: dict[str, float] = json.loads(process.output.strip().splitlines()[-1])
    return result


def steady_rate(times: list[float]) -> float:
    """Requests per second over the second half of a run (after the pacer's climb from its gentle start)."""
    times = sorted(times)
    half = times[len(times) // 2 :]
    return (len(half) - 1) / (half[-1] - half[0]) if len(half) > 1 and half[-1] > half[0] else 0.0


def busiest_second(times: list[float]) -> int:
    """The most events in any window [t, t + 1 s)."""
    times, most, first = sorted(times), 0, 0
    for last, now in enumerate(times):
        while times[first] <= now - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


# --- the benchmark -------------------------------------------------------------------------------------------


@dataclass
class Line:
    """One line of the table."""

    measure: str
    result: str
    target: str = ""
    verdict: str = ""


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def benchmark(size: Size, work: Path) -> tuple[list[Line], list[Line]]:
    """The main table's lines, and the pacing section's."""
    template, sheet = work / "seeded.sqlite3", work / "units.csv"
    progress(f"seeding {size.classes} classes x {size.students} students x {size.units} units")
    seed(template, size)
    write_units_sheet(template, sheet, size)
    warm_up = measure([sys.executable, "-m", "batchupdate", "--help"], env=environment(work), cwd=work)
    assert warm_up.exit_code == 0, warm_up.output  # imports everything once, so its bytecode is cached

    progress(f"run, limit {LIMIT:g}/s, latency {LATENCY * 1000:g} ms, --rate auto")
    with serving(template, work, latency=LATENCY, rate_limit=LIMIT) as sandbox:
        limited = run_tool(sandbox, sheet, work)
        progress("re-run of the same sheet")
        rerun = run_tool(sandbox, sheet, work)
    progress(f"sequential script, limit {LIMIT:g}/s, {size.sequential_rows}-row sample")
    with serving(template, work, latency=LATENCY, rate_limit=LIMIT) as sandbox:
        sequential_limited = run_sequential(sandbox, sheet, size.sequential_rows, work)
    progress(f"run, no limit, latency {LATENCY * 1000:g} ms")
    with serving(template, work, latency=LATENCY) as sandbox:
        unlimited = run_tool(sandbox, sheet, work)
    progress(f"sequential script, no limit, {size.sequential_rows}-row sample")
    with serving(template, work, latency=LATENCY) as sandbox:
        sequential_unlimited = run_sequential(sandbox, sheet, size.sequential_rows, work)
    slow_sheet = head_of(sheet, work / "slow-server.csv", size.slow_server_classes * size.students)
    slow_runs = {}
    for concurrency in (8, DEFAULT_CONCURRENCY):
        progress(f"run of {slow_sheet.name}, limit {LIMIT:g}/s, latency {SLOW_LATENCY * 1000:g} ms, "
                 f"--concurrency {concurrency}")  # fmt: skip
        with serving(template, work, latency=SLOW_LATENCY, rate_limit=LIMIT) as sandbox:
            slow_runs[concurrency] = run_tool(sandbox, slow_sheet, work, "--concurrency", str(concurrency))
    progress("run, no limit, no latency (the client's ceiling)")
    with serving(template, work) as sandbox:
        ceiling = run_tool(sandbox, sheet, work, record_arrivals=True)
    progress(f"run --rate {FIXED_RATE:g} on {size.fixed_rate_rows} rows, no limit")
    fixed_sheet = head_of(sheet, work / "fixed-rate.csv", size.fixed_rate_rows)
    with serving(template, work) as sandbox:
        fixed = run_tool(sandbox, fixed_sheet, work, "--rate", f"{FIXED_RATE:g}", record_arrivals=True)
    progress(f"check of {size.check_rows:,} rows, three times")
    check_sheet = work / "check.csv"
    write_check_sheet(check_sheet, size.check_rows)
    checks = [run_check(check_sheet, work) for _ in range(3)]

    lines = limited_lines(size, sheet, limited)
    lines += sequential_lines(size, limited, sequential_limited, unlimited, sequential_unlimited)
    lines += slow_server_lines(slow_sheet, slow_runs)
    pages, _ = fewest_requests(sheet)
    lines.append(
        Line(
            f"Re-run of the same sheet (all unchanged), limit {LIMIT:g}/s, latency {LATENCY * 1000:g} ms",
            f"{request_text(rerun.reported)}; results: {status_text(rerun.statuses)}; {rerun.process.seconds:.1f} s",
            "no writes; at most one GET per class page",
            verdict(rerun.served["PUT " + UPDATE_PATH] == 0 and rerun.served["GET " + UNITS_PATH] <= pages),
        )
    )
    seconds = sorted(check.seconds for check in checks)
    peak = max(check.peak_mb for check in checks)
    lines.append(
        Line(
            f"`check` of {size.check_rows:,} rows",
            f"{seconds[1]:.2f} s (median of 3: {', '.join(f'{value:.2f}' for value in seconds)}), "
            f"peak memory {peak:.0f} MB",
            "under 3 s and 500 MB",
            verdict(seconds[1] < 3 and peak < 500),
        )
    )
    rows, cpu, wall = size.rows, ceiling.process.cpu, ceiling.process.seconds
    lines.append(
        Line(
            "Client's ceiling: no limit, no latency, `--rate auto`",
            f"{rows / wall:.0f} rows/s over the run ({wall:.1f} s wall, from Python's start), "
            f"{steady_rate(ceiling.arrivals):.0f} requests/s at full speed; client CPU {cpu:.1f} s "
            f"({cpu / wall:.0%} of a core, {1000 * cpu / rows:.2f} ms/row); sandbox CPU {ceiling.sandbox_cpu:.1f} s "
            f"({ceiling.sandbox_cpu / wall:.0%} of a core)",
        )
    )
    most = busiest_second(fixed.arrivals)
    lines.append(
        Line(
            f"`--rate {FIXED_RATE:g}`, {size.fixed_rate_rows:,} rows, no limit: busiest second at the sandbox",
            f"{most} requests ({len(fixed.arrivals):,} in {fixed.process.seconds:.1f} s)",
            f"never more than {FIXED_RATE:g}",
            verdict(most <= FIXED_RATE),
        )
    )
    progress("recovery after early 429s")
    recovery = recovery_lines(template, sheet, work)
    runs = [limited, rerun, unlimited, ceiling, fixed, *slow_runs.values()]
    timeouts = sum(run.pool_timeouts for run in runs)
    lines.append(Line("`PoolTimeout` in the logs of every run above", str(timeouts), "none", verdict(timeouts == 0)))
    return lines, limited_lines(size, sheet, limited)[:2] + recovery


def pacing_benchmark(size: Size, work: Path) -> list[Line]:
    """The steady state under a limit (the first lines of the main table), then recovery after early 429s."""
    template, sheet = work / "seeded.sqlite3", work / "units.csv"
    progress(f"seeding {size.classes} classes x {size.students} students x {size.units} units")
    seed(template, size)
    write_units_sheet(template, sheet, size)
    warm_up = measure([sys.executable, "-m", "batchupdate", "--help"], env=environment(work), cwd=work)
    assert warm_up.exit_code == 0, warm_up.output
    progress(f"run, limit {LIMIT:g}/s, latency {LATENCY * 1000:g} ms, --rate auto")
    with serving(template, work, latency=LATENCY, rate_limit=LIMIT) as sandbox:
        limited = run_tool(sandbox, sheet, work)
    return limited_lines(size, sheet, limited)[:2] + recovery_lines(template, sheet, work)


def recovery_lines(template: Path, sheet: Path, work: Path) -> list[Line]:
    """The first rows of the sheet against the limited sandbox: clean, after early 429s without Retry-After,
    and after one early 429 with `Retry-After: 1` (another integration has just used the quota)."""
    scenarios: dict[str, Callable[[], ScriptedFault] | None] = {
        "clean": None,
        "early": lambda: throttle_first(EARLY_429S),
        "retry-after": lambda: throttle_first(1, retry_after="1"),
    }
    lines = []
    for rows in RECOVERY_ROWS:
        part = head_of(sheet, work / f"recovery-{rows}.csv", rows)
        seconds: dict[str, list[float]] = {name: [] for name in scenarios}
        throttled: dict[str, list[int]] = {name: [] for name in scenarios}
        for repeat in range(RECOVERY_REPEATS):
            for name, fault in scenarios.items():
                progress(f"{rows} rows, {name}, run {repeat + 1} of {RECOVERY_REPEATS}")
                with serving(template, work, latency=LATENCY, rate_limit=LIMIT) as sandbox:
                    if fault is not None:
                        sandbox.script.add(fault())
                    run = run_tool(sandbox, part, work)
                if run.statuses.get("updated", 0) + run.statuses.get("unchanged", 0) != rows:
                    raise SystemExit(f"{rows} rows, {name}: not every row ended right: {status_text(run.statuses)}")
                seconds[name].append(run.process.seconds)
                throttled[name].append(run.throttled)
        median = {name: sorted(values)[len(values) // 2] for name, values in seconds.items()}
        clean, early, paused = median["clean"], median["early"], median["retry-after"]

        def runs(name: str, seconds: dict[str, list[float]] = seconds) -> str:
            return ", ".join(f"{value:.1f}" for value in sorted(seconds[name]))

        def refused(name: str, throttled: dict[str, list[int]] = throttled) -> str:
            low, high = min(throttled[name]), max(throttled[name])
            return str(low) if low == high else f"{low}-{high}"

        title = f"{rows} rows, limit {LIMIT:g}/s, latency {LATENCY * 1000:g} ms"
        lines.append(Line(f"{title}: clean", f"{clean:.1f} s (median of {runs('clean')}); 429s {refused('clean')}"))
        lines.append(
            Line(
                f"... after {EARLY_429S} early 429s without Retry-After",
                f"{early:.1f} s (median of {runs('early')}): {early / clean:.2f}x clean; 429s {refused('early')}",
                "at most 3x clean",
                verdict(early <= 3 * clean),
            )
        )
        lines.append(
            Line(
                "... after one early 429 with `Retry-After: 1`",
                f"{paused:.1f} s (median of {runs('retry-after')}): {paused - clean:+.1f} s; "
                f"429s {refused('retry-after')}",
                "about 1 s more than clean",
                verdict(paused - clean <= 1.5),
            )
        )
    return lines


def limited_lines(size: Size, sheet: Path, run: ToolRun) -> list[Line]:
    """Under a server limit: time against the floor, 429s, requests by kind."""
    pages, changed = fewest_requests(sheet)
    floor = (pages + changed) / LIMIT
    over = run.process.seconds / floor - 1
    sent = sum(run.served.values()) + run.throttled
    gets, puts = run.served["GET " + UNITS_PATH], run.served["PUT " + UPDATE_PATH]
    title = f"{size.rows:,} rows, {size.classes} classes; limit {LIMIT:g}/s, latency {LATENCY * 1000:g} ms"
    return [
        Line(
            f"{title}: wall time",
            f"{run.process.seconds:.1f} s; floor {floor:.1f} s ({pages + changed:,} requests / {LIMIT:g} per s): "
            f"{over:+.1%}",
            "within 10% of the floor",
            verdict(over <= 0.10),
        ),
        Line(
            "... requests answered 429",
            f"{run.answered_429_share:.2%} ({run.throttled} of {sent:,})",
            "at most 3%",
            verdict(run.answered_429_share <= 0.03),
        ),
        Line("... GETs", f"{gets} for {pages} class pages", "at most one per class page", verdict(gets <= pages)),
        Line(
            "... writes",
            f"{puts:,} PUTs for {changed:,} changed rows ({run.writes_applied:,} applied; results: "
            f"{status_text(run.statuses)})",
            "exactly the changed rows",
            verdict(puts == run.writes_applied == run.statuses["updated"] == changed),
        ),
        Line(
            "... the CLI's summary",
            f"{request_text(run.reported)}; client CPU {run.process.cpu:.1f} s, sandbox CPU {run.sandbox_cpu:.1f} s",
        ),
    ]


def sequential_lines(
    size: Size, limited: ToolRun, script_limited: dict[str, float], unlimited: ToolRun, script: dict[str, float]
) -> list[Line]:
    """The plain loop against the tool, scaled per row to the whole sheet."""
    lines = []
    for label, tool, sample, capped in (
        (f"limit {LIMIT:g}/s", limited, script_limited, True),
        ("no limit", unlimited, script, False),
    ):
        scaled = sample["seconds"] / sample["rows"] * size.rows
        gain = scaled / tool.process.seconds
        line = Line(
            f"Sequential script vs tool, latency {LATENCY * 1000:g} ms, {label}",
            f"script {scaled:.0f} s ({sample['rows']:g}-row sample took {sample['seconds']:.1f} s, scaled per row); "
            f"tool {tool.process.seconds:.1f} s: **{gain:.1f}x** faster",
        )
        if capped:
            line.target = "the floor caps the gain (first line)"
        else:
            line.target, line.verdict = "at least 10x faster", verdict(gain >= 10)
            line.result += f" ({size.rows / tool.process.seconds:.0f} rows/s)"
        lines.append(line)
    return lines


def slow_server_lines(sheet: Path, runs: dict[int, ToolRun]) -> list[Line]:
    """How many requests must be in flight: the pace times the latency."""
    pages, changed = fewest_requests(sheet)
    floor = (pages + changed) / LIMIT
    lines = []
    for concurrency, run in runs.items():
        over = run.process.seconds / floor - 1
        default = " (the default)" if concurrency == DEFAULT_CONCURRENCY else ""
        lines.append(
            Line(
                f"Slow server: {changed + pages:,} requests, limit {LIMIT:g}/s, latency "
                f"{SLOW_LATENCY * 1000:g} ms, `--concurrency {concurrency}`{default}",
                f"{run.process.seconds:.1f} s; floor {floor:.1f} s: {over:+.1%}; 429s {run.answered_429_share:.2%}",
                f"in flight needed: {LIMIT:g}/s x {SLOW_LATENCY:g} s = {LIMIT * SLOW_LATENCY:g}",
            )
        )
    return lines


def fewest_requests(sheet: Path) -> tuple[int, int]:
    """The class pages and changed rows of a bench sheet: the fewest GETs and PUTs it can need."""
    with sheet.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    per_class = Counter(row["class_id"] for row in rows)
    pages = sum(-(-students // 100) for students in per_class.values())  # the sandbox's pages hold 100
    return pages, sum(1 for row in rows if row["start_date"])  # unchanged rows leave the dates blank


def head_of(sheet: Path, path: Path, rows: int) -> Path:
    """The sheet's first ``rows`` rows as another sheet."""
    with sheet.open(encoding="utf-8") as file:
        path.write_text("".join(file.readlines()[: rows + 1]), encoding="utf-8")
    return path


def run_check(sheet: Path, work: Path) -> Measured:
    check = measure([sys.executable, "-m", "batchupdate", "check", str(sheet), "--no-progress"],
                    env=environment(work), cwd=work)  # fmt: skip
    if check.exit_code != 0:
        raise SystemExit(f"batchupdate check failed (exit {check.exit_code}):\n{check.output}")
    return check


def status_text(statuses: Counter[str]) -> str:
    return ", ".join(f"{number:,} {status}" for status, number in sorted(statuses.items()))


def request_text(reported: dict[str, int]) -> str:
    return ", ".join(f"{number:,} {kind}" for kind, number in sorted(reported.items())) or "none"


def table(lines: list[Line]) -> str:
    rows = ["| Measure | Result | Target | |", "|---|---|---|---|"]
    rows += [f"| {line.measure} | {line.result} | {line.target} | {line.verdict} |" for line in lines]
    return "\n".join(rows)


def machine(load_before: tuple[float, float, float], load_after: tuple[float, float, float]) -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line),
            model,
        )
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({model}), Python "
        f"{platform.python_version()}; commit {commit or '?'}; load average (1/5/15 min) "
        f"{'/'.join(f'{value:.2f}' for value in load_before)} before, "
        f"{'/'.join(f'{value:.2f}' for value in load_after)} after"
    )


def wait_for_quiet(max_load: float, patience: float) -> None:
    """Wait (up to ``patience`` seconds) for the 1-minute load average to fall under ``max_load``."""
    deadline = time.monotonic() + patience
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        progress(f"load average {os.getloadavg()[0]:.2f} >= {max_load:g}; waiting")
        time.sleep(30)


# --- under each reading (issue 10) ---------------------------------------------------------------------------

READINGS_HEADING = "## Under each reading"
READINGS_SIZE = Size(classes=4, students=50, units=4, unchanged_every=20, sequential_rows=0, check_rows=0,
                     fixed_rate_rows=0, slow_server_classes=0)  # fmt: skip
MODULE_HEADERS = ["contact_id", "class_id", "module_name", "access", "start_date", "end_date"]
MODULE_END = "2026-12-18"
TRUST_AFTER = 3  # writes a run re-reads before it trusts an answer that does not prove itself (client.WriteProof)


def write_modules_sheet(db_path: Path, sheet: Path) -> int:
    """One row per open module enrolment of the demo classes, each moving its end date; return the rows."""
    with sqlite3.connect(db_path) as connection:
        modules = connection.execute(
            "SELECT e.contact_id, e.class_id, m.module_name FROM module_enrolments m JOIN enrolments e USING"
            " (enrol_id) WHERE m.status_id IN (1, 2) ORDER BY e.class_id, e.contact_id, m.module_enrolment_id"
        ).fetchall()
    with sheet.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(MODULE_HEADERS)
        writer.writerows([contact, klass, name, "", "", MODULE_END] for contact, klass, name in modules)
    return len(modules)


def fewest_for_reading(reading: str, kind: str, rows: int, changed: int, pages: int) -> int:
    """The fewest requests the reading allows a tool that concludes only from documented answers.

    units: one GET per class page when listings carry units, else one per student; modules: the report
    fields, then one run (or one per capped answer's worth of rows); then the writes, and the re-reads a
    write answer that proves nothing needs before the run may trust its shape.
    """
    settings = READINGS[reading]
    if kind == "units":
        lookups = pages if settings.get("listing_activities", "full") == "full" else rows
    else:
        cap = settings.get("report_row_cap")
        lookups = 1 + (1 if cap is None else -(-rows // cap))
    proves = settings.get("write_reply", "documented") == "documented"
    return lookups + changed + (0 if proves else min(changed, TRUST_AFTER))


def readings_benchmark(work: Path) -> list[Line]:
    """Each reading: a units sheet and a modules sheet run against it; requests and wall time against the fewest."""
    template, units_sheet, modules_sheet = work / "seeded.sqlite3", work / "units.csv", work / "modules.csv"
    seed(template, READINGS_SIZE)
    changed_units = write_units_sheet(template, units_sheet, READINGS_SIZE)
    module_rows = write_modules_sheet(template, modules_sheet)
    pages, _ = fewest_requests(units_sheet)
    warm_up = measure([sys.executable, "-m", "batchupdate", "--help"], env=environment(work), cwd=work)
    assert warm_up.exit_code == 0, warm_up.output
    lines: list[Line] = []
    for reading, preset in READINGS.items():
        for kind, sheet, rows, changed in (("units", units_sheet, READINGS_SIZE.rows, changed_units),
                                           ("modules", modules_sheet, module_rows, module_rows)):  # fmt: skip
            progress(f"{reading}: {kind}")
            with serving(template, work, rate_limit=LIMIT, latency=LATENCY, **preset) as sandbox:
                run = run_tool(sandbox, sheet, work)
                served = Counter(f"{method} {path}" for method, path, _ in sandbox.stats.log)
                sent = sum(served.values()) + run.throttled  # a request answered 429 was sent too
            fewest = fewest_for_reading(reading, kind, rows, changed, pages)
            floor = fewest / LIMIT
            ratio = sent / fewest
            lines.append(Line(
                f"`{reading}`, {kind}: {rows:,} rows ({changed:,} to change)",
                f"{sent:,} requests ({request_text(dict(served))}; {run.throttled} answered 429) for {fewest:,} "
                f"at the fewest: {ratio:.2f}x; "
                f"{run.process.seconds:.1f} s against a floor of {floor:.1f} s; results {status_text(run.statuses)}",
                "at most 1.2x the fewest",
                verdict(ratio <= 1.2 and set(run.statuses) <= {"updated", "unchanged"}),
            ))  # fmt: skip
    return lines


def write_readings(out: Path, text: str, about: str, started: dt.datetime) -> None:
    """Put the readings table into docs/benchmarks.md under its own heading, keeping the rest of the file."""
    section = f"""{READINGS_HEADING}

`python bench/run.py --readings`, taken {started:%Y-%m-%d %H:%M %Z} on {about}.
Each reading the sandbox plays (`batchupdate sandbox --reading NAME`), limit {LIMIT:g} requests/s, latency
{LATENCY * 1000:g} ms: a units sheet ({READINGS_SIZE.classes} classes of {READINGS_SIZE.students} students, one
row per student) and a modules sheet (every open module enrolment of the demo classes, each moving its end
date), each the real CLI in a subprocess against a fresh copy of the database. "The fewest" is what that
reading allows a tool that concludes only from documented answers (bench/run.py `fewest_for_reading`): one GET
per class page, or per student where listings carry no units; the report fields and one report run, or one per
{READINGS["report-capped"]["report_row_cap"]} rows where answers are capped; one PUT per row to change; and,
where a write's answer proves nothing, the {TRUST_AFTER} re-reads after which its shape is trusted. The floor
is the fewest divided by the limit; wall times include starting Python and the pacer's climb from 10 requests/s.
Requests are counted by the sandbox (served, and answered 429).

{text}
"""
    put_section("bench/run.py --readings", section, out)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark batchupdate against the sandbox over loopback.")
    parser.add_argument("--quick", action="store_true", help="a small smoke version (about a minute)")
    parser.add_argument("--pacing", action="store_true", help="only the pacing section (about 5 minutes)")
    parser.add_argument("--pacer-from", help="in the pacing section's fake-clock table, also this commit's pacer")
    parser.add_argument("--readings", action="store_true", help="requests and wall time under each API reading")
    parser.add_argument("--out", type=Path, help="write the table here (default docs/benchmarks.md; none for --quick)")
    parser.add_argument("--max-load", type=float, default=0.0, help="first wait for the load average to fall below")
    parser.add_argument("--patience", type=float, default=900.0, help="seconds to wait for that, at most")
    arguments = parser.parse_args()
    size = QUICK if arguments.quick else FULL
    out = arguments.out or (None if arguments.quick else REPO / "docs" / "benchmarks.md")
    if arguments.max_load:
        wait_for_quiet(arguments.max_load, arguments.patience)
    # The sandbox serves from this process. Frozen, everything imported so far (pandas included) is no
    # longer walked by every garbage collection, whose pauses would bunch the requests the sandbox lets in
    # and make its rate limit trip below the limit.
    gc.freeze()
    load_before = os.getloadavg()
    started = dt.datetime.now().astimezone()
    if arguments.readings:
        with tempfile.TemporaryDirectory(prefix="batchupdate-bench-") as folder:
            lines = readings_benchmark(Path(folder))
        text, about = table(lines), machine(load_before, os.getloadavg())
        print(text)
        out = arguments.out or REPO / "docs" / "benchmarks.md"
        write_readings(out, text, about, started)
        progress(f"written to {out}")
        return
    with tempfile.TemporaryDirectory(prefix="batchupdate-bench-") as folder:
        if arguments.pacing:
            lines, pacing = list[Line](), pacing_benchmark(size, Path(folder))
        else:
            lines, pacing = benchmark(size, Path(folder))
    about = machine(load_before, os.getloadavg())
    print(table(lines + pacing))
    print(f"\n{started:%Y-%m-%d %H:%M %Z}; {about}")
    if out is not None:
        if lines:
            write_report(out, table(lines), about, started, size)
        simulated = (pacing_sim.table(arguments.pacer_from), arguments.pacer_from)
        write_pacing_section(out, table(pacing), simulated, about, started, size)
        progress(f"written to {out}")


def write_pacing_section(
    out: Path, text: str, simulated: tuple[str, str | None], about: str, started: dt.datetime, size: Size
) -> None:
    """Put the pacing section in place of the one there (or at the end), keeping the rest of the file."""
    command = "python bench/run.py" + (" --quick" if size is QUICK else "")
    simulated_table, pacer_from = simulated
    put_section(
        "bench/run.py --pacing",
        f"""{PACING_HEADING}

Taken by `{command}` (or `{command} --pacing`, which runs only this section), {started:%Y-%m-%d %H:%M %Z} on
{about}.

{text}

- The first two lines are the main table's: the whole sheet under the limit, where the pacer measures the limit
  at its first 429 and then holds 3% under it.
- Recovery: the sheet's first {RECOVERY_ROWS[0]} and {RECOVERY_ROWS[1]} rows, each scenario run
  {RECOVERY_REPEATS} times on a fresh copy of the database (the median shown, wall time from Python's start).
  The early 429s are scripted through the sandbox's fault hook (`batchupdate.sandbox.faults.throttle_first`):
  the first {EARLY_429S} requests (or the first one, with `Retry-After: 1`) are answered 429 whatever the
  count, as when another integration has just used the quota; then the limit of {LIMIT:g}/s holds as usual.
  429s are all the sandbox refused: the scripted ones and those of the limit.

The same scenarios for the pacer alone, on a fake clock (`bench/pacing_sim.py`: the simulated server of
`tests/test_pacing.py`, limit {LIMIT:g}/s, {LATENCY * 1000:g} ms latency, 16 workers; simulated seconds,
without Python's start-up, so no machine load blurs them){" beside the pacer of " + pacer_from if pacer_from else ""}:

{simulated_table}
""",
        out,
    )


def write_report(out: Path, text: str, about: str, started: dt.datetime, size: Size) -> None:
    put_section(
        "bench/run.py",
        f"""## Sheets end to end

The latest `python bench/run.py`{" --quick" if size is QUICK else ""}, taken {started:%Y-%m-%d %H:%M %Z} on
{about}.

{text}

How it is measured (see `bench/run.py`):

- The tool is the real CLI, `python -m batchupdate run SHEET --no-progress`, in a subprocess; wall times
  include starting Python and importing pandas (with the bytecode cached, as an installed package has it).
  The sandbox runs in the benchmark's own process on 127.0.0.1 (uvicorn in a thread, SQLite), a fresh copy
  of one seeded database for each scenario, and shares the machine's cores with the CLI: "sandbox CPU" is
  the benchmark process's CPU time meanwhile.
- The data: {size.classes} classes of {size.students} students, each student in {size.units} units,
  beside the demo data (`batchupdate.sandbox.create_bench_database`). The sheet has one row per student
  (every student of every class); every {size.unchanged_every}th row already holds what it asks for, the
  others change the outcome and both dates.
- The floor is the fewest requests the sheet can need (one GET per page of each class listing, one PUT
  per changed row) divided by the server's limit. The gap to it is what no client can avoid without
  knowing the limit: starting Python (about a second), the climb from 10 requests a second, the one
  Retry-After pause that tells where the limit is, and the 3% the pacer keeps under it for jitter.
- 429s are counted by the sandbox (`stats.throttled`: requests that passed auth and were refused by the
  limit); requests served are counted per method and path.
- The sequential script (`bench/sequential.py`) is the loop one writes by hand: per row, GET the student's
  enrolment, find the unit, PUT the outcome and dates, one request at a time; it waits out a 429's
  Retry-After. It runs on a sample of {size.sequential_rows} rows spread over the sheet, and its time is
  scaled per row to the whole sheet.
- The slow-server lines run the first {size.slow_server_classes} classes against {SLOW_LATENCY * 1000:g} ms
  of latency: to keep {LIMIT:g} requests a second going, {LIMIT * SLOW_LATENCY:g} must be in flight.
- `check` is timed as a whole process (imports included), three times; peak memory is its maximum
  resident set size.
- The client's ceiling: "at full speed" counts requests reaching the sandbox over the second half of the
  run, after the climb. The client and the sandbox share the machine's cores.
- The `--rate {FIXED_RATE:g}` line counts requests as they reach the sandbox, in every sliding window of one
  second.
""",
        out,
    )


if __name__ == "__main__":
    main()
