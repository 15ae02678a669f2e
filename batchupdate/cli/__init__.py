"""The `batchupdate` command: every click command lives in this package, thin over the library.

Each command parses its options, builds a value (a Job, settings), calls one core function and maps the
outcome to an exit code (``batchupdate.exits``). Heavy modules are imported inside the commands.
"""

from __future__ import annotations

import click

from batchupdate.cli import doctor, export, files, nightly, sandbox, sheets, web
from batchupdate.cli.common import Commands


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="batchupdate")
def main() -> None:
    """Apply unit outcomes and learning-plan module changes from a spreadsheet to aXcelerate."""


for command in (
    sheets.check,
    sheets.plan,
    sheets.run,
    files.undo,
    files.template,
    export.export,
    nightly.nightly,
    web.web,
    sandbox.sandbox,
    doctor.doctor,
):
    main.add_command(command)
