"""Serving the upload page: its settings from the options, and the server itself (the page is in app.py)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from urllib.parse import urlsplit

import click
import uvicorn

from batchupdate.config import Connection, is_loopback, read_dotenv
from batchupdate.errors import InputError
from batchupdate.logfile import protect, start_log, stop_log
from batchupdate.session import pacer_for
from batchupdate.web.app import MEGABYTE, WebConfig, create_app
from batchupdate.web.security import LOOPBACK_NAMES

MIN_PASSWORD = 12


def read_password(variable: str, dotenv: Path = Path(".env")) -> str | None:
    """The page's password from the environment (or .env), like the tokens: never from a flag."""
    return os.environ.get(variable) or read_dotenv(dotenv).get(variable) or None


def public_address(url: str) -> str:
    """The --public-url a reverse proxy serves the page at, as https://name[:port]; InputError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError(f"--public-url {url!r} is not an address; give it as https://batchupdate.example.edu.au")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InputError(
            f"--public-url {url}: the password would cross the network unencrypted; serve the proxy over https://"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InputError(
            f"--public-url {url}: the page must be served at the root of its address, not under {parts.path!r}; "
            "give the proxy a host name of its own"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def web_config(
    host: str,
    password: str | None,
    password_variable: str,
    data_dir: Path,
    max_upload_mb: float,
    rate: str,
    concurrency: int,
    *,
    timeout: float = WebConfig.timeout,
    public_url: str | None = None,
    max_rows: int = WebConfig.max_rows,
) -> WebConfig:
    """The served page's settings; InputError when they would expose it."""
    public = public_address(public_url) if public_url else None
    public_host = urlsplit(public).hostname if public else None
    if not password and (not is_loopback(host) or (public_host and not is_loopback(public_host))):
        exposed = f"--host {host}" if not is_loopback(host) else f"--public-url {public}"
        raise InputError(
            f"{exposed} would let other machines open the page; set a password in {password_variable} "
            "first (the page then asks for it), or leave --host at 127.0.0.1"
        )
    if password and len(password) < MIN_PASSWORD:
        raise InputError(
            f"the password in {password_variable} has {len(password)} characters; use at least {MIN_PASSWORD} "
            "(a few words make a good one)"
        )
    pacer_for(rate)  # refuse a bad --rate now, not at the first plan
    return WebConfig(
        data_dir=data_dir,
        max_upload_bytes=int(max_upload_mb * MEGABYTE),
        max_rows=max_rows,
        password=password,
        allowed_hosts=LOOPBACK_NAMES | {host.strip("[]").lower()} if is_loopback(host) else None,
        public_url=public,
        rate=rate,
        concurrency=concurrency,
        timeout=timeout,
    )


def serve(config: WebConfig, connection: Connection, host: str, port: int) -> None:
    """Serve in the foreground, logging to the data folder with the tokens scrubbed."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    log_path, handler = start_log(config.data_dir / "logs", "web", Path("server"), dt.datetime.now())
    protect(handler, [*connection.secrets, *([config.password] if config.password else [])])
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"batchupdate web on http://{shown}:{port}/")
    if config.public_url:
        click.echo(f"Public address (through the proxy): {config.public_url}/")
    click.echo(f"Target: {connection.target}")
    click.echo(f"Uploads and results in {config.data_dir}, log in {log_path}")
    if config.password:
        click.echo("The page asks for the password (any user name).")
    try:
        uvicorn.run(create_app(config, connection), host=host, port=port, log_level="warning", access_log=False)
    finally:
        stop_log(handler)
