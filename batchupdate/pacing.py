"""How fast to send: a request-rate pacer (fixed ceiling or adaptive) and the retry backoff policy.

Both take the clock and sleep as arguments so tests can run them without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
# Requests in flight needed to keep a pace = the pace x the latency (Little's law): 16 keep 50 requests a
# second going at 300 ms per answer. The pacer, not this cap, decides how fast; 8 left a run against a
# slow server (250 ms) at a third below the server's own limit.
DEFAULT_CONCURRENCY = 16
# Seconds a request waits for its answer (--timeout). A resume waits this long after a killed run's last
# write before re-reading its record, so the journal keeps the timeout each write was sent with.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a request that may succeed later.

    The bounds, per request: a read is tried ``attempts`` times on server errors and timeouts (at most
    0.5 + 1 + 2 + 4 + 8 = 15.5 s of backoff between tries); a write ``write_attempts`` times, its record
    re-read after each failure (the pipeline does that); each try waits at most ``timeout`` for its answer.
    429s: a request gives up after ``throttles`` of them, or at the one whose wait (its Retry-After, or the
    backoff when it has none) would take its waiting for 429s past ``throttle_wait`` seconds.
    """

    attempts: int = 6  # tries for one read when it meets server errors or timeouts
    write_attempts: int = 3  # tries for one write (each failure re-read before the next try)
    throttles: int = 8  # 429s one request may meet before the run gives up on it
    throttle_wait: float = 120.0  # seconds one request may spend waiting out 429s
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = DEFAULT_TIMEOUT

    def backoff(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """Exponential backoff with full jitter: a random wait up to base * 2^(attempt-1), capped."""
        return draw() * min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


class Pacer:
    """Spaces requests so that no more than ``rate`` start in any second, and pauses everyone on a 429.

    Fixed (``adaptive=False``): the rate is the ceiling, never exceeded in any second, as the server counts
    too: requests go out a little further apart than 1/rate, so that the few milliseconds by which some
    reach the server sooner than others (on the way, or in either side's event loop) cannot squeeze one
    more into a second.

    Adaptive (``--rate auto``), for an API that publishes no limit: the rate starts low (10/s) and
    doubles each second while answers are clean. A 429 may tell where the server's limit is: how many of
    the requests started in the second before the refused one were let in. That count does not depend on
    the latency (unlike counting every request sent until the 429 comes back, or the clean answers of the
    last second). It is a measurement of the limit only when most of what was sent in that second was let
    in (at least MEASURED_SHARE): then the pacer holds just under it and probes above it only slowly, so
    throttles, each of which costs a Retry-After pause for everyone, stay rare. A later 429 with a count
    close to the estimate is jitter, or the probe touching the limit, and lowers the estimate a little; a
    count well below it means the limit fell (another client sharing it, say), and is believed, but the
    pacer remembers the limit it measured before and, after each clean stretch, tries part of the way back
    (waiting twice as long after each try that meets a 429).

    A 429 that measures nothing (none, or few, of the requests of the second before were let in: another
    client's burst, an early hiccup) does not lower the estimate: with Retry-After, everyone waits exactly
    that long and goes on at the same pace; without, the pace halves, at most once a second, and climbs
    back at up to double each second of clean answers.
    """

    # Of the estimated limit: headroom for jitter in when requests arrive. Less would be faster only while
    # no jitter trips a 429, and each one costs everyone a pause of a second or more.
    TARGET_SHARE = 0.97
    # How fast the estimate creeps up while answers stay clean at the highest limit measured: 1.2% a minute.
    # Each probe that finds the limit costs a pause for everyone.
    PROBE_PER_SECOND = 0.0002
    # One 429 never cuts the pace below this share of it: the count may be another client's burst.
    # Doubling each second, the rate is at most about twice the limit when the first 429 comes back.
    DEEPEST_CUT = 0.4
    # A later 429 whose count is near the estimate (at least NEAR of it) lowers it to no less than STEP_DOWN
    # of it; a lower count is believed.
    STEP_DOWN = 0.98
    NEAR = 0.9
    # A 429 measures the limit when at least this share of the requests started in the second before it
    # were let in; slow start overshoots the limit by at most twice, so its first 429 always measures.
    MEASURED_SHARE = 0.5
    # A 429 that measures nothing and brings no Retry-After cuts the pace to this share, at most once per
    # CUT_INTERVAL: requests sent in the second after a cut still meet the server's count of the one before.
    CUT = 0.5
    CUT_INTERVAL = 1.0
    # Below a limit measured earlier: after RETURN_AFTER seconds of clean answers, try RETURN_STEP (a share)
    # higher, never above that limit. A try that held for RETURN_AFTER is followed at once by one twice as
    # big; one that meets a 429 doubles the wait before the next, up to RETURN_AFTER_MOST: while the limit
    # stays low, that costs a 429 (and its pause) every half minute.
    RETURN_AFTER = 5.0
    RETURN_AFTER_MOST = 30.0
    RETURN_STEP = 0.25
    HISTORY = 10.0  # seconds of request starts kept: the last second before a refused request, and its latency
    # Under a fixed ceiling, any rate+1 starts in a row span at least 1 s plus this: jitter up to 30 ms on the
    # way to the server cannot put rate+1 of them in one of its seconds. It costs 3% of the pace.
    ARRIVAL_JITTER = 0.03

    def __init__(
        self,
        *,
        ceiling: float | None = None,
        adaptive: bool = True,
        start: float = 10.0,
        floor: float = 0.5,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if ceiling is not None and ceiling <= 0:
            raise ValueError("the rate ceiling must be positive")
        self.ceiling = ceiling if ceiling is not None else math.inf
        self.adaptive = adaptive
        self.rate = min(start, self.ceiling) if adaptive else self.ceiling
        self.floor = min(floor, self.ceiling)
        self.throttles = 0
        self.limit_estimate: float | None = None
        self.best_estimate: float | None = None  # the highest limit counted (and creeping up with the estimate)
        self._clock = clock
        self._sleep = sleep
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        self._last_cut = -math.inf
        self._clean_since = -math.inf  # the last cut or try upward: when the current clean stretch began
        self._return_after, self._return_step = self.RETURN_AFTER, self.RETURN_STEP
        self._returning = False  # a try back toward best_estimate is under way
        self._starts: deque[float] = deque()  # when recent requests started, oldest first
        self._refused: deque[float] = deque()  # the start times of those answered 429

    async def wait_turn(self) -> float:
        """Wait until this request may start and return that moment (for ``throttled``, if it is refused);
        a pause that begins meanwhile holds it back too."""
        while True:
            now = self._clock()
            due = max(self._next_slot, self._paused_until)
            if due <= now:
                if math.isfinite(self.rate):
                    spacing = 1.0 if self.adaptive else 1.0 + self.ARRIVAL_JITTER  # adaptive: see TARGET_SHARE
                    self._next_slot = self._counted_from(due, now) + spacing / self.rate
                if self.adaptive:
                    self._remember(self._starts, now)
                return now
            await self._sleep(due - now)

    def _counted_from(self, due: float, now: float) -> float:
        """Where the next interval counts from. A fixed ceiling counts from now: never two starts closer
        than 1/rate. An adaptive pacer counts from when this start was due, so the moments a busy event
        loop wakes a little late do not add up to a pace 2-3% under the one it aims at; but not after a
        longer wait (idle, or a pause), which would let a burst out."""
        if self.adaptive and now - due < 0.1 / self.rate:
            return due
        return now

    def succeeded(self) -> None:
        """A clean answer: an adaptive pacer speeds up (doubling each second up to where it aims, gently
        beyond a limit it measured)."""
        if not self.adaptive or not math.isfinite(self.rate):
            return
        if self.limit_estimate is None or self.best_estimate is None:
            self.rate = min(self.ceiling, self.rate + 1.0)  # +1 per answer: doubles each second
            return
        now = self._clock()
        if self.limit_estimate < self.best_estimate * self.NEAR:
            clean_for = now - self._clean_since
            if self._returning and clean_for >= self.RETURN_AFTER:  # the last try held: go on, a bigger step
                self._return_after, self._return_step = self.RETURN_AFTER, self._return_step * 2
                self._returning = False
            if clean_for >= self._return_after:
                self.limit_estimate = min(self.best_estimate, self.limit_estimate * (1 + self._return_step))
                self._clean_since, self._returning = now, True
                log.info("answers clean for a while: trying %.1f requests/s", self.limit_estimate * self.TARGET_SHARE)
        else:  # at the highest limit measured (again): creep, and the next fall starts its tries afresh
            self._return_after, self._return_step, self._returning = self.RETURN_AFTER, self.RETURN_STEP, False
            creep = 1 + self.PROBE_PER_SECOND / self.rate
            self.limit_estimate *= creep
            self.best_estimate *= creep
        target = min(self.ceiling, self.limit_estimate * self.TARGET_SHARE)
        self.rate = min(target, self.rate + 1.0)  # up to double each second; at once down to a lower target

    def throttled(self, retry_after: float | None, started: float | None = None) -> float:
        """A 429 to the request that started at ``started``: everyone waits out Retry-After, and an adaptive
        pacer settles under the limit. Returns the seconds of a pause this 429 began or lengthened (else 0)."""
        self.throttles += 1
        now = self._clock()
        started = now if started is None else started
        already_paused = now < self._paused_until
        pause = 0.0
        if retry_after is not None and now + retry_after > self._paused_until:
            self._paused_until, pause = now + retry_after, retry_after
        if not self.adaptive:
            return pause
        self._remember(self._refused, started)
        if already_paused or started < self._last_cut + self.CUT_INTERVAL:
            return pause  # the other answers of the same burst say nothing new
        self._last_cut = self._clean_since = now
        sent = self._count(self._starts, started)
        let_in = sent - self._count(self._refused, started)
        if let_in < 1 or let_in < sent * self.MEASURED_SHARE:
            if retry_after is None:
                self.rate = max(self.floor, self.rate * self.CUT)
            log.info(
                "throttled (429): %d of the %d requests started in the second before it were let in, which says"
                " nothing of the limit; %s, then %.1f/s",
                let_in,
                sent,
                f"pausing {retry_after:g} s as asked" if retry_after is not None else "no Retry-After",
                self.rate,
            )
            return pause
        self._measured(float(let_in))
        return pause

    def _measured(self, let_in: float) -> None:
        """A 429 that measured the limit at ``let_in`` requests a second: settle just under it."""
        estimate = max(let_in, self.rate * self.DEEPEST_CUT)
        near = False
        if self.limit_estimate is not None:
            near = let_in >= self.limit_estimate * self.NEAR
            stepped = max(estimate, self.limit_estimate * self.STEP_DOWN) if near else estimate
            estimate = min(stepped, self.limit_estimate)  # a throttle never raises the estimate
        at_best = self.best_estimate is None or (
            self.limit_estimate is not None and self.limit_estimate >= self.best_estimate * self.NEAR
        )
        if self._returning:  # a try back up met the limit: wait twice as long before the next, a small step
            self._return_after = min(self.RETURN_AFTER_MOST, self._return_after * 2)
            self._return_step, self._returning = self.RETURN_STEP, False
        self.limit_estimate = self._bounded(estimate)
        if self.best_estimate is None or (near and at_best):
            self.best_estimate = self._bounded(let_in)  # the limit is here: the first count, jitter or the probe
        self.rate = max(self.floor, self.limit_estimate * self.TARGET_SHARE)
        log.info(
            "throttled (429): %d requests started in the second before it were let in; limit taken as %.1f/s,"
            " now %.1f/s",
            let_in,
            self.limit_estimate,
            self.rate,
        )

    def _bounded(self, rate: float) -> float:
        return min(max(rate, self.floor), self.ceiling)

    def _remember(self, moments: deque[float], moment: float) -> None:
        moments.append(moment)
        while moments[0] <= moment - self.HISTORY:
            moments.popleft()

    @staticmethod
    def _count(moments: deque[float], before: float) -> int:
        """How many of the moments fall in the second before ``before`` (not counting ``before`` itself)."""
        since = before - 1.0 - 1e-9  # a start one interval-sum of floats short of a whole second still counts
        return sum(1 for moment in moments if since <= moment < before)
