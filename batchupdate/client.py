"""Talk to aXcelerate: the two token headers, pacing, retries, and API errors mapped to ours.

The transport is the seam: production uses httpx's default, tests pass ``httpx.MockTransport``
or point the client at the sandbox. Endpoint knowledge (paths, parameters) lives in the kinds.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from batchupdate.errors import (
    AmbiguousWriteError,
    ApiError,
    RejectedError,
    RetriableApiError,
    RunAbortedError,
)
from batchupdate.pacing import Pacer, RetryPolicy, Sleep
from batchupdate.redact import Redactor, credential_values

log = logging.getLogger(__name__)
DETAILS_LIMIT = 300
RETRIABLE_STATUSES = frozenset({500, 502, 503, 504})
RETRY_AFTER_LIMIT = 300.0  # seconds: a longer Retry-After is honoured only up to this, then retried
LONG_WAIT = 10.0  # seconds: a wait longer than this is shown to whoever watches the run, with its reason
SLOW_DOWN = "aXcelerate asked to slow down (429)"
WaitListener = Callable[[float, str], None]


class Api:
    """A paced, retrying aXcelerate client over an ``httpx.AsyncClient`` that already carries the tokens."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        pacer: Pacer | None = None,
        policy: RetryPolicy | None = None,
        concurrency: int = 8,
        sleep: Sleep = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.pacer = pacer or Pacer()
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        self.sent: Counter[str] = Counter()
        self.write_proof = WriteProof()
        self._slots = asyncio.Semaphore(concurrency)
        self._sleep = sleep
        self._draw = draw
        self._wall_clock = wall_clock
        # Told of every wait longer than LONG_WAIT (seconds, reason), as it begins: the progress line.
        self.on_long_wait: WaitListener = lambda seconds, reason: None
        # Whatever aXcelerate (or a proxy) answers is scrubbed of the tokens here, before any of it is kept.
        self.redact = Redactor(credential_values(http.headers))

    async def get(self, path: str, params: Mapping[str, object]) -> Any:
        """GET and return the decoded JSON (None for 204 No Content), retrying what may succeed later."""
        return await self._call("GET", path, params=params)

    async def post(self, path: str, form: Mapping[str, object]) -> Any:
        """POST form fields for a read-only action (a report run), retrying like a GET."""
        return await self._call("POST", path, form=form)

    async def put(self, path: str, form: Mapping[str, object]) -> Any:
        """PUT form fields once; the decoded JSON, the text of any other body, or None when empty."""
        reply = await self.put_reply(path, form)
        return reply.body if reply.body is not None else (reply.text or None)

    async def put_reply(self, path: str, form: Mapping[str, object]) -> WriteReply:
        """PUT form fields once and return aXcelerate's 2xx answer as it came, for the kind to judge what it proves.

        A failure after sending raises AmbiguousWriteError for the caller to settle.
        """
        reply: WriteReply = await self._call("PUT", path, form=form, write=True)
        return reply

    async def backoff(self, attempt: int, reason: str) -> None:
        """Wait before another try of the same thing, with the policy's jittered backoff."""
        await self._wait(self.policy.backoff(attempt, self._draw), reason)

    async def _wait(self, seconds: float, reason: str) -> None:
        self._waiting(seconds, reason)
        await self._sleep(seconds)

    def _waiting(self, seconds: float, reason: str) -> None:
        """Log a wait; one longer than LONG_WAIT is logged as a warning and shown on screen too."""
        if seconds > LONG_WAIT:
            log.warning("waiting %.0f s: %s", seconds, reason)
            self.on_long_wait(seconds, reason)
        else:
            log.info("waiting %.2f s: %s", seconds, reason)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        form: Mapping[str, object] | None = None,
        write: bool = False,
    ) -> Any:
        faults = throttles = 0
        throttled_for = 0.0  # seconds this request has waited out 429s
        while True:
            try:
                return await self._send_once(method, path, params, form, write)
            except RetriableApiError as exc:
                if isinstance(exc, AmbiguousWriteError):
                    raise
                if exc.status == 429:
                    throttles += 1
                    delay = (
                        exc.retry_after if exc.retry_after is not None else self.policy.backoff(throttles, self._draw)
                    )
                    if throttles > self.policy.throttles or throttled_for + delay > self.policy.throttle_wait:
                        raise RetriableApiError(
                            f"aXcelerate kept answering 429 (too many requests): {throttles} times to this request"
                            f" after {throttled_for:.0f} s of waiting, the last asking for {delay:.0f} s more",
                            status=429,
                        ) from exc
                    throttled_for += delay
                    if exc.retry_after is None:
                        await self._wait(delay, SLOW_DOWN)
                    # else: the pacer holds every request back for Retry-After (and showed a long pause)
                    continue
                faults += 1
                if faults >= self.policy.attempts:
                    if isinstance(exc, _Unreachable):
                        raise RunAbortedError(
                            f"cannot reach aXcelerate at {self.http.base_url} ({exc}); "
                            "check AXCELERATE_URL and the network"
                        ) from exc
                    raise
                log.info("%s %s: %s; retrying", method, path, exc)
                await self._wait(self.policy.backoff(faults, self._draw), f"{exc}; trying again")

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None,
        form: Mapping[str, object] | None,
        write: bool,
    ) -> Any:
        # A slot first, then the pacer's turn: a request that has its turn is sent at once, so requests
        # that waited for a slot cannot go out in a burst above the rate when slow answers free theirs.
        async with self._slots:
            started = await self.pacer.wait_turn()
            self.sent[f"{method} {path}"] += 1
            try:
                response = await self.http.request(method, path, params=_text_values(params), data=_text_values(form))
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the server: safe to retry, even for a write.
                raise _Unreachable(f"cannot connect ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                error = AmbiguousWriteError if write else RetriableApiError
                raise error(f"no answer from aXcelerate ({type(exc).__name__})") from exc
        return self._interpret(response, write, started)

    def _interpret(self, response: httpx.Response, write: bool, started: float) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            self.pacer.succeeded()
            if write:
                return WriteReply.of(response)  # what it proves is for the kind to judge, not the status line
            if status == 204 or not response.content:
                return None
            try:
                return response.json()
            except json.JSONDecodeError as exc:
                raise RetriableApiError(f"aXcelerate answered HTTP {status} with something that is not JSON") from exc
        message, details = _error_text(response, self.redact)
        if status in (401, 403):
            raise RunAbortedError(
                f"aXcelerate refused the credentials (HTTP {status}: {message}); "
                "check AXCELERATE_API_TOKEN and AXCELERATE_WS_TOKEN",
                status=status,
            )
        if 300 <= status < 400:
            raise RunAbortedError(
                f"aXcelerate answered with a redirect (HTTP {status}) to "
                f"{self.redact(response.headers.get('location', '?'))}; "
                "check AXCELERATE_URL: it should be https://<tenant>.app.axcelerate.com/api",
                status=status,
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._wall_clock())
            pause = self.pacer.throttled(retry_after, started)
            if pause:
                self._waiting(pause, SLOW_DOWN)  # every request waits it out (in the pacer)
            raise RetriableApiError("too many requests (HTTP 429)", status=429, retry_after=retry_after)
        if status in RETRIABLE_STATUSES:
            error = AmbiguousWriteError if write else RetriableApiError
            raise error(f"aXcelerate had a server error (HTTP {status})", status=status, details=details)
        raise RejectedError(message, status=status, details=details)


@dataclass(frozen=True)
class WriteReply:
    """A write's 2xx answer as it came: status, media type, decoded JSON (None if not JSON) and text."""

    status: int
    content_type: str
    body: Any
    text: str

    @classmethod
    def of(cls, response: httpx.Response) -> WriteReply:
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        text = response.text if response.content else ""
        try:
            body = response.json() if text.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        return cls(response.status_code, media_type, body, text)

    @property
    def shape(self) -> tuple[object, ...]:
        """What two answers must share to be the same kind of answer: status, media type, and keys (or text)."""
        if isinstance(self.body, dict):
            return (self.status, self.content_type, "keys", frozenset(str(key).upper() for key in self.body))
        if self.body is not None:
            return (self.status, self.content_type, "json", type(self.body).__name__)
        # A page or text proves only itself: the same words, not any page (a maintenance page differs from it).
        return (self.status, self.content_type, "text", " ".join(self.text.split()))

    def describe(self) -> str:
        """The answer in a few words, for a results cell."""
        if isinstance(self.body, dict):
            keys = ", ".join(sorted(str(key) for key in self.body)[:6]) or "none"
            return f"HTTP {self.status} with JSON of keys {keys}"
        if self.body is not None:
            return f"HTTP {self.status} with a JSON {type(self.body).__name__}"
        if not self.text.strip():
            return f"HTTP {self.status} with no body"
        what = "an HTML page" if "html" in self.content_type or self.text.lstrip().startswith("<") else "text"
        return f"HTTP {self.status} with {what} ({truncate(self.text, 60)!r})"


class UnprovenWriteError(RejectedError):
    """A write answered 2xx in a shape that does not say it was applied: re-read the record before deciding."""

    def __init__(self, reply: WriteReply) -> None:
        super().__init__(
            f"aXcelerate answered {reply.describe()}, which does not show the change was applied", status=reply.status
        )
        self.reply = reply


class WriteProof:
    """What this run has learnt about the answers this tenant gives to writes that worked.

    A write whose own answer proves it (the documented success, or the record with the wanted values) proves the
    tenant answers writes honestly. Any other answer is re-read; once TRUST_AFTER writes answered in one shape
    were confirmed by re-reading, exactly that shape is trusted for the rest of the run. Until one of these,
    the run is learning, and sends its writes one at a time.
    """

    TRUST_AFTER = 3

    def __init__(self) -> None:
        self._confirmed: Counter[tuple[object, ...]] = Counter()
        self._answered = False

    def answered(self) -> None:
        """A write's own answer proved it."""
        self._answered = True

    def confirmed(self, reply: WriteReply) -> None:
        """Re-reading showed a write answered this way was applied."""
        self._confirmed[reply.shape] += 1

    def trusted(self, reply: WriteReply) -> bool:
        return self._confirmed[reply.shape] >= self.TRUST_AFTER

    @property
    def learning(self) -> bool:
        return not self._answered and not any(count >= self.TRUST_AFTER for count in self._confirmed.values())


class _Unreachable(RetriableApiError):
    """The request never reached the server (connection refused, DNS, connect timeout)."""


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent or garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError):
            return None
        seconds = max(0.0, seconds)  # a date already past means "now"
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, RETRY_AFTER_LIMIT)


def _error_text(response: httpx.Response, redact: Callable[[str], str] = str) -> tuple[str, str]:
    """The error body's messages and details, whatever the case of its keys, scrubbed, cut to a sane length.

    Scrubbed before it is cut, so a token cut in half cannot slip past.
    """
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        lowered = {str(key).lower(): value for key, value in body.items()}
        message = str(lowered.get("messages") or lowered.get("message") or f"HTTP {response.status_code}")
        details = str(lowered.get("details") or "")
    else:
        message, details = f"HTTP {response.status_code}", response.text.strip()
    return truncate(redact(f"HTTP {response.status_code} {message}".strip())), truncate(redact(details))


def truncate(text: str, limit: int = DETAILS_LIMIT) -> str:
    """Cut API text to ``limit`` characters so a results cell stays readable."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_values(values: Mapping[str, object] | None) -> dict[str, str] | None:
    if values is None:
        return None
    return {key: "" if value is None else str(value) for key, value in values.items()}


def describe_error(exc: ApiError) -> str:
    """One line for the results file: the message, then aXcelerate's details when it gave any."""
    return f"{exc}: {exc.details}" if exc.details else str(exc)
