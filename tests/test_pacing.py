"""Pacing and backoff: how long batchupdate waits, checked on a fake clock (nothing sleeps for real)."""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import random
from collections.abc import Callable

import pytest

from batchupdate.pacing import Pacer, RetryPolicy
from tests.fakes import FakeClock

# Float sums of 1/rate can land a hair before the next whole second; no server can tell 1e-9 s apart.
EPSILON = 1e-9


def starts_of(pacer: Pacer, clock: FakeClock, calls: int) -> list[float]:
    """When each of ``calls`` sequential requests may start."""

    async def go() -> list[float]:
        starts = []
        for _ in range(calls):
            await pacer.wait_turn()
            starts.append(clock())
        return starts

    return asyncio.run(go())


def busiest_second(starts: list[float], seconds: float = 1.0) -> int:
    """The most request starts in any window [t, t+seconds)."""
    return max(sum(1 for other in starts if start <= other < start + seconds - EPSILON) for start in starts)


@pytest.mark.parametrize(
    ("attempt", "longest"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 16.0), (7, 30.0), (12, 30.0)],
)
def test_backoff_upper_bound_doubles_from_base_and_is_capped(attempt: int, longest: float) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    assert policy.backoff(attempt, lambda: 1.0) == pytest.approx(longest)
    assert policy.backoff(attempt, lambda: 0.0) == 0.0
    assert policy.backoff(attempt, lambda: 0.25) == pytest.approx(longest / 4)


def test_backoff_with_real_randomness_stays_within_full_jitter_bounds() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    for attempt in range(1, 10):
        for _ in range(200):
            assert 0.0 <= policy.backoff(attempt) <= min(30.0, 0.5 * 2 ** (attempt - 1))


@pytest.mark.parametrize("rate", [1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 2.5, 0.5])
def test_fixed_ceiling_never_starts_more_than_rate_requests_in_any_second(rate: float) -> None:
    clock = FakeClock()
    pacer = Pacer(ceiling=rate, adaptive=False, clock=clock, sleep=clock.sleep)
    starts = starts_of(pacer, clock, 60)
    # Evenly spaced starts at a fractional rate (150/minute = 2.5/s) fit ceil(rate) into some seconds,
    # yet never more than the rate allows over a longer stretch.
    assert busiest_second(starts) <= math.ceil(rate)
    assert busiest_second(starts, 10.0) <= math.ceil(rate * 10)
    # ... and it does not dawdle either: 60 requests take about 60/rate seconds (3% more, see the next test).
    assert starts[-1] - starts[0] == pytest.approx(59 / rate * (1 + Pacer.ARRIVAL_JITTER))


@pytest.mark.parametrize("rate", [2.5, 10.0, 40.0])
def test_a_fixed_ceiling_holds_where_the_server_counts_despite_jitter_on_the_way(rate: float) -> None:
    # Requests reach the server a little sooner or later than they left: up to 25 ms, here at random.
    clock = FakeClock(start=0.0)
    pacer = Pacer(ceiling=rate, adaptive=False, clock=clock, sleep=clock.sleep)
    delays = random.Random(2026)
    arrivals = [start + delays.uniform(0.0, 0.025) for start in starts_of(pacer, clock, int(20 * rate))]
    assert busiest_second(arrivals) <= math.ceil(rate)


def test_fixed_ceiling_does_not_save_up_a_burst_while_idle() -> None:
    clock = FakeClock()
    pacer = Pacer(ceiling=4, adaptive=False, clock=clock, sleep=clock.sleep)
    starts = starts_of(pacer, clock, 3)
    clock.advance(30)  # idle: a pacer that banked unused slots would now fire a burst
    starts += starts_of(pacer, clock, 20)
    assert busiest_second(starts) <= 4


def test_first_request_starts_at_once() -> None:
    clock = FakeClock()
    pacer = Pacer(ceiling=2, adaptive=False, clock=clock, sleep=clock.sleep)
    starts_of(pacer, clock, 1)
    assert clock.sleeps == []


def test_throttled_pauses_every_later_request_until_retry_after() -> None:
    clock = FakeClock()
    pacer = Pacer(ceiling=5, adaptive=False, clock=clock, sleep=clock.sleep)
    starts_of(pacer, clock, 2)
    throttled_at = clock()
    pacer.throttled(4.0)
    starts = starts_of(pacer, clock, 3)
    assert starts[0] == pytest.approx(throttled_at + 4.0)
    assert all(start >= throttled_at + 4.0 for start in starts)
    assert busiest_second(starts) <= 5


