"""The options several commands share, declared once; each command lists the ones that fit it.

Only click and the light registry modules are imported here, so `batchupdate --help` answers at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from batchupdate.kinds import KIND_NAMES
from batchupdate.pacing import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT

F = TypeVar("F", bound=Callable[..., Any])


class Seconds(click.FloatRange):
    """A number of seconds within bounds; anything else is refused in those words, not as a "float range"."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds; give e.g. 30", param, ctx)
        return super().convert(value, param, ctx)


class Option:
    """A click option declared once; ``but(...)`` is the same option with some settings changed.

    `check` sends nothing, so it takes the network options ``but(hidden=True)``: accepted, not listed, so a
    script that passes the same options to check, plan and run keeps working.
    """

    def __init__(self, *decls: str, **attrs: Any) -> None:
        self.decls = decls
        self.attrs = attrs

    def __call__(self, command: F) -> F:
        return click.option(*self.decls, **self.attrs)(command)

    def but(self, **changed: Any) -> Option:
        return Option(*self.decls, **{**self.attrs, **changed})


kind = Option("--kind", type=click.Choice(KIND_NAMES), help="Sheet kind (else told by its headers).")
results = Option(
    "--results",
    type=click.Path(path_type=Path),
    help="Results file, .csv or .xlsx (default SHEET.results.csv; .results.xlsx for a workbook).",
)
sheet = Option("--sheet", "sheet_name", help="Worksheet of an .xlsx file (default: the one with a header row).")
rate = Option("--rate", default="auto", show_default=True, help="Max requests per second, or auto.")
concurrency = Option(
    "--concurrency",
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests in flight at once.",
)
timeout = Option(
    "--timeout",
    default=DEFAULT_TIMEOUT,
    show_default=True,
    type=Seconds(5, 600),
    metavar="SECONDS",
    help="How long each request waits for aXcelerate's answer before it is retried (or re-read, for a write).",
)
no_progress = Option("--no-progress", is_flag=True, help="No progress bar.")
sandbox = Option("--sandbox", is_flag=True, help="Run against the built-in aXcelerate sandbox on loopback.")
module_status = Option(
    "--module-status",
    "module_status",
    help="Modules sheets: module statuses to match, comma-separated (default: Enrolled,In Progress).",
)
column_map = Option(
    "--map",
    "column_map",
    multiple=True,
    metavar='"HEADER=COLUMN"',
    help='Which column a header feeds, e.g. --map "Grade=outcome"; "HEADER=note" keeps it as it is. Repeatable.',
)
yes = Option(
    "--yes", "-y", is_flag=True, help="Do not ask before writing to a PRODUCTION tenant (asked on a terminal only)."
)
max_changes = Option(
    "--max-changes", type=click.IntRange(0), help="Write at most N rows; the rest are skipped (exit 1)."
)


def combine(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Several options as one decorator, listed in --help in the order given."""

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def statuses(text: str | None) -> tuple[str, ...] | None:
    """A comma-separated --module-status value as a tuple of names."""
    if not text:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip()) or None
