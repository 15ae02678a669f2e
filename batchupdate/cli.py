"""The `batchupdate` command: parse options, build a Job, call the pipeline, map the outcome to an exit code."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from batchupdate.config import Connection
from batchupdate.errors import InputError
from batchupdate.logfile import protect, start_log, stop_log
from batchupdate.nightly import nightly_command
from batchupdate.pipeline import CHECK, PLAN, RUN, Job, Progress, Report
from batchupdate.results import RowResult
from batchupdate.session import DEFAULT_CONCURRENCY, connect, run_job
from batchupdate.status import RESULT_STATUSES, Status
from batchupdate.templates import write_template
from batchupdate.undo import write_undo_sheet
from batchupdate.web import web_command

EXIT_USAGE = 2
SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class Options:
    """The options every sheet command shares."""

    kind: str | None
    results: Path | None
    sheet_name: str | None
    rate: str
    concurrency: int
    progress: bool
    sandbox: bool


def sheet_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by check, plan and run."""
    decorators = [
        click.argument("sheet", type=click.Path(path_type=Path)),
        click.option("--kind", type=click.Choice(["units", "modules"]), help="Sheet kind (else told by its headers)."),
        click.option("--results", type=click.Path(path_type=Path), help="Results file (default SHEET.results.csv)."),
        click.option("--sheet", "sheet_name", help="Worksheet of an .xlsx file (default: the first)."),
        click.option("--rate", default="auto", show_default=True, help="Max requests per second, or auto."),
        click.option(
            "--concurrency",
            default=DEFAULT_CONCURRENCY,
            show_default=True,
            type=click.IntRange(1, 64),
            help="Requests in flight at once.",
        ),
        click.option("--no-progress", is_flag=True, help="No progress bar."),
        click.option("--sandbox", is_flag=True, help="Run against the built-in aXcelerate sandbox on loopback."),
        click.option(
            "--module-status",
            "module_status",
            help="Modules sheets: module statuses to match, comma-separated (default: Enrolled,In Progress).",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def _options(
    kind: str | None,
    results: Path | None,
    sheet_name: str | None,
    rate: str,
    concurrency: int,
    no_progress: bool,
    sandbox: bool,
    module_status: str | None,
) -> Options:
    return Options(kind, results, sheet_name, rate, concurrency, not no_progress, sandbox)


def _job(sheet: Path, mode: str, options: dict[str, Any], only: frozenset[str] | None = None) -> Job:
    statuses = options["module_status"]
    module_statuses = tuple(part.strip() for part in statuses.split(",") if part.strip()) if statuses else None
    return Job(sheet, mode, options["kind"], options["sheet_name"], options["results"], only, module_statuses)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="batchupdate")
def main() -> None:
    """Apply unit outcomes and learning-plan module changes from a spreadsheet to aXcelerate."""


@main.command()
@sheet_options
def check(sheet: Path, **options: Any) -> None:
    """Validate SHEET offline: no network, nothing sent."""
    _sheet_command(_job(sheet, CHECK, options), _options(**options))


@main.command()
@sheet_options
def plan(sheet: Path, **options: Any) -> None:
    """Read live data and report per row what would change; sends no write."""
    _sheet_command(_job(sheet, PLAN, options), _options(**options))


@main.command()
@sheet_options
@click.option("--max-changes", type=click.IntRange(0), help="Write at most N rows; the rest are skipped (exit 1).")
@click.option("--only", help="With a results file as SHEET: re-run rows with these statuses (e.g. failed,skipped).")
def run(sheet: Path, only: str | None, max_changes: int | None, **options: Any) -> None:
    """Apply SHEET (or the chosen rows of an earlier results file) to aXcelerate."""
    job = dataclasses.replace(_job(sheet, RUN, options, _statuses(only)), max_changes=max_changes)
    _sheet_command(job, _options(**options))


@main.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Undo sheet to write (default RESULTS-stem.undo.csv).")
@click.option("--kind", type=click.Choice(["units", "modules"]), help="Sheet kind (else told by its headers).")
def undo(results: Path, out: Path | None, kind: str | None) -> None:
    """Write a sheet that restores the before-values recorded in RESULTS; apply it with `run`."""
    try:
        written = write_undo_sheet(results, out, kind)
    except InputError as exc:
        _fail(str(exc))
    click.echo(f"Wrote {written.path}: {written.rows} rows that restore the {written.kind} changes in {results}")
    for note in written.not_restored:
        click.echo(f"  not restorable: {note}")
    click.echo(f"Check it with `batchupdate plan {written.path}`, then apply it with `batchupdate run {written.path}`.")
    sys.exit(1 if written.not_restored else 0)


@main.command()
@click.argument("kind", type=click.Choice(["units", "modules"]))
@click.argument("path", required=False, type=click.Path(path_type=Path))
def template(kind: str, path: Path | None) -> None:
    """Write an empty KIND sheet with the canonical headers (default: KIND-template.csv)."""
    target = path or Path(f"{kind}-template.csv")
    try:
        write_template(kind, target)
    except InputError as exc:
        _fail(str(exc))
    click.echo(f"Wrote {target}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--db", type=click.Path(path_type=Path), help="SQLite state file (default .batchupdate-sandbox.sqlite3).")
@click.option("--reset", is_flag=True, help="Restore the demo data before serving.")
@click.option("--latency", default=0.0, show_default=True, help="Seconds added to every reply.")
@click.option("--rate-limit", type=float, help="Requests per second above which it answers 429.")
@click.option("--fail-before-write", default=0.0, help="Share of writes answered 5xx without applying them.")
@click.option("--fail-after-write", default=0.0, help="Share of writes applied, then answered 5xx.")
def sandbox(
    host: str,
    port: int,
    db: Path | None,
    reset: bool,
    latency: float,
    rate_limit: float | None,
    fail_before_write: float,
    fail_after_write: float,
) -> None:
    """Serve the aXcelerate sandbox until stopped (Ctrl-C)."""
    from batchupdate.sandbox import (
        DEFAULT_DB_PATH,
        SANDBOX_API_TOKEN,
        SANDBOX_WS_TOKEN,
        SandboxSettings,
        reset_database,
    )
    from batchupdate.sandbox import serve as serve_sandbox

    settings = SandboxSettings(
        db_path=db or DEFAULT_DB_PATH,
        latency=latency,
        rate_limit=rate_limit,
        fail_before_write=fail_before_write,
        fail_after_write=fail_after_write,
    )
    if reset:
        reset_database(settings.db_path)
    click.echo(f"aXcelerate sandbox on http://{host}:{port}/api (state in {settings.db_path})")
    click.echo(
        f"Use: AXCELERATE_URL=http://{host}:{port}/api AXCELERATE_API_TOKEN={SANDBOX_API_TOKEN} "
        f"AXCELERATE_WS_TOKEN={SANDBOX_WS_TOKEN}"
    )
    serve_sandbox(settings, host=host, port=port)


def _sheet_command(job: Job, options: Options) -> None:
    started = dt.datetime.now()
    log_path, handler = start_log(Path("logs"), job.mode, job.sheet, started)
    try:
        with _connection(job, options) as connection:
            if connection is not None:
                protect(handler, connection.secrets)
                click.echo(f"Target: {connection.target}")
            report = asyncio.run(_execute(job, options, connection))
    except InputError as exc:
        _fail(str(exc))
    finally:
        stop_log(handler)
    _print_summary(report, log_path)
    sys.exit(report.exit_code)


@contextlib.contextmanager
def _connection(job: Job, options: Options) -> Iterator[Connection | None]:
    if job.mode == CHECK:
        yield None
        return
    with connect(sandbox=options.sandbox) as connection:
        yield connection


async def _execute(job: Job, options: Options, connection: Connection | None) -> Report:
    progress = _Bar(enabled=options.progress, label=job.mode)
    try:
        return await run_job(job, connection, rate=options.rate, concurrency=options.concurrency, progress=progress)
    finally:
        progress.close()


def _statuses(only: str | None) -> frozenset[str] | None:
    if not only:
        return None
    statuses = frozenset(part.strip().lower() for part in only.split(",") if part.strip())
    unknown = sorted(statuses - set(RESULT_STATUSES))
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}; use any of {', '.join(RESULT_STATUSES)}", param_hint="--only")
    return statuses


