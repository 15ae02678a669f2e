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


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a request that may succeed later."""

    attempts: int = 6  # tries for one request when it meets server errors or timeouts
    throttles: int = 30  # 429s one request may meet before the run gives up on it
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0

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
    doubles each second while answers are clean. A 429 tells where the server's limit is: how many of the
    requests started in the second before the refused one were let in. Unlike counting every request sent
    until the 429 comes back (too many while the rate is still climbing) or the clean answers of the last
    second (too few on a slow server with many in flight, too many when answers come back in bunches),
    that count does not depend on the latency. From then on the pacer holds just under that estimate
    (approaching it quickly, never overshooting), and probes above it only slowly, so throttles, each of
    which costs a Retry-After pause for everyone, stay rare. A later 429 with a count close to the estimate
    is jitter, or the probe touching the limit, and lowers the estimate a little; a count well below it
    means the limit fell (another client sharing it, say), and is believed.
    """

    # Of the estimated limit: headroom for jitter in when requests arrive. Less would be faster only while
    # no jitter trips a 429, and each one costs everyone a pause of a second or more.
    TARGET_SHARE = 0.97
    # How fast the estimate creeps up while answers stay clean: 1.2% a minute. Each probe that finds the
    # limit costs a pause for everyone; a limit raised mid-run is found within minutes all the same.
    PROBE_PER_SECOND = 0.0002
    # One 429 never cuts the pace below this share of it: the count may be another client's burst.
    # Doubling each second, the rate is at most about twice the limit when the first 429 comes back.
    DEEPEST_CUT = 0.4
    # A later 429 whose count is near the estimate (at least NEAR of it) lowers it to no less than STEP_DOWN
    # of it; a lower count is believed.
    STEP_DOWN = 0.98
    NEAR = 0.9
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
        self._clock = clock
        self._sleep = sleep
        self._next_slot = -math.inf
        self._paused_until = -math.inf
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
        """A clean answer: an adaptive pacer speeds up (fast before the first throttle, gently after)."""
        if not self.adaptive or not math.isfinite(self.rate):
            return
        if self.limit_estimate is None:
            self.rate = min(self.ceiling, self.rate + 1.0)  # +1 per answer: doubles each second
            return
        self.limit_estimate *= 1 + self.PROBE_PER_SECOND / self.rate
        target = min(self.ceiling, self.limit_estimate * self.TARGET_SHARE)
        # Close half the gap to the target each second.
        self.rate = (
            min(target, self.rate + max(target - self.rate, 0.0) * 0.5 / self.rate) if self.rate < target else target
        )

    def throttled(self, retry_after: float | None, started: float | None = None) -> None:
        """A 429 to the request that started at ``started``: everyone waits out Retry-After, and an adaptive
        pacer settles under the limit."""
        self.throttles += 1
        now = self._clock()
        started = now if started is None else started
        already_paused = now < self._paused_until
        if retry_after is not None:
            self._paused_until = max(self._paused_until, now + retry_after)
        if not self.adaptive:
            return
        self._remember(self._refused, started)
        if already_paused:
            return  # the other answers of the same burst say nothing new
        let_in = self._count(self._starts, started) - self._count(self._refused, started)
        estimate = max(float(let_in), self.rate * self.DEEPEST_CUT)
        if self.limit_estimate is not None:
            near = let_in >= self.limit_estimate * self.NEAR
            stepped = max(estimate, self.limit_estimate * self.STEP_DOWN) if near else estimate
            estimate = min(stepped, self.limit_estimate)  # a throttle never raises the estimate
        self.limit_estimate = min(max(estimate, self.floor), self.ceiling)
        self.rate = max(self.floor, self.limit_estimate * self.TARGET_SHARE)
        log.info(
            "throttled (429): %d requests started in the second before it were let in; limit taken as %.1f/s,"
            " now %.1f/s",
            let_in,
            self.limit_estimate,
            self.rate,
        )

    def _remember(self, moments: deque[float], moment: float) -> None:
        moments.append(moment)
        while moments[0] <= moment - self.HISTORY:
            moments.popleft()

    @staticmethod
    def _count(moments: deque[float], before: float) -> int:
        """How many of the moments fall in the second before ``before`` (not counting ``before`` itself)."""
        since = before - 1.0 - 1e-9  # a start one interval-sum of floats short of a whole second still counts
        return sum(1 for moment in moments if since <= moment < before)
