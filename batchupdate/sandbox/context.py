"""The running sandbox's parts, as handed to every request handler."""

from dataclasses import dataclass

from batchupdate.sandbox.faults import FaultInjector, FaultScript, RateLimiter, RequestStats
from batchupdate.sandbox.settings import SandboxSettings
from batchupdate.sandbox.store import Store


@dataclass(frozen=True)
class Sandbox:
    """Settings, state and counters of one sandbox app."""

    settings: SandboxSettings
    store: Store
    stats: RequestStats
    limiter: RateLimiter
    faults: FaultInjector
    script: FaultScript  # faults scripted per request by tests

    @classmethod
    def open(cls, settings: SandboxSettings) -> "Sandbox":
        """Open (or create and seed) the database named in the settings."""
        return cls(
            settings=settings,
            store=Store.open(settings.db_path),
            stats=RequestStats(),
            limiter=RateLimiter(settings.rate_limit),
            faults=FaultInjector(settings),
            script=FaultScript(),
        )
