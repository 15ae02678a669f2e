"""How fast to send: a request-rate pacer (fixed ceiling or adaptive) and the retry backoff policy.

Both take the clock and sleep as arguments so tests can run them without waiting.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
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

    With ``adaptive`` the rate starts low, doubles each second while the server answers cleanly, and
    after the first throttle grows by 5% a second and shrinks by 30% at each 429: it settles just under
    a limit it was never told. ``ceiling`` is never exceeded either way.
    """

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
        self._clock = clock
        self._sleep = sleep
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        self._slow_start = True

    async def wait_turn(self) -> None:
        """Wait until this request may start; a pause that begins while waiting holds it back too."""
        while True:
            now = self._clock()
            slot = max(now, self._next_slot, self._paused_until)
            if slot <= now:
                if math.isfinite(self.rate):
                    self._next_slot = now + 1.0 / self.rate
                return
            await self._sleep(slot - now)

    def succeeded(self) -> None:
        """A clean answer: an adaptive pacer speeds up a little."""
        if not self.adaptive or not math.isfinite(self.rate):
            return
        growth_per_second = self.rate if self._slow_start else 0.05 * self.rate
        self.rate = min(self.ceiling, self.rate + max(growth_per_second, 1.0) / self.rate)

    def throttled(self, retry_after: float | None) -> None:
        """A 429: every request waits out Retry-After, and an adaptive pacer slows down."""
        self.throttles += 1
        if retry_after is not None:
            self._paused_until = max(self._paused_until, self._clock() + retry_after)
        if self.adaptive:
            self._slow_start = False
            self.rate = max(self.floor, self.rate * 0.7)