def test_a_shorter_retry_after_does_not_cut_a_longer_pause_short() -> None:
    clock = FakeClock()
    pacer = Pacer(adaptive=False, clock=clock, sleep=clock.sleep)
    pacer.throttled(10.0)
    pacer.throttled(1.0)
    [start] = starts_of(pacer, clock, 1)
    assert start == pytest.approx(clock.start + 10.0)


def test_throttled_without_retry_after_does_not_pause_a_fixed_pacer() -> None:
    clock = FakeClock()
    pacer = Pacer(ceiling=5, adaptive=False, clock=clock, sleep=clock.sleep)
    pacer.throttled(None)
    assert starts_of(pacer, clock, 1) == [clock.start]
    assert pacer.throttles == 1


def test_adaptive_pacer_rises_on_success_but_never_above_the_ceiling() -> None:
    clock = FakeClock()
    pacer = Pacer(ceiling=20, adaptive=True, start=5, clock=clock, sleep=clock.sleep)
    rates = [pacer.rate]
    for _ in range(200):
        pacer.succeeded()
        rates.append(pacer.rate)
    assert rates[0] == 5
    assert all(later >= earlier for earlier, later in itertools.pairwise(rates))
    assert max(rates) == 20
    assert rates[-1] == 20


def test_adaptive_pacer_starts_no_faster_than_the_ceiling() -> None:
    pacer = Pacer(ceiling=2, adaptive=True, start=5)
    assert pacer.rate == 2


def simulate(pacer: Pacer, clock: FakeClock, limit: float, seconds: float) -> tuple[list[float], int]:
    """Requests sent one after another to a server that answers 429 above ``limit`` in any 1-second window."""
    accepted: list[float] = []
    throttled = 0

    async def go() -> None:
        nonlocal throttled
        while clock() < seconds:
            await pacer.wait_turn()
            now = clock()
            if sum(1 for start in accepted[-int(limit) - 1 :] if start > now - 1.0) >= limit:
                throttled += 1
                pacer.throttled(1.0)
            else:
                accepted.append(now)
                pacer.succeeded()
            await clock.sleep(0.001)

    clock.run(go())
    return accepted, throttled


@pytest.mark.parametrize("limit", [3, 20, 50, 200])
def test_adaptive_pacer_settles_just_under_a_limit_it_was_never_told(limit: float) -> None:
    clock = FakeClock(start=0.0)
    pacer = Pacer(adaptive=True, clock=clock, sleep=clock.sleep)
    accepted, throttled = simulate(pacer, clock, limit, seconds=150)
    last_minute = sum(1 for start in accepted if start >= 90)
    assert last_minute >= 0.9 * limit * 60, (last_minute, pacer.rate, pacer.limit_estimate)
    assert throttled <= 0.03 * (len(accepted) + throttled)


def simulate_workers(
    pacer: Pacer,
    clock: FakeClock,
    *,
    limit: int | Callable[[float], int],
    latency: float,
    requests: int,
    workers: int = 8,
    early_429s: int = 0,
    early_retry_after: float | None = None,
    retry_after: bool = True,
) -> tuple[float, int]:
    """``requests`` sent by ``workers`` at once, as the client sends them: each reaches the server ``latency``
    after it starts, the server lets ``limit`` in over any 1-second window (a number, or what is left for us
    at each moment) and answers the rest 429 with Retry-After in whole seconds (or none), and the refused ones
    are sent again (without Retry-After, after the client's backoff). The first ``early_429s`` arrivals are
    refused whatever the count, as when another integration has just used the quota. Returns the seconds
    taken and the 429s.
    """
    limit_at = limit if callable(limit) else lambda _: limit
    policy = RetryPolicy()
    let_in: collections.deque[float] = collections.deque()
    remaining, throttled, arrivals = requests, 0, 0

    async def worker() -> None:
        nonlocal remaining, throttled, arrivals
        while remaining > 0:
            remaining -= 1
            refusals = 0
            while True:
                started = await pacer.wait_turn()
                await clock.sleep(latency)
                now = clock()
                arrivals += 1
                while let_in and let_in[0] <= now - 1.0:
                    let_in.popleft()
                if arrivals > early_429s and len(let_in) < limit_at(now):
                    let_in.append(now)
                    pacer.succeeded()
                    break
                throttled += 1
                refusals += 1
                if arrivals <= early_429s:
                    wait = early_retry_after
                else:
                    wait = max(1.0, math.ceil(let_in[0] + 1.0 - now)) if let_in and retry_after else None
                pacer.throttled(wait, started)
                if wait is None:
                    await clock.sleep(policy.backoff(refusals, lambda: 1.0))

    async def go() -> None:
        await asyncio.gather(*(worker() for _ in range(workers)))

    begun = clock()
    clock.run(go())
    return clock() - begun, throttled


