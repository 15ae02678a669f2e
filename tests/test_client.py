"""The aXcelerate client: which answers are errors of which kind, what is retried, how long it waits."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from batchupdate.client import Api
from batchupdate.config import Connection
from batchupdate.errors import (
    AmbiguousWriteError,
    RejectedError,
    RetriableApiError,
    RunAbortedError,
)
from batchupdate.pacing import Pacer, RetryPolicy
from tests.fakes import FakeClock, endpoint, error_response, form_of, json_response, make_api

ENROLMENTS = "/course/enrolments"
UPDATE = "/course/enrolment"
UPDATE_FORM = {"contactID": 700001, "instanceID": 41001, "programInstanceID": 31001, "type": "s", "competent": 20}
SUCCESS = {"STATUS": "success", "MSG": "Enrolment was updated successfully."}
VALIDATION_412 = {
    "error": True,
    "code": "412",
    "messages": "Validation Error.",
    "details": "surname is undefined in the request collection.",
}

Answer = httpx.Response | Exception


def scripted(*answers: Answer) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    """A handler giving these answers in turn (the last one forever after); it records every request."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def get(api: Api, params: dict[str, object] | None = None) -> Any:
    return asyncio.run(api.get(ENROLMENTS, params or {"instanceID": 31001}))


def put(api: Api) -> Any:
    return asyncio.run(api.put(UPDATE, UPDATE_FORM))


# --- status-code classification -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        (json_response([{"CONTACTID": 700001}]), [{"CONTACTID": 700001}]),
        (json_response(SUCCESS), SUCCESS),
        (httpx.Response(204), None),
        (httpx.Response(200, content=b""), None),
    ],
    ids=["200-list", "200-object", "204-nothing-found", "200-empty"],
)
def test_success_answers_give_the_decoded_body(answer: httpx.Response, value: object) -> None:
    handler, seen = scripted(answer)
    assert get(make_api(handler)) == value
    assert len(seen) == 1


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_abort_the_run_naming_the_token_variables(status: int, method: str) -> None:
    handler, seen = scripted(error_response(status, messages="Invalid API token."))
    api = make_api(handler)
    with pytest.raises(RunAbortedError, match="AXCELERATE_API_TOKEN and AXCELERATE_WS_TOKEN") as caught:
        get(api) if method == "GET" else put(api)
    assert caught.value.status == status
    assert len(seen) == 1  # a bad token will not get better by asking again


def test_a_redirect_aborts_the_run_and_points_at_the_url() -> None:
    handler, seen = scripted(httpx.Response(302, headers={"location": "https://tenant.app.axcelerate.com/login"}))
    with pytest.raises(RunAbortedError, match="AXCELERATE_URL"):
        get(make_api(handler))
    assert len(seen) == 1


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (412, VALIDATION_412),
        (412, {key.upper(): value for key, value in VALIDATION_412.items()}),
        (400, {"error": True, "code": "0", "messages": "Bad Request.", "details": "type is not valid."}),
        (404, {"ERROR": True, "CODE": "404", "MESSAGES": "Not Found.", "DETAILS": "the enrolment was not found."}),
        (405, {"error": True, "code": "405", "messages": "Method Not Allowed.", "details": ""}),
    ],
    ids=["412-lowercase", "412-uppercase", "400", "404-uppercase", "405"],
)
def test_refusals_are_rejected_once_with_the_error_details(status: int, body: dict[str, Any], method: str) -> None:
    handler, seen = scripted(json_response(body, status))
    api = make_api(handler)
    with pytest.raises(RejectedError) as caught:
        get(api) if method == "GET" else put(api)
    lowered = {key.lower(): value for key, value in body.items()}
    assert caught.value.status == status
    assert caught.value.details == lowered["details"]
    assert lowered["messages"] in str(caught.value)
    assert str(status) in str(caught.value)
    assert len(seen) == 1


