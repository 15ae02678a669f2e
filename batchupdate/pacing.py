"""How fast to send: a request-rate pacer (fixed ceiling or adaptive) and the retry backoff policy.

Both take the clock and sleep as arguments so tests can run them without waiting.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


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

    Fixed (``adaptive=False``): the rate is the ceiling, never exceeded.

    Adaptive (``--rate auto``), for an API that publishes no limit: the rate starts low and doubles each
    second while answers are clean. The first 429 tells roughly where the server's limit is: the number
    of requests actually started in the second before it. From then on the pacer holds just under that
    estimate (approaching it quickly, never overshooting), and probes above it only slowly, so throttles,
    each of which costs a Retry-After pause for everyone, stay rare. A 429 at the estimate lowers it.
    """

    TARGET_SHARE = 0.97  # of the estimated limit: headroom for jitter in when requests arrive
    PROBE_PER_SECOND = 0.001  # how fast the estimate creeps up while answers stay clean
    CUT_ON_REPEAT = 0.95  # a throttle at the estimate means the true limit is lower

    def __init__(
        self,
        *,
        ceiling: float | None = None,
        adaptive: bool = True,
        start: float = 5.0,
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
        self._recent_starts: deque[float] = deque()
        self._first_start: float | None = None

    async def wait_turn(self) -> None:
        """Wait until this request may start; a pause that begins while waiting holds it back too."""
        while True:
            now = self._clock()
            slot = max(now, self._next_slot, self._paused_until)
            if slot <= now:
                if math.isfinite(self.rate):
                    self._next_slot = now + 1.0 / self.rate
                self._note_start(now)
                return
            await self._sleep(slot - now)

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

    def throttled(self, retry_after: float | None) -> None:
        """A 429: every request waits out Retry-After, and an adaptive pacer settles under the limit."""
        self.throttles += 1
        now = self._clock()
        already_paused = now < self._paused_until
        if retry_after is not None:
            self._paused_until = max(self._paused_until, now + retry_after)
        if not self.adaptive or already_paused:
            return  # the other answers of the same burst say nothing new
        started = float(len(self._recent_starts) - 1)  # the second before, without the refused request
        if self._first_start is None or now - self._first_start < 1.0:
            estimate = self.rate * 0.7  # not a second of history yet: nothing to measure, just back off
        elif self.limit_estimate is None or started > self.limit_estimate:
            estimate = started  # what the server let through in the last second, give or take
        else:
            estimate = min(started, self.limit_estimate * self.CUT_ON_REPEAT)  # throttled below the estimate
        estimate = max(estimate, self.floor)
        self.limit_estimate = min(estimate, self.ceiling)
        self.rate = max(self.floor, self.limit_estimate * self.TARGET_SHARE)

    def _note_start(self, now: float) -> None:
        starts = self._recent_starts
        starts.append(now)
        if self._first_start is None:
            self._first_start = now
        while starts and starts[0] <= now - 1.0:
            starts.popleft()
