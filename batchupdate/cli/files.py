"""`undo` and `template`: sheets written from a results file, or empty ones to fill in."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from batchupdate.cli import options
from batchupdate.cli.common import fail, row_count
from batchupdate.errors import InputError
from batchupdate.exits import Exit
from batchupdate.kinds import KIND_NAMES


@click.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Undo sheet to write (default RESULTS-stem.undo.csv).")
@options.kind
def undo(results: Path, out: Path | None, kind: str | None) -> None:
    """Write a sheet that restores the before-values recorded in RESULTS; apply it with `run`."""
    from batchupdate.undo import write_undo_sheet

    try:
        written = write_undo_sheet(results, out, kind)
    except InputError as exc:
        fail(str(exc))
    restore = "restores" if written.rows == 1 else "restore"
    changes = f"the {written.kind} changes in {results}"
    click.echo(f"Wrote {written.path}: {row_count(written.rows)} that {restore} {changes}")
    for note in written.not_restored:
        click.echo(f"  not restorable: {note}")
    click.echo(f"Check it with `batchupdate plan {written.path}`, then apply it with `batchupdate run {written.path}`.")
    sys.exit(Exit.PROBLEMS if written.not_restored else Exit.OK)


@click.command()
@click.argument("kind", type=click.Choice(KIND_NAMES))
@click.argument("path", required=False, type=click.Path(path_type=Path))
def template(kind: str, path: Path | None) -> None:
    """Write an empty KIND sheet with the canonical headers (default: KIND-template.csv)."""
    from batchupdate.templates import write_template

    target = path or Path(f"{kind}-template.csv")
    try:
        write_template(kind, target)
    except InputError as exc:
        fail(str(exc))
    click.echo(f"Wrote {target}")
