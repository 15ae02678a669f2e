"""`export units|modules --class ID ...`: a pre-filled sheet of the classes' current enrolments to fill in."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from batchupdate.cli import options
from batchupdate.cli.common import fail, row_count
from batchupdate.errors import ApiError, InputError
from batchupdate.exits import Exit
from batchupdate.kinds import KIND_NAMES

if TYPE_CHECKING:
    from batchupdate.config import Connection
    from batchupdate.export import Exported


@click.command()
@click.argument("kind", type=click.Choice(KIND_NAMES))
@click.option(
    "--class",
    "class_ids",
    multiple=True,
    required=True,
    type=click.IntRange(1),
    metavar="ID",
    help="Class ID (repeatable).",
)
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), help="File to write (.xlsx or .csv).")
@click.option("--open-only", is_flag=True, help="Units: leave out units that already hold a final outcome.")
@options.module_status
@options.sandbox
@options.rate
@options.concurrency
@options.timeout
def export(
    kind: str,
    class_ids: tuple[int, ...],
    out: Path | None,
    open_only: bool,
    module_status: str | None,
    sandbox: bool,
    rate: str,
    concurrency: int,
    timeout: float,
) -> None:
    """Write a sheet of the classes' current KIND enrolments to fill in and apply with `run`.

    One row per student and unit (or module), as aXcelerate holds them now; the default file is
    KIND-<first class>-<date>.xlsx.
    """
    from batchupdate.client import describe_error
    from batchupdate.export import check_export_path, default_export_path, export_workbook
    from batchupdate.session import connect, open_api

    path = out or default_export_path(kind, class_ids, dt.date.today())

    async def work(connection: Connection) -> tuple[Exported, dict[str, int]]:
        async with open_api(connection, rate=rate, concurrency=concurrency, timeout=timeout) as api:
            exported = await export_workbook(
                kind, class_ids, api, path, open_only=open_only, statuses=options.statuses(module_status)
            )
            return exported, dict(api.sent)

    try:
        check_export_path(path)
        with connect(sandbox=sandbox) as connection:
            click.echo(f"Target: {connection.target}")
            exported, sent = asyncio.run(work(connection))
    except InputError as exc:
        fail(str(exc))
    except ApiError as exc:  # bad tokens, unreachable, a class listing refused: nothing was written
        fail(f"the export stopped, no file written: {describe_error(exc)}", Exit.STOPPED)
    requests = ", ".join(f"{count} {request}" for request, count in sent.items())
    classes = f"class {class_ids[0]}" if len(class_ids) == 1 else f"{len(set(class_ids))} classes"
    click.echo(f"Wrote {path}: {row_count(len(exported.rows))} ({kind}) of {classes}; requests: {requests}")
    if exported.left_out:
        click.echo(f"  left out {exported.left_out} units that already hold a final outcome (--open-only)")
    for class_id in exported.empty_classes:
        click.echo(f"  class {class_id}: no {kind[:-1]} enrolments found; check the class ID")
    same = " --sandbox" if sandbox else ""
    click.echo(f"Fill it in, then `batchupdate plan {path}{same}` and `batchupdate run {path}{same}`.")
    sys.exit(Exit.PROBLEMS if exported.empty_classes else Exit.OK)
