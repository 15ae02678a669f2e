"""`web`: serve the page where staff upload, check, plan and apply sheets, until stopped."""

from __future__ import annotations

from pathlib import Path

import click

from batchupdate.cli import options
from batchupdate.cli.common import fail
from batchupdate.errors import InputError

PASSWORD_VARIABLE = "BATCHUPDATE_WEB_PASSWORD"


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (off loopback: password).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@options.sandbox
@click.option(
    "--password-env",
    default=PASSWORD_VARIABLE,
    show_default=True,
    metavar="NAME",
    help="Environment variable holding the page's password; required when --host is not loopback.",
)
@click.option("--max-upload-mb", default=10.0, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option(
    "--max-rows",
    default=100_000,
    show_default=True,
    type=click.IntRange(1),
    help="Largest sheet the page takes, in rows (counted before the sheet is read, to bound the memory).",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="The https:// address a reverse proxy serves the page at; its host name and origin are then accepted.",
)
@click.option(
    "--data",
    "data_dir",
    default=Path("web-data"),
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for uploaded sheets, their results and the server log.",
)
@options.rate
@options.concurrency
@options.timeout
def web(
    host: str,
    port: int,
    sandbox: bool,
    password_env: str,
    max_upload_mb: float,
    max_rows: int,
    public_url: str | None,
    data_dir: Path,
    rate: str,
    concurrency: int,
    timeout: float,
) -> None:
    """Serve a page to upload, check, plan and apply sheets from a browser, until stopped (Ctrl-C)."""
    from batchupdate.session import connect
    from batchupdate.web.command import read_password, serve, web_config

    password = read_password(password_env)
    try:
        config = web_config(
            host,
            password,
            password_env,
            data_dir,
            max_upload_mb,
            rate,
            concurrency,
            timeout=timeout,
            public_url=public_url,
            max_rows=max_rows,
        )
        with connect(sandbox=sandbox) as connection:
            serve(config, connection, host, port)
    except InputError as exc:
        fail(str(exc))