def test_a_refusal_that_is_not_json_keeps_its_text_as_details() -> None:
    handler, _ = scripted(httpx.Response(400, text="Bad   request:\n  contactID missing"))
    with pytest.raises(RejectedError) as caught:
        get(make_api(handler))
    assert caught.value.details == "Bad request: contactID missing"


def test_overlong_details_are_cut_to_fit_a_results_cell() -> None:
    handler, _ = scripted(error_response(412, "x" * 5000, "Validation Error."))
    with pytest.raises(RejectedError) as caught:
        put(make_api(handler))
    assert 0 < len(caught.value.details) <= 300


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_429_is_retried_after_retry_after(method: str) -> None:
    clock = FakeClock()
    answer = json_response(SUCCESS)
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "2"}), answer)
    api = make_api(handler, clock)
    result = get(api) if method == "GET" else put(api)
    assert result == SUCCESS
    assert len(seen) == 2
    assert clock() == pytest.approx(clock.start + 2)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_on_a_get_are_retried(status: int) -> None:
    handler, seen = scripted(error_response(status), json_response([]))
    assert get(make_api(handler)) == []
    assert len(seen) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_on_a_put_are_ambiguous_and_not_resent(status: int) -> None:
    handler, seen = scripted(error_response(status), json_response(SUCCESS))
    with pytest.raises(AmbiguousWriteError) as caught:
        put(make_api(handler))
    assert caught.value.status == status
    assert len(seen) == 1  # the write may have happened: the caller re-reads before sending it again


def test_server_errors_that_never_end_give_up_after_the_policys_attempts() -> None:
    handler, seen = scripted(error_response(503))
    with pytest.raises(RetriableApiError) as caught:
        get(make_api(handler, policy=RetryPolicy(attempts=4)))
    assert caught.value.status == 503
    assert len(seen) == 4


def test_throttling_that_never_ends_gives_up_after_the_policys_throttles() -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "1"}))
    with pytest.raises(RetriableApiError) as caught:
        get(make_api(handler, policy=RetryPolicy(throttles=3)))
    assert caught.value.status == 429
    assert len(seen) == 4


def test_a_read_timeout_on_a_put_is_ambiguous_and_not_resent() -> None:
    handler, seen = scripted(httpx.ReadTimeout("timed out"), json_response(SUCCESS))
    with pytest.raises(AmbiguousWriteError):
        put(make_api(handler))
    assert len(seen) == 1


@pytest.mark.parametrize("error", [httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("dropped")])
def test_a_lost_answer_to_a_get_is_retried(error: Exception) -> None:
    handler, seen = scripted(error, json_response([]))
    assert get(make_api(handler)) == []
    assert len(seen) == 2


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route")])
def test_a_put_that_could_not_connect_is_retried_because_nothing_was_sent(error: Exception) -> None:
    handler, seen = scripted(error, json_response(SUCCESS))
    assert put(make_api(handler)) == SUCCESS
    assert len(seen) == 2


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_an_unreachable_api_aborts_the_run_mentioning_axcelerate_url(method: str) -> None:
    handler, seen = scripted(httpx.ConnectError("Name or service not known"))
    api = make_api(handler, policy=RetryPolicy(attempts=3))
    with pytest.raises(RunAbortedError, match="AXCELERATE_URL") as caught:
        get(api) if method == "GET" else put(api)
    assert "tenant.app.axcelerate.com" in str(caught.value)
    assert len(seen) == 3


def test_a_2xx_answer_that_is_not_json_on_a_get_is_retried() -> None:
    handler, seen = scripted(httpx.Response(200, text="<html>maintenance</html>"), json_response([]))
    assert get(make_api(handler)) == []
    assert len(seen) == 2


def test_a_2xx_answer_to_a_put_is_success_even_when_its_body_is_not_json() -> None:
    handler, seen = scripted(httpx.Response(200, text="OK"))
    put(make_api(handler))
    assert len(seen) == 1


# --- retry timing on the injected clock -------------------------------------------------------------------