class _Bar(Progress):
    """A tqdm bar on stderr, only when asked for and stderr is a terminal."""

    def __init__(self, *, enabled: bool, label: str) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self.bar: Any = None

    def start(self, total: int) -> None:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.label, unit="row", file=sys.stderr, leave=False)

    def advance(self, result: RowResult) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_summary(report: Report, log_path: Path) -> None:
    job = report.job
    total = len(report.results)
    click.echo(f"{job.mode.capitalize()} of {job.sheet} ({report.kind}, {report.source}): {total} rows")
    problems = [r for r in report.results if r.error and r.status != Status.UNCHANGED]
    for result in problems[:SHOWN_PROBLEMS]:
        click.echo(f"  row {result.line}: {result.status}: {result.error}")
    if len(problems) > SHOWN_PROBLEMS:
        click.echo(f"  ... and {len(problems) - SHOWN_PROBLEMS} more (see the results file)")
    for status, number in report.counts.items():
        click.echo(f"  {status:<13}{number:>7}")
    if report.requests:
        sent = ", ".join(f"{number} {request}" for request, number in sorted(report.requests.items()))
        click.echo(f"Requests: {sent} ({sum(report.requests.values())} in all) in {report.seconds:.1f} s")
    elif job.mode != CHECK:
        click.echo(f"Requests: none, in {report.seconds:.1f} s")
    if report.resumed:
        click.echo(f"Resumed an interrupted run: {report.resumed} rows were already done and were not sent again")
    if report.aborted:
        click.echo(f"Run stopped: {report.aborted}", err=True)
    if report.kept_previous:
        click.echo(f"Earlier results kept as: {report.kept_previous}")
    if report.results_path:
        click.echo(f"Results: {report.results_path}")
    click.echo(f"Log: {log_path}")


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_USAGE)


main.add_command(nightly_command)
main.add_command(web_command)
