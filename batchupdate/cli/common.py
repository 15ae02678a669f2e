"""What every command does the same way: one-line errors with the exit code they mean."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from batchupdate.exits import Exit


def fail(message: str, code: Exit = Exit.USAGE) -> NoReturn:
    """Print ``Error: message`` on stderr and exit (2 unless told otherwise)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)
