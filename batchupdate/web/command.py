"""Serving the upload page: its settings from the options, and the server itself (the page is in app.py)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click
import uvicorn

from batchupdate.config import Connection, is_loopback, read_dotenv
from batchupdate.errors import InputError
from batchupdate.logfile import protect, start_log, stop_log
from batchupdate.session import pacer_for
from batchupdate.web.app import MEGABYTE, WebConfig, create_app
from batchupdate.web.security import LOOPBACK_NAMES


def read_password(variable: str, dotenv: Path = Path(".env")) -> str | None:
    """The page's password from the environment (or .env), like the tokens: never from a flag."""
    return os.environ.get(variable) or read_dotenv(dotenv).get(variable) or None


def web_config(
    host: str, password: str | None, password_variable: str, data_dir: Path, max_upload_mb: float, rate: str,
    concurrency: int,
) -> WebConfig:
    """The served page's settings; InputError when they would expose it."""
    if not is_loopback(host) and not password:
        raise InputError(
            f"--host {host} would let other machines open the page; set a password in {password_variable} "
            "first (the page then asks for it), or leave --host at 127.0.0.1"
        )
    pacer_for(rate)  # refuse a bad --rate now, not at the first plan
    return WebConfig(
        data_dir=data_dir,
        max_upload_bytes=int(max_upload_mb * MEGABYTE),
        password=password,
        allowed_hosts=LOOPBACK_NAMES | {host.strip("[]").lower()} if is_loopback(host) else None,
        rate=rate,
        concurrency=concurrency,
    )


def serve(config: WebConfig, connection: Connection, host: str, port: int) -> None:
    """Serve in the foreground, logging to the data folder with the tokens scrubbed."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    log_path, handler = start_log(config.data_dir / "logs", "web", Path("server"), dt.datetime.now())
    protect(handler, [*connection.secrets, *([config.password] if config.password else [])])
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"batchupdate web on http://{shown}:{port}/")
    click.echo(f"Target: {connection.target}")
    click.echo(f"Uploads and results in {config.data_dir}, log in {log_path}")
    if config.password:
        click.echo("The page asks for the password (any user name).")
    try:
        uvicorn.run(create_app(config, connection), host=host, port=port, log_level="warning", access_log=False)
    finally:
        stop_log(handler)
