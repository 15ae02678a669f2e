"""Open what a run needs to reach aXcelerate: the connection, a paced Api over it, or the embedded sandbox.

The CLI, the nightly job and the web page all run sheets through ``run_job``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from batchupdate.client import Api
from batchupdate.config import Connection, load_connection
from batchupdate.errors import InputError
from batchupdate.pacing import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, Pacer, RetryPolicy
from batchupdate.pipeline import CHECK, Job, Report, execute
from batchupdate.progress import Progress


def pacer_for(rate: str) -> Pacer:
    """The pacer for a --rate value: 'auto' adapts, a number is a hard ceiling in requests per second."""
    if rate.strip().lower() == "auto":
        return Pacer(adaptive=True)
    try:
        ceiling = float(rate)
    except ValueError:
        raise InputError(f"--rate {rate!r} is not a number; use e.g. --rate 5 or --rate auto") from None
    if not ceiling > 0:
        raise InputError("--rate must be more than 0 requests per second")
    return Pacer(ceiling=ceiling, adaptive=False)


@contextlib.asynccontextmanager
async def open_api(
    connection: Connection,
    *,
    rate: str = "auto",
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = DEFAULT_TIMEOUT,
) -> AsyncIterator[Api]:
    """A paced, retrying Api over a fresh HTTP client for this connection; ``timeout`` is per request."""
    pacer, policy = pacer_for(rate), RetryPolicy(timeout=timeout)
    async with connection.http_client(concurrency=concurrency, timeout=policy.timeout) as http:
        yield Api(http, pacer=pacer, policy=policy, concurrency=concurrency)


@contextlib.contextmanager
def connect(*, sandbox: bool) -> Iterator[Connection]:
    """The configured aXcelerate, or a sandbox started on loopback for as long as the block runs."""
    if not sandbox:
        yield load_connection()
        return
    from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, start_sandbox

    with start_sandbox() as running:
        yield Connection(running.url, SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, sandbox=True)


async def run_job(
    job: Job,
    connection: Connection | None,
    *,
    rate: str = "auto",
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> Report:
    """Run one Job: offline for a check, else over a fresh paced Api to ``connection``."""
    if job.mode == CHECK or connection is None:
        return await execute(job, None, progress=progress)
    async with open_api(connection, rate=rate, concurrency=concurrency, timeout=timeout) as api:
        return await execute(job, api, progress=progress)
