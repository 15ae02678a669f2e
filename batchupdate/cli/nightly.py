"""`nightly`: apply every sheet dropped in an inbox, file each away, write the morning report."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from batchupdate.cli import options
from batchupdate.errors import InputError
from batchupdate.exits import Exit
from batchupdate.morning_report import FORMATS


@click.command("nightly")
@click.argument("inbox", type=click.Path(path_type=Path))
@click.option("--archive", type=click.Path(path_type=Path), help="Applied sheets and results [INBOX/archive].")
@click.option("--rejected", type=click.Path(path_type=Path), help="Unreadable files, with a note [INBOX/rejected].")
@click.option("--reports", type=click.Path(path_type=Path), help="Morning reports [INBOX/reports].")
@click.option("--logs", type=click.Path(path_type=Path), help="Run logs [INBOX/logs].")
@click.option("--report-format", type=click.Choice(FORMATS), default="html", show_default=True)
@options.kind
@options.rate
@options.concurrency
@click.option("--max-changes", type=click.IntRange(0), help="Per sheet: write at most N rows; the rest are skipped.")
@click.option(
    "--settle-seconds",
    type=click.FloatRange(min=0),
    help="Leave sheets changed more recently than this for the next run: they may still be being written "
    "[default: 60].",
)
@options.sandbox
def nightly(inbox: Path, sandbox: bool, **chosen: Any) -> None:
    """Apply every sheet in INBOX like `run`, archive each with its results, and write a morning report.

    Prints one JSON summary line on stdout; progress goes to stderr. Exit 0: every sheet applied cleanly (or
    nothing arrived); 1: a sheet had invalid, failed or skipped rows, or was rejected; 2: misused (no such
    folder, another nightly run holds the inbox); 3: the run stopped (bad tokens, aXcelerate unreachable).
    """
    from batchupdate.morning_report import verdict
    from batchupdate.nightly import NightlySettings, check_settings, run_nightly
    from batchupdate.session import connect

    settings = NightlySettings(inbox=inbox, **{name: value for name, value in chosen.items() if value is not None})
    try:
        check_settings(settings)
        with connect(sandbox=sandbox) as connection:
            report = asyncio.run(run_nightly(settings, connection, tell=_tell))
    except InputError as exc:
        click.echo(f"Error: {exc}", err=True)
        click.echo(json.dumps({"inbox": str(inbox), "error": str(exc), "exit": int(Exit.USAGE)}))
        sys.exit(Exit.USAGE)
    _tell(verdict(report))
    _tell(f"Report: {report.report_path}")
    click.echo(json.dumps(report.summary()))
    sys.exit(report.exit_code)


def _tell(message: str) -> None:
    click.echo(message, err=True)
