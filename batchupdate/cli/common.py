"""What every command does the same way: one-line errors with the exit code they mean.

``Commands`` (the `batchupdate` group) is the one place where what the file system or the keyboard throws
at any command becomes one sentence naming the file and the fix, never a traceback.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any, NoReturn

import click

from batchupdate.exits import Exit


def fail(message: str, code: Exit = Exit.USAGE) -> NoReturn:
    """Print ``Error: message`` on stderr and exit (2 unless told otherwise)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def row_count(number: int) -> str:
    """``1 row``, ``2 rows``."""
    return f"{number} row" if number == 1 else f"{number} rows"


def explain(exc: BaseException) -> tuple[str, Exit] | None:
    """The sentence and exit code for an error the user's machine raised, or None for a bug (a traceback)."""
    from batchupdate.errors import describe_os_error

    if isinstance(exc, OSError):
        return describe_os_error(exc), Exit.USAGE
    if isinstance(exc, sqlite3.Error):
        return (
            f"a database file could not be used ({exc}); check that its folder can be written and the disk is not full",
            Exit.USAGE,
        )
    if isinstance(exc, UnicodeEncodeError):
        return "a setting or file name holds characters that cannot be sent or written; use plain ASCII", Exit.USAGE
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted; run the same command again to resume (rows already done are not sent again)", Exit.STOPPED
    return None


class Commands(click.Group):
    """The command group; turns known errors of the machine into one line and the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OSError, sqlite3.Error, UnicodeEncodeError, KeyboardInterrupt) as exc:
            explained = explain(exc)
            if explained is None:
                raise
            fail(*explained)
