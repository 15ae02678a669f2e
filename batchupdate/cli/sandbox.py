"""`sandbox`: serve the stand-in aXcelerate until stopped, playing any reading of the undocumented API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

# The choices mirror batchupdate.sandbox.settings (not imported here, so `--help` stays fast).
READING_NAMES = (
    "fastest",
    "listing-empty",
    "listing-absent",
    "report-capped",
    "report-paged",
    "no-access-field",
    "reply-html",
    "reply-empty",
    "reply-no-content",
    "reply-text",
    "reply-other-json",
    "errors-upper",
    "slowest",
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--db", type=click.Path(path_type=Path), help="SQLite state file (default .batchupdate-sandbox.sqlite3).")
@click.option("--reset", is_flag=True, help="Restore the demo data before serving.")
@click.option("--latency", default=0.0, show_default=True, help="Seconds added to every reply.")
@click.option("--rate-limit", type=float, help="Requests per second above which it answers 429.")
@click.option("--fail-before-write", default=0.0, help="Share of writes answered 5xx without applying them.")
@click.option("--fail-after-write", default=0.0, help="Share of writes applied, then answered 5xx.")
@click.option(
    "--reading",
    "readings",
    multiple=True,
    type=click.Choice(READING_NAMES, case_sensitive=False),
    help="Play a named reading of what the API reference leaves open (repeatable; the settings below override it).",
)
@click.option(
    "--listing-activities",
    type=click.Choice(["full", "empty", "absent"]),
    help="What a class listing shows of each enrolment's ACTIVITIES.",
)
@click.option(
    "--report-row-cap", type=int, help="At most this many rows per /report/run answer (COUNT stays the total)."
)
@click.option("--report-paging/--report-no-paging", default=None, help="Whether /report/run honours offsetRows.")
@click.option("--report-access-field/--no-report-access-field", default=None, help="Offer an access-override field.")
@click.option(
    "--write-reply",
    type=click.Choice(["documented", "html", "empty", "no-content", "text", "other-json"]),
    help="What a write that worked answers.",
)
@click.option("--swallow-writes", is_flag=True, help="Answer writes but never apply them (a bad proxy).")
@click.option(
    "--error-keys", type=click.Choice(["lower", "upper"]), help="Error bodies with lowercase or UPPERCASE keys."
)
@click.option("--echo-headers", is_flag=True, help="Refuse every write with an error page quoting the request headers.")
@click.option("--late-landing", default=0.0, help="Seconds each write is held before it is applied and answered.")
def sandbox(
    host: str,
    port: int,
    db: Path | None,
    reset: bool,
    latency: float,
    rate_limit: float | None,
    fail_before_write: float,
    fail_after_write: float,
    readings: tuple[str, ...],
    listing_activities: str | None,
    report_row_cap: int | None,
    report_paging: bool | None,
    report_access_field: bool | None,
    write_reply: str | None,
    swallow_writes: bool,
    error_keys: str | None,
    echo_headers: bool,
    late_landing: float,
) -> None:
    """Serve the aXcelerate sandbox until stopped (Ctrl-C).

    Without --reading or its settings it plays the readings BATCHUPDATE_SANDBOX_READINGS names, else the fastest.
    """
    import dataclasses

    from batchupdate.cli.common import fail
    from batchupdate.sandbox import DEFAULT_DB_PATH, SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, reset_database
    from batchupdate.sandbox import serve as serve_sandbox
    from batchupdate.sandbox.settings import from_environment

    chosen: dict[str, Any] = {
        "listing_activities": listing_activities,
        "report_row_cap": report_row_cap,
        "report_paging": report_paging,
        "report_access_field": report_access_field,
        "write_reply": write_reply,
        "writes_swallowed": swallow_writes or None,
        "error_keys": error_keys,
        "echo_headers": echo_headers or None,
        "late_landing": late_landing or None,
    }
    try:
        settings = from_environment(
            db_path=db or DEFAULT_DB_PATH,
            latency=latency,
            rate_limit=rate_limit,
            fail_before_write=fail_before_write,
            fail_after_write=fail_after_write,
        )
        if readings:
            settings = settings.under(readings)
        settings = dataclasses.replace(settings, **{key: value for key, value in chosen.items() if value is not None})
    except ValueError as exc:
        fail(str(exc))
    _check_free(host, port)  # uvicorn would log a traceback-like error and exit 1
    if reset:
        reset_database(settings.db_path)
    click.echo(f"aXcelerate sandbox on http://{host}:{port}/api (state in {settings.db_path})")
    click.echo(f"Playing: {', '.join(settings.readings)}")
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
