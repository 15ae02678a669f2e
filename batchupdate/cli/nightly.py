"""`nightly`: apply every sheet dropped in an inbox, file each away, write the morning report."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from batchupdate.cli import options
from batchupdate.errors import InputError
from batchupdate.exits import Exit
from batchupdate.morning_report import FORMATS


class _JsonOnMisuse(click.Command):
    """A nightly command line that cannot even be parsed still gets its one JSON line on stdout."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click consumes the list it parses
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            inbox = next((arg for arg in given if not arg.startswith("-")), "")
            click.echo(json.dumps({"inbox": inbox, "error": exc.format_message(), "exit": int(Exit.USAGE)}))
            raise


@click.command("nightly", cls=_JsonOnMisuse)
@click.argument("inbox", type=click.Path(path_type=Path))
@click.option("--archive", type=click.Path(path_type=Path), help="Applied sheets and results [INBOX/archive].")
@click.option("--rejected", type=click.Path(path_type=Path), help="Unreadable files, with a note [INBOX/rejected].")
@click.option("--reports", type=click.Path(path_type=Path), help="Morning reports [INBOX/reports].")
@click.option("--logs", type=click.Path(path_type=Path), help="Run logs [INBOX/logs].")
@click.option("--report-format", type=click.Choice(FORMATS), default="html", show_default=True)
@options.kind
@options.rate
@options.concurrency
@options.timeout
@click.option("--max-changes", type=click.IntRange(0), help="Per sheet: write at most N rows; the rest are skipped.")
@click.option(
    "--settle-seconds",
    type=click.FloatRange(min=0),
    help="Leave sheets changed more recently than this for the next run: they may still be being written "
    "[default: 60].",
)
@options.sandbox
@options.no_progress
def nightly(inbox: Path, sandbox: bool, no_progress: bool, **chosen: Any) -> None:
    """Apply every sheet in INBOX like `run`, archive each with its results, and write a morning report.

    Prints one JSON summary line on stdout; progress goes to stderr. Exit 0: every sheet applied cleanly (or
    nothing arrived); 1: a sheet had invalid, failed or skipped rows, or was rejected; 2: misused (no such
    folder, another nightly run holds the inbox); 3: the run stopped (bad tokens, aXcelerate unreachable).
    """
    from batchupdate.cli.common import explain
    from batchupdate.morning_report import verdict
    from batchupdate.nightly import NightlySettings, check_settings, run_nightly
    from batchupdate.session import connect

    # nightly writes no progress bar; --no-progress is accepted like every command's, and changes nothing
    settings = NightlySettings(inbox=inbox, **{name: value for name, value in chosen.items() if value is not None})
    try:
        check_settings(settings)
        with connect(sandbox=sandbox) as connection:
            report = asyncio.run(run_nightly(settings, connection, tell=_tell))
    except InputError as exc:
        _misused(inbox, str(exc), Exit.USAGE)
    except Exception as exc:  # the scheduler still gets its JSON line, and a sentence, not a traceback
        explained = explain(exc)
        if explained is None:
            raise
        _misused(inbox, *explained)
    _tell(verdict(report))
    _tell(f"Report: {report.report_path}")
    click.echo(json.dumps(report.summary()))
    sys.exit(report.exit_code)


def _misused(inbox: Path, message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    click.echo(json.dumps({"inbox": str(inbox), "error": message, "exit": int(code)}))
    sys.exit(code)


def _tell(message: str) -> None:
    click.echo(message, err=True)
