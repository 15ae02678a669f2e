"""`check`, `plan` and `run`: one sheet through the pipeline, a summary on screen, the exit code."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from batchupdate.cli import options
from batchupdate.cli.common import fail, row_count
from batchupdate.errors import InputError
from batchupdate.exits import Exit
from batchupdate.progress import Progress
from batchupdate.status import RESULT_STATUSES, Status

if TYPE_CHECKING:
    from batchupdate.columns import HeaderMap
    from batchupdate.config import Connection
    from batchupdate.pipeline import Job, Planned, Report
    from batchupdate.results import RowResult

SHOWN_PROBLEMS = 20
SHOWN_CHANGES = 20  # rows of the plan's table of changes
CHECK, PLAN, RUN = "check", "plan", "run"  # as pipeline.py names the modes

sheet_argument = click.argument("sheet", type=click.Path(path_type=Path))
sheet_command_options = options.combine(
    sheet_argument,
    options.kind,
    options.results,
    options.sheet,
    options.rate,
    options.concurrency,
    options.timeout,
    options.no_progress,
    options.sandbox,
    options.module_status,
    options.column_map,
)
check_options = options.combine(  # the same options; those about the connection are accepted, not shown
    sheet_argument,
    options.kind,
    options.results,
    options.sheet,
    options.rate.but(hidden=True),
    options.concurrency.but(hidden=True),
    options.timeout.but(hidden=True),
    options.no_progress,
    options.sandbox.but(hidden=True),
    options.module_status.but(hidden=True),
    options.column_map,
)


@click.command()
@check_options
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
@options.yes
def run(sheet: Path, only: str | None, max_changes: int | None, yes: bool, **chosen: Any) -> None:
    """Apply SHEET (or the chosen rows of an earlier results file) to aXcelerate.

    On a terminal, a run against a PRODUCTION tenant shows the changes and asks before the first write
    (--yes skips that); without a terminal (cron, scripts) it goes ahead.
    """
    _sheet_command(sheet, RUN, chosen, only=_only(only), max_changes=max_changes, yes=yes)


def _sheet_command(
    sheet: Path,
    mode: str,
    chosen: dict[str, Any],
    *,
    only: frozenset[str] | None = None,
    max_changes: int | None = None,
    yes: bool = False,
) -> None:
    from batchupdate.columns import parse_map_option
    from batchupdate.errors import StoppedError
    from batchupdate.logfile import log_written, protect, set_target, start_log, stop_log
    from batchupdate.pipeline import Job, check_paths
    from batchupdate.redact import Redactor

    try:
        mapping = parse_map_option(chosen["column_map"])
    except InputError as exc:
        fail(str(exc))
    job = Job(
        sheet,
        mode,
        chosen["kind"],
        chosen["sheet_name"],
        chosen["results"],
        only,
        options.statuses(chosen["module_status"]),
        max_changes,
        mapping,
    )
    try:
        check_paths(job)  # before a sandbox starts or a connection opens
    except InputError as exc:
        fail(str(exc))
    log_path, handler = start_log(Path("logs"), job.mode, job.sheet, dt.datetime.now())
    if handler is None:
        click.echo(f"Note: no log is kept: the folder {log_path.parent} cannot be written here", err=True)
    scrub = Redactor()
    try:
        with _connection(job, chosen["sandbox"]) as connection:
            if connection is not None:
                scrub = Redactor(connection.secrets)
                protect(handler, connection.secrets)
                set_target(handler, job.mode, job.sheet, connection.target)
                click.echo(f"Target: {connection.target}")
            guard = connection if mode == RUN and not yes and _is_production(connection) and _on_terminal() else None
            report = asyncio.run(_execute(job, chosen, connection, guard))
    except InputError as exc:
        fail(scrub(str(exc)))
    except StoppedError as exc:
        fail(scrub(str(exc)), Exit.STOPPED)
    finally:
        stop_log(handler)
    _print_summary(report, log_path if log_written(handler) else None, scrub)
    sys.exit(report.exit_code)


@contextlib.contextmanager
def _connection(job: Job, sandbox: bool) -> Iterator[Connection | None]:
    from batchupdate.session import connect

    if job.mode == CHECK:
        yield None
        return
    with connect(sandbox=sandbox) as connection:
        yield connection


def _is_production(connection: Connection | None) -> bool:
    return connection is not None and connection.target.startswith("PRODUCTION")


def _on_terminal() -> bool:
    """Whether a person can answer: the answer comes from stdin."""
    return sys.stdin.isatty()


async def _execute(
    job: Job, chosen: dict[str, Any], connection: Connection | None, guard: Connection | None = None
) -> Report:
    from batchupdate.session import run_job

    progress = _Bar(enabled=not chosen["no_progress"], label=job.mode, guard=guard)
    try:
        return await run_job(
            job,
            connection,
            rate=chosen["rate"],
            concurrency=chosen["concurrency"],
            timeout=chosen["timeout"],
            progress=progress,
        )
    finally:
        progress.close()


def _not_confirmed() -> str:
    from batchupdate.pipeline import NOT_CONFIRMED

    return NOT_CONFIRMED


def _only(only: str | None) -> frozenset[str] | None:
    if not only:
        return None
    statuses = frozenset(part.strip().lower() for part in only.split(",") if part.strip())
    unknown = sorted(statuses - set(RESULT_STATUSES))
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}; use any of {', '.join(RESULT_STATUSES)}", param_hint="--only")
    return statuses


class _Bar(Progress):
    """A tqdm bar on stderr, only when asked for and stderr is a terminal; the mapping line; the production guard.

    ``guard`` is the PRODUCTION connection to ask about before the first write (None: never ask).
    """

    def __init__(self, *, enabled: bool, label: str, guard: Connection | None = None) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self.bar: Any = None
        self.guard = guard

    def columns(self, mapping: HeaderMap) -> None:
        click.echo(mapping.describe())

    def confirm(self, writes: Sequence[Planned]) -> bool:
        if self.guard is None:
            return True
        if self.bar is not None:
            self.bar.clear()
        for line in plan_table(writes):
            click.echo(line, err=True)
        click.echo(f"About to write {row_count(len(writes))} to {self.guard.target}.", err=True)
        try:
            return click.confirm("Write them?", default=False, err=True)
        except click.Abort:  # end of input or Ctrl-C at the question: not a yes
            click.echo("", err=True)
            return False

    def notice(self, message: str) -> None:
        if self.bar is not None:
            self.bar.clear()
        click.echo(message, err=True)

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


def plan_table(planned: Sequence[Planned], limit: int = SHOWN_CHANGES) -> list[str]:
    """The first ``limit`` changes as a table, whole rows only: row, student (when known), record, column,
    before -> after; a row changing three fields takes three lines."""
    shown: list[Planned] = []
    for item in planned:
        if shown and sum(len(row.changes) for row in shown) + len(item.changes) > limit:
            break
        shown.append(item)
    if not shown:
        return []
    with_student = any(item.student for item in shown)
    heading = ["row", *(["student"] if with_student else []), "record", "column", "before -> after"]
    table: list[list[str]] = []
    for item in shown:
        for number, change in enumerate(item.changes):
            first = number == 0
            table.append(
                [
                    str(item.line) if first else "",
                    *([item.student if first else ""] if with_student else []),
                    item.record if first else "",
                    change.column,
                    f"{change.before or '(blank)'} -> {change.after or '(blank)'}",
                ]
            )
    widths = [max(len(cells[i]) for cells in (heading, *table)) for i in range(len(heading) - 1)]
    if len(shown) < len(planned):
        title = f"Changes in the first {len(shown)} of {len(planned)} rows that change (all in the results file):"
    else:
        title = f"Changes ({row_count(len(planned))}):"

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
        return "  " + "  ".join([*padded, cells[-1]])

    return [title, line(heading), *(line(cells).rstrip() for cells in table)]


def _print_summary(report: Report, log_path: Path | None, scrub: Callable[[str], str] = str) -> None:
    """The summary a person reads: a stopped run's cause first, each problem row once, the counts, the files."""
    from batchupdate.pipeline import NOT_ATTEMPTED, RESUME_HINT

    def say(text: str, err: bool = False) -> None:
        click.echo(scrub(text), err=err)

    job = report.job
    if report.aborted:
        say(f"Run stopped: {report.aborted}. Once that is fixed, {RESUME_HINT}.", err=True)
    total = len(report.results)
    say(f"{job.mode.capitalize()} of {job.sheet} ({report.kind}, {report.source}): {row_count(total)}")
    if report.nothing_chosen:
        say(f"Nothing sent and no results file written: {report.nothing_chosen}.")
    problems = [r for r in report.results if r.error and r.status != Status.UNCHANGED]
    if report.declined:  # one line for them all, not 20 lines of "not confirmed"
        problems = [r for r in problems if r.error != _not_confirmed()]
    not_reached = [r for r in problems if report.aborted and r.error.startswith(NOT_ATTEMPTED)]
    problems = [r for r in problems if r not in not_reached]
    for result in problems[:SHOWN_PROBLEMS]:
        say(f"  row {result.line}: {result.status}: {result.error}")
    if len(problems) > SHOWN_PROBLEMS:
        where = " (see the results file)" if report.results_path else ""
        say(f"  ... and {len(problems) - SHOWN_PROBLEMS} more{where}")
    if not_reached:
        rows = "row" if len(not_reached) == 1 else "rows"
        say(f"  {rows} {line_ranges([r.line for r in not_reached])}: skipped: not attempted, as the run stopped")
    if job.mode == PLAN:
        for line in plan_table(report.planned):
            say(line)
    for status, number in report.counts.items():
        say(f"  {status:<13}{number:>7}")
    if report.requests:
        sent = ", ".join(f"{number} {request}" for request, number in sorted(report.requests.items()))
        say(f"Requests: {sent} ({sum(report.requests.values())} in all) in {report.seconds:.1f} s")
    elif job.mode != CHECK:
        say(f"Requests: none, in {report.seconds:.1f} s")
    if report.resumed:
        done = f"{row_count(report.resumed)} {'was' if report.resumed == 1 else 'were'}"
        say(f"Resumed an interrupted run: {done} already done and not sent again")
    if report.declined:
        skipped = "is skipped" if len(report.planned) == 1 else "are skipped"
        say(f"Not confirmed: no write was sent; the {row_count(len(report.planned))} to write {skipped}")
    if report.kept_previous:
        say(f"Earlier results kept as: {report.kept_previous} (they record writes; this run did not overwrite them)")
    if report.results_path:
        say(f"Results: {report.results_path}")
    if report.aborted:
        say(f"The run stopped before every row was done: {RESUME_HINT}.", err=True)
    if log_path is not None:
        say(f"Log: {log_path}")


def line_ranges(lines: Sequence[int]) -> str:
    """Row numbers as short ranges: 2-5, 9, 12-14."""
    parts: list[str] = []
    ordered = sorted(set(lines))
    start = previous = ordered[0] if ordered else 0
    for line in [*ordered[1:], None]:
        if line is not None and line == previous + 1:
            previous = line
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if line is not None:
            start = previous = line
    return ", ".join(parts)