@pytest.mark.parametrize("draw", [1.0, 0.5, 0.0])
def test_a_get_meeting_two_503s_sleeps_twice_within_full_jitter_bounds(draw: float) -> None:
    clock = FakeClock()
    handler, seen = scripted(error_response(503), error_response(503), json_response([]))
    api = make_api(handler, clock, draw=lambda: draw, policy=RetryPolicy(base_delay=0.5, max_delay=30))
    assert get(api) == []
    assert len(seen) == 3
    assert clock.sleeps == pytest.approx([0.5 * draw, 1.0 * draw])


def test_retry_sleeps_with_real_randomness_stay_within_bounds() -> None:
    clock = FakeClock()
    handler, _ = scripted(*[error_response(503)] * 5, json_response([]))
    api = make_api(handler, clock, draw=random.random, policy=RetryPolicy(attempts=6, base_delay=0.5, max_delay=3))
    get(api)
    assert len(clock.sleeps) == 5
    for attempt, slept in enumerate(clock.sleeps, start=1):
        assert 0 <= slept <= min(3, 0.5 * 2 ** (attempt - 1))


def test_retry_after_seconds_makes_the_next_request_wait_that_long() -> None:
    clock = FakeClock()
    sent_at: list[float] = []
    answers = iter([httpx.Response(429, headers={"Retry-After": "3"}), json_response([])])

    def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock())
        return next(answers)

    assert get(make_api(handler, clock)) == []
    assert sent_at[1] - sent_at[0] == pytest.approx(3.0)


def test_retry_after_holds_back_other_requests_too() -> None:
    clock = FakeClock()
    sent_at: dict[str, float] = {}
    throttled = iter([True])

    def handler(request: httpx.Request) -> httpx.Response:
        if next(throttled, False):
            return httpx.Response(429, headers={"Retry-After": "5"})
        sent_at[request.url.params["instanceID"]] = clock()
        return json_response([])

    api = make_api(handler, clock)
    get(api, {"instanceID": 1})
    get(api, {"instanceID": 2})
    assert sent_at["2"] >= clock.start + 5


def test_retry_after_as_an_http_date_waits_until_that_moment() -> None:
    clock = FakeClock()
    sent_at: list[float] = []
    moment = email.utils.formatdate(clock.wall() + 7, usegmt=True)
    answers = iter([httpx.Response(429, headers={"Retry-After": moment}), json_response([])])

    def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock())
        return next(answers)

    get(make_api(handler, clock))
    assert sent_at[1] - sent_at[0] == pytest.approx(7.0)


def test_retry_after_as_a_date_in_the_past_retries_at_once() -> None:
    clock = FakeClock()
    moment = email.utils.formatdate(clock.wall() - 60, usegmt=True)
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": moment}), json_response([]))
    get(make_api(handler, clock))
    assert len(seen) == 2
    assert clock() == clock.start


GARBLED = ["soon", "12 apples", "Mon, 99 Foo 2026 25:61:00 GMT", "", "inf", "nan", "-5"]


@pytest.mark.parametrize("retry_after", GARBLED)
def test_a_garbled_retry_after_falls_back_to_backoff(retry_after: str) -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": retry_after}), json_response([]))
    assert get(make_api(handler, clock, policy=RetryPolicy(base_delay=0.5))) == []
    assert len(seen) == 2
    assert clock.sleeps == [0.5]


def test_a_429_without_retry_after_falls_back_to_backoff() -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.Response(429), httpx.Response(429), json_response([]))
    get(make_api(handler, clock, policy=RetryPolicy(base_delay=0.5)))
    assert len(seen) == 3
    assert clock.sleeps == [0.5, 1.0]


def test_a_first_429_with_retry_after_pauses_an_adaptive_pacer_but_does_not_slow_it() -> None:
    clock = FakeClock()
    pacer = Pacer(adaptive=True, start=10, clock=clock, sleep=clock.sleep)
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "1"}), json_response([]))
    get(make_api(handler, clock, pacer=pacer))
    assert pacer.throttles == 1
    assert clock() == pytest.approx(clock.start + 1)  # exactly the pause asked for...
    assert pacer.rate >= 10  # ...and no punishment beyond it