@pytest.mark.parametrize(
    ("limit", "latency"),
    [(50, 0.05), (20, 0.2), (10, 0.5), (3, 0.05), (100, 0.02)],
    ids=["50/s 50ms", "20/s 200ms", "10/s 500ms", "3/s 50ms", "100/s 20ms"],
)
def test_many_workers_finish_close_to_the_floor_whatever_the_latency(limit: int, latency: float) -> None:
    # The floor: every request at exactly the limit. The first second or so climbs to it, one pause
    # (Retry-After) learns where it is, and then the pace keeps 3% under it.
    clock = FakeClock(start=0.0)
    pacer = Pacer(adaptive=True, clock=clock, sleep=clock.sleep)
    requests = 100 * limit
    seconds, throttled = simulate_workers(pacer, clock, limit=limit, latency=latency, requests=requests)
    assert seconds <= 1.08 * requests / limit, (seconds, throttled, pacer.limit_estimate)
    assert throttled <= 0.01 * requests
    # Measured from when the refused request started, the limit is found whatever the latency (counting the
    # answers already back would miss those in flight; counting until the 429 came back, those sent since).
    assert pacer.limit_estimate == pytest.approx(limit, rel=0.05)


def test_the_limit_is_counted_in_the_second_before_the_refused_request_started() -> None:
    clock = FakeClock(start=0.0)
    pacer = Pacer(adaptive=True, start=20, clock=clock, sleep=clock.sleep)
    starts = starts_of(pacer, clock, 40)  # two seconds at 20/s
    refused = starts[-1]
    for _ in range(20):
        pacer.succeeded()  # answers to earlier requests raise the pace to 40/s...
    starts_of(pacer, clock, 12)  # ...and 12 more go out before the refused one's 429 comes back
    pacer.throttled(1.0, refused)
    assert pacer.limit_estimate == 20  # not the 25 or so sent in the second before the 429 came back
    assert pacer.rate == pytest.approx(20 * Pacer.TARGET_SHARE)


def learned(limit: int) -> tuple[Pacer, FakeClock]:
    """A pacer that has met its first 429 after ``limit`` requests a second were let in."""
    clock = FakeClock(start=0.0)
    pacer = Pacer(adaptive=True, start=limit, clock=clock, sleep=clock.sleep)
    starts = starts_of(pacer, clock, 2 * limit + 1)
    pacer.throttled(1.0, starts[-1])
    assert pacer.limit_estimate == limit
    clock.advance(1.0)
    return pacer, clock


def test_a_later_429_near_the_estimate_lowers_it_only_a_little() -> None:
    pacer, clock = learned(50)
    starts = starts_of(pacer, clock, 2 * 48)  # at 97% of 50, jitter on the way trips the limit once
    pacer.throttled(1.0, starts[-1])
    assert pacer.limit_estimate == pytest.approx(50 * Pacer.STEP_DOWN)


def test_a_later_429_well_below_the_estimate_is_believed() -> None:
    pacer, clock = learned(50)  # ...and the pause is over; now another client takes most of the limit:
    starts = starts_of(pacer, clock, 21)  # only 20 are let in before the next 429
    pacer.throttled(1.0, starts[-1])
    assert pacer.limit_estimate == 20


def test_after_a_measured_limit_it_grows_far_more_cautiously_than_before() -> None:
    pacer, clock = learned(50)
    after_throttle = pacer.rate
    for _ in range(200):
        clock.advance(0.02)
        pacer.succeeded()
    assert after_throttle <= pacer.rate < 50  # four seconds of clean answers creep, never past the count


