"""What makes the sandbox behave like a busy remote API: counters, rate limit, latency, injected faults."""

import asyncio
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate

from batchupdate.sandbox.settings import SandboxSettings


class RequestStats:
    """Thread-safe counts of what the sandbox served, for tests to assert on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self.throttled = 0
        self.writes_applied = 0
        self.log: list[tuple[str, str, dict[str, str]]] = []

    def record_served(self, method: str, path: str, params: dict[str, str]) -> None:
        """A request that passed auth and the rate limit; params keyed by lowercased name."""
        with self._lock:
            self._counts[(method.upper(), path)] += 1
            self.log.append((method.upper(), path, params))

    def record_throttled(self) -> None:
        with self._lock:
            self.throttled += 1

    def record_write_applied(self) -> None:
        with self._lock:
            self.writes_applied += 1

    def count(self, method: str, path: str) -> int:
        """Requests served for this method and path (path without the /api prefix)."""
        with self._lock:
            return self._counts[(method.upper(), path)]

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self.throttled = 0
            self.writes_applied = 0
            self.log.clear()


class RateLimiter:
    """At most `rate` requests per sliding 1-second window, over all endpoints."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # A fractional or sub-1 rate keeps its meaning with a whole number of slots in a longer
        # window: 2.5/s -> 2 per 0.8 s, 0.5/s -> 1 per 2 s. Whole rates use exactly 1 s.
        self._slots = max(1, math.floor(rate)) if rate else 0
        self._window = self._slots / rate if rate else 0.0
        self._admitted: deque[float] = deque()

    def admit(self) -> float | None:
        """Take a slot now and return None, or return the seconds until a slot frees."""
        if not self._slots:
            return None
        now = self._clock()
        while self._admitted and self._admitted[0] <= now - self._window:
            self._admitted.popleft()
        if len(self._admitted) < self._slots:
            self._admitted.append(now)
            return None
        return self._admitted[0] + self._window - now


def retry_after_header(wait_seconds: float, as_date: bool) -> str:
    """Retry-After as whole seconds (rounded up, at least 1) or as an HTTP date that far ahead.

    The date is rounded up to its next whole second too, so a client waiting until it never comes back early.
    """
    seconds = max(1, math.ceil(wait_seconds))
    if as_date:
        return formatdate(math.ceil(time.time() + seconds), usegmt=True)
    return str(seconds)


@dataclass(frozen=True)
class Fault:
    """An injected failure: the status to answer, and whether the write is applied first."""

    status: int
    after_write: bool


class FaultInjector:
    """Draws slow replies and failures from seeded generators, so a run with the same settings repeats."""

    def __init__(self, settings: SandboxSettings) -> None:
        self._settings = settings
        self._slow_random = random.Random(settings.seed)
        self._fault_random = random.Random(settings.seed + 1)

    def delay(self) -> float:
        """Seconds to wait before answering: the fixed latency, plus slow_seconds for a share of requests."""
        slow = self._slow_random.random() < self._settings.slow_share
        return self._settings.latency + (self._settings.slow_seconds if slow else 0.0)

    def draw(self, is_write: bool) -> Fault | None:
        """The fault for this request, if any: reads fail with 503, writes with 500 or 503."""
        roll = self._fault_random.random()
        status = self._fault_random.choice([500, 503])
        if not is_write:
            return Fault(503, after_write=False) if roll < self._settings.fail_reads else None
        if roll < self._settings.fail_before_write:
            return Fault(status, after_write=False)
        if roll < self._settings.fail_before_write + self._settings.fail_after_write:
            return Fault(status, after_write=True)
        return None


# --- Hostile-world faults: a server that echoes secrets, a write that lands late ----------------------------


def echoed_headers_page(headers: Mapping[str, str]) -> str:
    """A ColdFusion-style debug page quoting every request header, as a misconfigured server or proxy sends."""
    cells = "".join(f"<tr><td>{name}</td><td>{value}</td></tr>" for name, value in headers.items())
    return f"Element REQUEST is undefined. <table><caption>Request headers</caption>{cells}</table>"


async def land_late(settings: SandboxSettings) -> None:
    """Hold a write for ``late_landing`` seconds before applying it, even if the client has gone by then."""
    if settings.late_landing:
        await asyncio.sleep(settings.late_landing)