def test_a_first_429_without_retry_after_slows_an_adaptive_pacer() -> None:
    clock = FakeClock()
    pacer = Pacer(adaptive=True, start=10, clock=clock, sleep=clock.sleep)
    handler, _ = scripted(httpx.Response(429), json_response([]))
    get(make_api(handler, clock, pacer=pacer))
    assert pacer.throttles == 1
    assert pacer.rate < 10


def test_429s_that_would_take_one_requests_waiting_past_the_policys_bound_give_up() -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "50"}))
    with pytest.raises(RetriableApiError, match="429") as caught:
        get(make_api(handler, clock, policy=RetryPolicy(throttle_wait=120)))
    assert len(seen) == 3  # waited 50 + 50; a third 50 would pass 120 s
    assert clock() == pytest.approx(clock.start + 100)
    assert caught.value.status == 429
    assert "3 times" in str(caught.value) and "100 s of waiting" in str(caught.value)


def test_429s_without_retry_after_cost_one_request_at_most_the_policys_bound() -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.Response(429))
    policy = RetryPolicy()
    with pytest.raises(RetriableApiError, match="429"):
        get(make_api(handler, clock, policy=policy))  # backoff at its upper bound every time
    assert len(seen) <= policy.throttles + 1
    assert clock() - clock.start <= policy.throttle_wait  # was: about 6 minutes
    assert sum(clock.sleeps) == pytest.approx(clock() - clock.start)


def test_a_wait_longer_than_ten_seconds_is_told_with_its_reason_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    handler, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "25"}),
        httpx.Response(429, headers={"Retry-After": "3"}),
        json_response([]),
    )
    api = make_api(handler, clock)
    told: list[tuple[float, str]] = []
    api.on_long_wait = lambda seconds, reason: told.append((seconds, reason))
    with caplog.at_level("INFO", logger="batchupdate.client"):
        get(api)
    assert told == [(25.0, "aXcelerate asked to slow down (429)")]  # the 3 s pause is not worth a line
    assert "waiting 25 s: aXcelerate asked to slow down (429)" in [r.getMessage() for r in caplog.records]


def test_a_long_backoff_after_server_errors_is_told_too() -> None:
    clock = FakeClock()
    handler, _ = scripted(*[error_response(503)] * 5, json_response([]))
    api = make_api(handler, clock, policy=RetryPolicy(base_delay=1.0))
    told: list[tuple[float, str]] = []
    api.on_long_wait = lambda seconds, reason: told.append((seconds, reason))
    get(api)
    assert told == [(16.0, "aXcelerate had a server error (HTTP 503); trying again")]


# --- what goes over the wire ----------------------------------------------------------------------------


def test_requests_are_counted_by_method_and_path_including_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(SUCCESS if request.method == "PUT" else [])

    failing_once, _ = scripted(error_response(503), json_response([]))
    api = make_api(handler)

    async def go() -> None:
        await api.get(ENROLMENTS, {"instanceID": 1})
        await api.get(ENROLMENTS, {"instanceID": 2})
        await api.put(UPDATE, UPDATE_FORM)

    asyncio.run(go())
    assert dict(api.sent) == {"GET /course/enrolments": 2, "PUT /course/enrolment": 1}

    retried = make_api(failing_once)
    get(retried)
    assert dict(retried.sent) == {"GET /course/enrolments": 2}


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Requests sent through the real ``Connection.http_client``, its transport swapped for a MockTransport."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(SUCCESS if request.method == "PUT" else [])

    monkeypatch.setattr(
        httpx, "AsyncClient", functools.partial(httpx.AsyncClient, transport=httpx.MockTransport(handler))
    )
    return seen


