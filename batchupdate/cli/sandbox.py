"""`sandbox`: serve the stand-in aXcelerate until stopped."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--db", type=click.Path(path_type=Path), help="SQLite state file (default .batchupdate-sandbox.sqlite3).")
@click.option("--reset", is_flag=True, help="Restore the demo data before serving.")
@click.option("--latency", default=0.0, show_default=True, help="Seconds added to every reply.")
@click.option("--rate-limit", type=float, help="Requests per second above which it answers 429.")
@click.option("--fail-before-write", default=0.0, help="Share of writes answered 5xx without applying them.")
@click.option("--fail-after-write", default=0.0, help="Share of writes applied, then answered 5xx.")
def sandbox(
    host: str,
    port: int,
    db: Path | None,
    reset: bool,
    latency: float,
    rate_limit: float | None,
    fail_before_write: float,
    fail_after_write: float,
) -> None:
    """Serve the aXcelerate sandbox until stopped (Ctrl-C)."""
    from batchupdate.sandbox import (
        DEFAULT_DB_PATH,
        SANDBOX_API_TOKEN,
        SANDBOX_WS_TOKEN,
        SandboxSettings,
        reset_database,
    )
    from batchupdate.sandbox import serve as serve_sandbox

    settings = SandboxSettings(
        db_path=db or DEFAULT_DB_PATH,
        latency=latency,
        rate_limit=rate_limit,
        fail_before_write=fail_before_write,
        fail_after_write=fail_after_write,
    )
    _check_free(host, port)  # uvicorn would log a traceback-like error and exit 1
    if reset:
        reset_database(settings.db_path)
    click.echo(f"aXcelerate sandbox on http://{host}:{port}/api (state in {settings.db_path})")
    click.echo(
        f"Use: AXCELERATE_URL=http://{host}:{port}/api AXCELERATE_API_TOKEN={SANDBOX_API_TOKEN} "
        f"AXCELERATE_WS_TOKEN={SANDBOX_WS_TOKEN}"
    )
    serve_sandbox(settings, host=host, port=port)


def _check_free(host: str, port: int) -> None:
    """Stop with one line when the address cannot be served (port in use, unknown host)."""
    import socket

    from batchupdate.cli.common import fail
    from batchupdate.errors import describe_os_error

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        reason = describe_os_error(exc) if exc.filename is None and exc.errno else str(exc)
        fail(f"cannot serve on {host}:{port}: {reason}")
