"""What makes the sandbox behave like a busy remote API: counters, rate limit, latency, random faults drawn
from the settings, and faults scripted per contact, path and request by tests (``FaultScript``)."""

import asyncio
import logging
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from batchupdate.sandbox.protocol import error_response
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


# --- scripted faults: tests (and the benchmark) say which request fails, and how ----------------------------


class AnswerDropped(Exception):
    """Raised after an answer has begun, so that the server closes the connection without a complete one."""


class DroppedAnswer(Response):
    """An answer that never arrives: the status line goes out, then the connection is closed mid-answer
    (uvicorn closes it when the app fails after starting; the client sees the connection lost)."""

    def __init__(self) -> None:
        super().__init__(status_code=200, headers={"content-length": "64"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        raise AnswerDropped("a scripted fault dropped this answer")


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every answer dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], AnswerDropped))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


@dataclass
class ScriptedFault:
    """One scripted misbehaviour: which requests it catches, and what it does to them.

    It catches requests that match ``method``, ``path`` (below /api, e.g. "/course/enrolment"), ``contact``
    (the request's contactID), each None to match any, and ``fields`` (other parameters): the first ``times``
    of them (None: every one) after the first ``skip``. What it does, in order: wait ``delay`` seconds; with
    ``applied``, let the handler apply the request first; then answer ``status`` in aXcelerate's error body
    (a 429 with ``retry_after`` as its Retry-After header, or none; a 429 is answered before the rate limit
    and never applied), or with ``drop`` close the connection without an answer. With neither, it only delays.
    """

    method: str | None = None
    path: str | None = None
    contact: int | None = None
    fields: Mapping[str, str] = field(default_factory=dict)  # other parameters it must match (any case of name)
    times: int | None = 1
    skip: int = 0
    delay: float = 0.0
    applied: bool = False
    status: int | None = None
    retry_after: str | None = None
    drop: bool = False
    details: str = ""
    matched: int = 0  # requests that matched so far
    caught: int = 0  # of those, the ones it acted on

    @property
    def answers(self) -> bool:
        """Whether it answers in the handler's place (a status or a dropped answer), not only delays."""
        return self.drop or self.status is not None

    def catches(self, method: str, path: str, params: dict[str, str]) -> bool:
        """Whether this request is one of those it acts on (and count it)."""
        if self.method is not None and method.upper() != self.method.upper():
            return False
        if self.path is not None and path != self.path:
            return False
        if self.contact is not None and params.get("contactid") != str(self.contact):
            return False
        if any(params.get(name.lower()) != value for name, value in self.fields.items()):
            return False
        self.matched += 1
        if self.matched <= self.skip or (self.times is not None and self.caught >= self.times):
            return False
        self.caught += 1
        return True

    def answer(self) -> Response:
        """Its answer: the error status, or a dropped answer."""
        if self.drop:
            return DroppedAnswer()
        assert self.status is not None
        if self.status == 429:
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else None
            return error_response(429, self.details or "Too many requests; slow down.", headers=headers)
        changed = "the change was applied before this error" if self.applied else "nothing was changed"
        return error_response(self.status, self.details or f"Scripted fault: {changed}.")


class FaultScript:
    """The scripted faults of one sandbox; the first added that catches a request acts on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[ScriptedFault] = []

    def add(self, *faults: ScriptedFault) -> ScriptedFault:
        """Script these faults (after those already scripted); returns the last, to read its counts."""
        with self._lock:
            self._faults.extend(faults)
        return faults[-1]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def catch(self, method: str, path: str, params: dict[str, str]) -> ScriptedFault | None:
        """The fault that acts on this request, if any (those after it do not see the request)."""
        with self._lock:
            return next((fault for fault in self._faults if fault.catches(method, path, params)), None)


WRITE_PATHS = ("/course/enrolment", "/v2/learningPlan/modules/enrolments")


def fail_write(
    contact: int, status: int = 500, *, applied: bool = False, times: int | None = 1, details: str = ""
) -> ScriptedFault:
    """This contact's next write(s) answered ``status``; ``applied``: the change is made first."""
    return ScriptedFault(method="PUT", contact=contact, status=status, applied=applied, times=times, details=details)


def drop_answer(
    *, contact: int | None = None, method: str | None = "PUT", path: str | None = None, applied: bool = True,
    times: int | None = 1,
) -> ScriptedFault:  # fmt: skip
    """The answer to this contact's next write (or request) never arrives; by default the write was applied."""
    return ScriptedFault(method=method, path=path, contact=contact, applied=applied, drop=True, times=times)


def throttle_first(requests: int, retry_after: str | None = None) -> ScriptedFault:
    """The first ``requests`` requests answered 429, with this Retry-After or none (another client's burst)."""
    return ScriptedFault(status=429, retry_after=retry_after, times=requests)


def fail_every_write(status: int = 500) -> ScriptedFault:
    """Every write answered ``status``, nothing applied: a server that is down for writes."""
    return ScriptedFault(method="PUT", status=status, times=None)


def delay_answers(seconds: float, *, method: str | None = None, path: str | None = None,
                  times: int | None = None) -> ScriptedFault:  # fmt: skip
    """Answers (to these requests) come ``seconds`` late."""
    return ScriptedFault(method=method, path=path, delay=seconds, times=times)
# --- Hostile-world faults: a server that echoes secrets, a write that lands late ----------------------------


def echoed_headers_page(headers: Mapping[str, str]) -> str:
    """A ColdFusion-style debug page quoting every request header, as a misconfigured server or proxy sends."""
    cells = "".join(f"<tr><td>{name}</td><td>{value}</td></tr>" for name, value in headers.items())
    return f"Element REQUEST is undefined. <table><caption>Request headers</caption>{cells}</table>"


async def land_late(settings: SandboxSettings) -> None:
    """Hold a write for ``late_landing`` seconds before applying it, even if the client has gone by then."""
    if settings.late_landing:
        await asyncio.sleep(settings.late_landing)
