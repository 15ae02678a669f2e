"""`check`, `plan` and `run`: one sheet through the pipeline, a summary on screen, the exit code."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from batchupdate.cli import options
from batchupdate.cli.common import fail
from batchupdate.errors import InputError
from batchupdate.progress import Progress
from batchupdate.status import RESULT_STATUSES, Status

if TYPE_CHECKING:
    from batchupdate.config import Connection
    from batchupdate.pipeline import Job, Report
    from batchupdate.results import RowResult

SHOWN_PROBLEMS = 20
CHECK, PLAN, RUN = "check", "plan", "run"  # as pipeline.py names the modes

sheet_command_options = options.combine(
    click.argument("sheet", type=click.Path(path_type=Path)),
    options.kind,
    options.results,
    options.sheet,
    options.rate,
    options.concurrency,
    options.no_progress,
    options.sandbox,
    options.module_status,
)


@click.command()
@sheet_command_options
def check(sheet: Path, **chosen: Any) -> None:
    """Validate SHEET offline: no network, nothing sent."""
    _sheet_command(sheet, CHECK, chosen)


@click.command()
@sheet_command_options
def plan(sheet: Path, **chosen: Any) -> None:
    """Read live data and report per row what would change; sends no write."""
    _sheet_command(sheet, PLAN, chosen)


@click.command()
@sheet_command_options
@options.max_changes
@click.option("--only", help="With a results file as SHEET: re-run rows with these statuses (e.g. failed,skipped).")
def run(sheet: Path, only: str | None, max_changes: int | None, **chosen: Any) -> None:
    """Apply SHEET (or the chosen rows of an earlier results file) to aXcelerate."""
    _sheet_command(sheet, RUN, chosen, only=_only(only), max_changes=max_changes)


def _sheet_command(
    sheet: Path,
    mode: str,
    chosen: dict[str, Any],
    *,
    only: frozenset[str] | None = None,
    max_changes: int | None = None,
) -> None:
    from batchupdate.logfile import protect, start_log, stop_log
    from batchupdate.pipeline import Job

    job = Job(
        sheet,
        mode,
        chosen["kind"],
        chosen["sheet_name"],
        chosen["results"],
        only,
        options.statuses(chosen["module_status"]),
        max_changes,
    )
    log_path, handler = start_log(Path("logs"), job.mode, job.sheet, dt.datetime.now())
    try:
        with _connection(job, chosen["sandbox"]) as connection:
            if connection is not None:
                protect(handler, connection.secrets)
                click.echo(f"Target: {connection.target}")
            report = asyncio.run(_execute(job, chosen, connection))
    except InputError as exc:
        fail(str(exc))
    finally:
        stop_log(handler)
    _print_summary(report, log_path)
    sys.exit(report.exit_code)


@contextlib.contextmanager
def _connection(job: Job, sandbox: bool) -> Iterator[Connection | None]:
    from batchupdate.session import connect

    if job.mode == CHECK:
        yield None
        return
    with connect(sandbox=sandbox) as connection:
        yield connection


async def _execute(job: Job, chosen: dict[str, Any], connection: Connection | None) -> Report:
    from batchupdate.session import run_job

    progress = _Bar(enabled=not chosen["no_progress"], label=job.mode)
    try:
        return await run_job(
            job, connection, rate=chosen["rate"], concurrency=chosen["concurrency"], progress=progress
        )
    finally:
        progress.close()


def _only(only: str | None) -> frozenset[str] | None:
    if not only:
        return None
    statuses = frozenset(part.strip().lower() for part in only.split(",") if part.strip())
    unknown = sorted(statuses - set(RESULT_STATUSES))
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}; use any of {', '.join(RESULT_STATUSES)}", param_hint="--only"
        )
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