def connected_api() -> Api:
    connection = Connection("https://tenant.app.axcelerate.com/api", api_token="API-123", ws_token="WS-456")
    clock = FakeClock()
    return Api(
        connection.http_client(concurrency=2, timeout=5.0),
        pacer=Pacer(adaptive=False, clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
    )


def test_every_request_carries_both_tokens_as_headers_never_as_parameters(wire: list[httpx.Request]) -> None:
    api = connected_api()

    async def go() -> None:
        await api.get(ENROLMENTS, {"instanceID": 31001, "type": "p"})
        await api.put(UPDATE, UPDATE_FORM)

    asyncio.run(go())
    assert len(wire) == 2
    for request in wire:
        assert request.headers["apitoken"] == "API-123"
        assert request.headers["wstoken"] == "WS-456"
        assert "API-123" not in str(request.url) and "WS-456" not in str(request.url)
        assert b"API-123" not in request.content and b"WS-456" not in request.content


def test_paths_are_sent_below_the_api_base_url(wire: list[httpx.Request]) -> None:
    asyncio.run(connected_api().get(ENROLMENTS, {"instanceID": 31001, "type": "p"}))
    [request] = wire
    assert str(request.url) == "https://tenant.app.axcelerate.com/api/course/enrolments?instanceID=31001&type=p"


def test_a_get_sends_its_parameters_in_the_query_string_and_no_body() -> None:
    handler, seen = scripted(json_response([]))
    get(make_api(handler), {"contactID": 700001, "instanceID": 31001, "type": "p"})
    [request] = seen
    assert endpoint(request) == ENROLMENTS
    assert dict(request.url.params) == {"contactID": "700001", "instanceID": "31001", "type": "p"}
    assert request.content == b""


def test_a_put_sends_form_fields_never_json(wire: list[httpx.Request]) -> None:
    asyncio.run(connected_api().put(UPDATE, {**UPDATE_FORM, "activityEndDate": "2026-11-28", "comments": None}))
    [request] = wire
    assert request.method == "PUT"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form_of(request) == {
        "contactID": "700001",
        "instanceID": "41001",
        "programInstanceID": "31001",
        "type": "s",
        "competent": "20",
        "activityEndDate": "2026-11-28",
        "comments": "",
    }
    with pytest.raises(json.JSONDecodeError):
        json.loads(request.content)
    assert request.url.params == httpx.QueryParams()


def test_no_request_is_sent_while_a_retry_after_is_running() -> None:
    clock = FakeClock()
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock())
        first = len(sent_at) == 1
        await asyncio.sleep(0.25)  # the answer takes a quarter of a second to come back
        return httpx.Response(429, headers={"Retry-After": "3"}) if first else json_response([])

    pacer = Pacer(ceiling=5, adaptive=False, clock=clock, sleep=clock.sleep)
    api = make_api(handler, clock, pacer=pacer, concurrency=8)

    async def go() -> None:
        await asyncio.gather(*(api.get(ENROLMENTS, {"instanceID": n}) for n in range(8)))

    clock.run(go())
    throttled_at = clock.start + 0.25
    assert [moment for moment in sent_at if throttled_at < moment < throttled_at + 3.0] == []
    assert len(sent_at) == 9


def test_a_fixed_rate_holds_over_any_second_even_when_slow_answers_fill_every_slot() -> None:
    clock = FakeClock()
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock())
        await asyncio.sleep(3.0 if len(sent_at) <= 2 else 0.01)  # the first two answers hold both slots 3 s
        return json_response([])

    pacer = Pacer(ceiling=5, adaptive=False, clock=clock, sleep=clock.sleep)
    api = make_api(handler, clock, pacer=pacer, concurrency=2)

    async def go() -> None:
        await asyncio.gather(*(api.get(ENROLMENTS, {"instanceID": n}) for n in range(30)))

    clock.run(go())
    assert len(sent_at) == 30
    # Requests that waited for a slot must not go out in a burst when the slots free up.
    assert max(sum(1 for other in sent_at if start <= other < start + 1.0 - 1e-9) for start in sent_at) <= 5
