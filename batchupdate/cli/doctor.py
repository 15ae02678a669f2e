"""`doctor`: a read-only checklist of the connection and of which reading of the API the tenant follows."""

from __future__ import annotations

import asyncio

import click

from batchupdate.cli import options

DOCTOR_TIMEOUT = 10.0  # a check should answer soon; a slow link can be given longer


@click.command()
@options.sandbox
@options.timeout.but(default=DOCTOR_TIMEOUT)
@click.option(
    "--class",
    "class_ids",
    multiple=True,
    type=click.IntRange(1),
    metavar="ID",
    help="A class to try the open questions on (repeatable: a class with units, a learning-plan class).",
)
def doctor(sandbox: bool, timeout: float, class_ids: tuple[int, ...]) -> None:
    """Check the connection without writing anything: settings, tokens, round trip, API readings, a --rate.

    One line per check: ok, warn or fail, with the fix. Exit 0 all ok, 1 warnings, 2 misuse, 3 cannot
    connect or tokens refused.
    """
    from batchupdate.cli.common import fail
    from batchupdate.client import Api
    from batchupdate.doctor import FAIL, Check, describe_readings, examine
    from batchupdate.errors import ConfigError
    from batchupdate.exits import Exit
    from batchupdate.learnt import save_learnt
    from batchupdate.pacing import DEFAULT_CONCURRENCY, Pacer, RetryPolicy
    from batchupdate.session import connect

    policy = RetryPolicy(attempts=2, base_delay=0.2)  # a check should answer soon, not retry for minutes

    async def check(connection: object) -> int:
        from batchupdate.config import Connection

        assert isinstance(connection, Connection)
        http = connection.http_client(concurrency=DEFAULT_CONCURRENCY, timeout=timeout)
        async with http:
            # One request at a time (each awaited), so the pacer need not hold any back: the round trip is the link's.
            pacer = Pacer(ceiling=100.0, adaptive=False)
            api = Api(http, pacer=pacer, policy=policy, concurrency=DEFAULT_CONCURRENCY)
            checkup = await examine(api, connection, class_ids, report=lambda line: click.echo(str(line)))
            if not any(c.verdict == FAIL for c in checkup.checks):
                sent = sum(api.sent.values())
                writes = sum(n for request, n in api.sent.items() if not request.startswith(("GET ", "POST /report")))
                assert writes == 0, "doctor must never write"
                click.echo(f"Readings: {describe_readings(checkup.readings)} ({sent} reads, no writes)")
                if checkup.readings and connection.sandbox:
                    click.echo("Not kept: a --sandbox run starts its own sandbox and checks it for itself")
                elif checkup.readings:
                    kept = save_learnt(connection.url, checkup.readings)
                    click.echo(f"Kept in {kept} (no token): the next run here starts on these readings")
            return checkup.exit_code

    try:
        with connect(sandbox=sandbox) as connection:
            code = asyncio.run(check(connection))
    except ConfigError as exc:
        click.echo(str(Check("settings", FAIL, str(exc))))
        raise SystemExit(Exit.USAGE) from None
    except ValueError as exc:  # BATCHUPDATE_SANDBOX_READINGS naming no reading
        fail(str(exc))
    raise SystemExit(code)
