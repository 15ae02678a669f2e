"""A local aXcelerate API sandbox: the endpoints batchupdate uses, state in SQLite, faults on demand.

Tests and `batchupdate sandbox` / `--sandbox` use it; the client never imports it.
"""

from batchupdate.sandbox.app import create_app
from batchupdate.sandbox.faults import RequestStats
from batchupdate.sandbox.server import RunningSandbox, serve, start_sandbox
from batchupdate.sandbox.settings import (
    DEFAULT_DB_PATH,
    SANDBOX_API_TOKEN,
    SANDBOX_WS_TOKEN,
    SandboxSettings,
)
from batchupdate.sandbox.store import Store, create_bench_database, reset_database

__all__ = [
    "DEFAULT_DB_PATH",
    "SANDBOX_API_TOKEN",
    "SANDBOX_WS_TOKEN",
    "RequestStats",
    "RunningSandbox",
    "SandboxSettings",
    "Store",
    "create_app",
    "create_bench_database",
    "reset_database",
    "serve",
    "start_sandbox",
]