def test_adaptive_pacer_never_falls_below_its_floor() -> None:
    clock = FakeClock()
    pacer = Pacer(adaptive=True, start=5, floor=0.5, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        pacer.throttled(None)
        clock.advance(Pacer.CUT_INTERVAL)
    assert pacer.rate == 0.5


def test_a_429_that_measures_nothing_and_brings_no_retry_after_halves_the_pace_once_a_second() -> None:
    clock = FakeClock()
    pacer = Pacer(adaptive=True, start=10, clock=clock, sleep=clock.sleep)
    refused = starts_of(pacer, clock, 4)  # the first four requests all refused: nothing let in
    for started in refused:
        pacer.throttled(None, started)
    assert pacer.rate == 5  # one cut for the burst, not four
    assert pacer.limit_estimate is None  # and no limit believed: none of ours was let in
    clock.advance(Pacer.CUT_INTERVAL)
    [late] = starts_of(pacer, clock, 1)
    pacer.throttled(None, late)
    assert pacer.rate == 2.5


def test_a_429_that_measures_nothing_with_retry_after_pauses_exactly_that_long_and_keeps_the_pace() -> None:
    clock = FakeClock()
    pacer = Pacer(adaptive=True, start=10, clock=clock, sleep=clock.sleep)
    [first] = starts_of(pacer, clock, 1)
    assert pacer.throttled(1.0, first) == 1.0
    assert pacer.rate == 10 and pacer.limit_estimate is None
    starts = starts_of(pacer, clock, 11)
    assert starts[0] == pytest.approx(first + 1.0)
    assert starts[-1] - starts[0] == pytest.approx(1.0)  # on at 10/s, not punished beyond the pause


def test_429s_that_measure_nothing_after_a_measured_limit_leave_it_standing() -> None:
    pacer, clock = learned(50)
    clock.advance(5.0)  # quiet: then another client's burst fills the window and ours is refused
    [refused] = starts_of(pacer, clock, 1)
    pacer.throttled(None, refused)
    assert pacer.limit_estimate == 50
    assert pacer.rate == pytest.approx(50 * Pacer.TARGET_SHARE * Pacer.CUT)
    for _ in range(50):
        pacer.succeeded()
    assert pacer.rate == pytest.approx(50 * Pacer.TARGET_SHARE, rel=0.01)  # back within about a second


def test_below_a_limit_measured_earlier_it_tries_back_up_after_clean_stretches_waiting_longer_after_each_miss() -> None:
    pacer, clock = learned(50)
    starts = starts_of(pacer, clock, 21)  # the limit falls to 20
    pacer.throttled(1.0, starts[-1])
    assert pacer.limit_estimate == 20 and pacer.best_estimate == 50
    tries = []
    for second in range(120):
        clock.advance(1.0)
        before = pacer.limit_estimate
        pacer.succeeded()
        if pacer.limit_estimate > before:
            tries.append(second)
            pacer.throttled(1.0, clock() - 1e-6)  # the limit is still 20: the try meets a 429...
            starts = starts_of(pacer, clock, 21)
            pacer.throttled(1.0, starts[-1])  # ...that counts it again
            assert pacer.limit_estimate == pytest.approx(20, rel=0.05)
    gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
    assert gaps and all(later > earlier for earlier, later in itertools.pairwise(gaps[:3]))
    assert len(tries) <= 6  # a handful of 429s over two minutes at the lower limit, not one every few seconds


def clean_and_faulted(
    rows: int, *, limit: int = 50, latency: float = 0.05, **faults: int | float | None
) -> tuple[float, float, int]:
    """Seconds ``rows`` take at the client's default concurrency against a clean server (limit 50/s, as the
    benchmark's), then against the same server with ``faults`` (see simulate_workers), and the 429s the faults
    added."""
    times, throttles = [], []
    for scripted in ({}, faults):
        clock = FakeClock(start=0.0)
        pacer = Pacer(adaptive=True, clock=clock, sleep=clock.sleep)
        seconds, throttled = simulate_workers(
            pacer,
            clock,
            limit=limit,
            latency=latency,
            requests=rows,
            workers=16,
            **scripted,  # type: ignore[arg-type]
        )
        times.append(seconds)
        throttles.append(throttled)
    return times[0], times[1], throttles[1] - throttles[0]


@pytest.mark.parametrize("rows", [100, 400])
def test_four_early_429s_without_retry_after_cost_seconds_not_minutes(rows: int) -> None:
    clean, faulted, throttled = clean_and_faulted(rows, early_429s=4)
    assert throttled == 4
    assert faulted <= clean + 2.0, (clean, faulted)  # was: a pace of 0.5/s, rising 1.2% a minute


@pytest.mark.parametrize("rows", [100, 400])
def test_one_early_429_with_retry_after_costs_about_the_pause_it_asked_for(rows: int) -> None:
    clean, faulted, throttled = clean_and_faulted(rows, early_429s=1, early_retry_after=1.0)
    assert throttled == 1
    assert clean + 0.9 <= faulted <= clean + 1.5, (clean, faulted)


@pytest.mark.parametrize("retry_after", [True, False], ids=["with Retry-After", "without"])
def test_a_limit_that_drops_mid_run_is_followed_down_and_found_again_when_it_comes_back(retry_after: bool) -> None:
    # 50/s, then 20/s from 20 s to 60 s (another integration's nightly sync), then 50/s again.
    clock = FakeClock(start=0.0)
    pacer = Pacer(adaptive=True, clock=clock, sleep=clock.sleep)
    seconds, throttled = simulate_workers(
        pacer,
        clock,
        limit=lambda now: 20 if 20 <= now < 60 else 50,
        latency=0.05,
        requests=50 * 20 + 20 * 40 + 50 * 60,
        workers=16,
        retry_after=retry_after,
    )
    # The floor is 120 s. While the limit is low, a try back up every 30 s at most (a 429 each); once it is
    # back, the next try finds it, and three tries, 5 s apart, climb back to it.
    assert seconds <= 155, (seconds, throttled, pacer.limit_estimate)
    assert pacer.limit_estimate == pytest.approx(50, rel=0.1)
    assert throttled <= 0.01 * 4800


def test_another_client_sharing_the_quota_is_given_room_with_few_429s() -> None:
    # From 10 s on, another client takes 30 of the 50 requests a second.
    clock = FakeClock(start=0.0)
    pacer = Pacer(adaptive=True, clock=clock, sleep=clock.sleep)
    requests = 50 * 10 + 20 * 100
    seconds, throttled = simulate_workers(
        pacer, clock, limit=lambda now: 50 if now < 10 else 20, latency=0.05, requests=requests, workers=16
    )
    # The floor is 110 s; a try back up (a 429 and its 1 s pause) every 30 s at most, and 3% under the limit.
    assert seconds <= 1.15 * 110, (seconds, throttled, pacer.limit_estimate)
    assert throttled <= 0.01 * requests
    assert pacer.limit_estimate == pytest.approx(20, rel=0.1)


def test_adaptive_pacer_spaces_requests_by_its_current_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(ceiling=8, adaptive=True, start=2, clock=clock, sleep=clock.sleep)
    slow = starts_of(pacer, clock, 5)
    for _ in range(100):
        pacer.succeeded()
    fast = starts_of(pacer, clock, 9)
    assert slow[1] - slow[0] == pytest.approx(0.5)
    assert fast[-1] - fast[1] == pytest.approx(7 / 8)
    assert busiest_second(slow + fast) <= 8


def test_ceiling_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(ceiling=0)


# --- many requests waiting at once (an event loop running on the fake clock) ---------------------------------


def concurrent_starts(pacer: Pacer, clock: FakeClock, calls: int, *, throttle_at: float | None = None) -> list[float]:
    """When each of ``calls`` requests that all asked at once may start; optionally a 429 (Retry-After 3 s)."""
    starts: list[float] = []

    async def request() -> None:
        await pacer.wait_turn()
        starts.append(clock())

    async def go() -> None:
        tasks = [asyncio.create_task(request()) for _ in range(calls)]
        if throttle_at is not None:
            await asyncio.sleep(throttle_at)
            pacer.throttled(3.0)
        await asyncio.gather(*tasks)

    clock.run(go())
    return sorted(starts)


@pytest.mark.parametrize("rate", [2.0, 5.0, 8.0])
def test_requests_waiting_at_once_still_keep_to_the_ceiling(rate: float) -> None:
    clock = FakeClock()
    pacer = Pacer(ceiling=rate, adaptive=False, clock=clock, sleep=clock.sleep)
    starts = concurrent_starts(pacer, clock, 40)
    assert busiest_second(starts) <= rate
    assert starts[-1] - starts[0] == pytest.approx(39 / rate * (1 + Pacer.ARRIVAL_JITTER))


def test_a_throttle_also_holds_back_requests_already_waiting_their_turn() -> None:
    clock = FakeClock()
    pacer = Pacer(ceiling=5, adaptive=False, clock=clock, sleep=clock.sleep)
    starts = concurrent_starts(pacer, clock, 8, throttle_at=0.3)
    throttled_at = clock.start + 0.3
    sent_while_paused = [start for start in starts if throttled_at < start < throttled_at + 3.0]
    assert sent_while_paused == []
