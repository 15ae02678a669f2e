"""The aXcelerate sandbox: transport rules, reference shapes, writes, faults, persistence, and the samples."""

import asyncio
import csv
import json
import re
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from starlette.applications import Starlette

from batchupdate.sandbox import (
    SANDBOX_API_TOKEN,
    SANDBOX_WS_TOKEN,
    RequestStats,
    RunningSandbox,
    SandboxSettings,
    Store,
    create_app,
    create_bench_database,
    reset_database,
    start_sandbox,
)
from batchupdate.sandbox.faults import FaultInjector, RateLimiter

TOKENS = {"apitoken": SANDBOX_API_TOKEN, "wstoken": SANDBOX_WS_TOKEN}
REFERENCE_DIR = Path(__file__).resolve().parent / "axcelerate-reference"  # copied from shared/
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
API_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
REPORT_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})?")
ERROR_KEYS = {"error", "code", "messages", "details", "data"}

# Seed facts the tests lean on (see batchupdate/sandbox/seed.py).
BIG_CLASS = 31001  # 130 students
STUDENT = 700001  # in BIG_CLASS
UNIT_NOT_STARTED = 41006  # BSBPEF402: no outcome, no dates for STUDENT
UNIT_CONTINUING = 41005  # BSBTWK401: outcome 70, started 2026-02-23, no end date for STUDENT
UNIT_NOT_ENROLLED = 41001  # BSBCRT411: STUDENT does not have it
MODULE = {"contactId": "700175", "enrolId": "900001", "classId": "32001", "moduleEnrolmentId": "600002"}
# MODULE (600002, "Module 2 - Customer Service") is unlocked (accessOverride true), status 1, without dates.


def reference_body(page: str) -> Any:
    """The JSON sample body of one aXcelerate reference page."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"aXcelerate reference pages not found at {REFERENCE_DIR} (tests/axcelerate-reference)")
    document = json.loads((REFERENCE_DIR / f"{page}.json").read_text(encoding="utf-8"))
    return next(sample["BODY"] for sample in document["RESPONSE"]["SAMPLES"] if sample["FORMAT"] == "json")


class SandboxState(Protocol):
    """What tests read from a sandbox, served in-process or over HTTP."""

    @property
    def store(self) -> Store: ...

    @property
    def stats(self) -> RequestStats: ...


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded database per session; tests copy it instead of seeding again."""
    path = tmp_path_factory.mktemp("seed") / "seeded.sqlite3"
    reset_database(path)
    return path


@pytest.fixture
def db_path(seeded_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "sandbox.sqlite3"
    shutil.copyfile(seeded_db, path)
    return path


class InProcessTransport(httpx.BaseTransport):
    """Hands each request of a plain (sync) httpx client to the ASGI app: no server to start and stop."""

    def __init__(self, app: Starlette) -> None:
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            return httpx.Response(response.status_code, headers=response.headers, content=await response.aread())

        return asyncio.run(send())


@contextmanager
def in_process(db_path: Path, **settings: Any) -> Iterator[tuple[SandboxState, httpx.Client]]:
    """The sandbox app driven in-process, and a client that sends the tokens."""
    app = create_app(SandboxSettings(db_path=db_path, **settings))
    sandbox: SandboxState = app.state.sandbox
    try:
        with httpx.Client(transport=InProcessTransport(app), base_url="http://sandbox/api", headers=TOKENS) as client:
            yield sandbox, client
    finally:
        sandbox.store.close()


@contextmanager
def over_http(db_path: Path, **settings: Any) -> Iterator[tuple[RunningSandbox, httpx.Client]]:
    """The sandbox served by uvicorn on loopback, and an HTTP client that sends the tokens."""
    with (
        start_sandbox(SandboxSettings(db_path=db_path, **settings)) as sandbox,
        httpx.Client(base_url=sandbox.url, headers=TOKENS) as client,
    ):
        yield sandbox, client


@pytest.fixture(scope="module")
def http_sandbox(seeded_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """One sandbox served over HTTP for the tests that change nothing."""
    path = tmp_path_factory.mktemp("http") / "sandbox.sqlite3"
    shutil.copyfile(seeded_db, path)
    with start_sandbox(SandboxSettings(db_path=path)) as sandbox:
        yield sandbox


@pytest.fixture
def served(http_sandbox: RunningSandbox) -> RunningSandbox:
    http_sandbox.stats.reset()
    return http_sandbox


@pytest.fixture
def sandbox_and_client(db_path: Path) -> Iterator[tuple[SandboxState, httpx.Client]]:
    with in_process(db_path) as pair:
        yield pair


@pytest.fixture
def sandbox(sandbox_and_client: tuple[SandboxState, httpx.Client]) -> SandboxState:
    return sandbox_and_client[0]


@pytest.fixture
def client(sandbox_and_client: tuple[SandboxState, httpx.Client]) -> httpx.Client:
    return sandbox_and_client[1]


def unit_put(**fields: Any) -> dict[str, Any]:
    """Form fields of a unit PUT for STUDENT in BIG_CLASS, overridable."""
    return {"contactID": STUDENT, "instanceID": UNIT_NOT_STARTED, "programInstanceID": BIG_CLASS, "type": "s"} | fields


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] is True and body["code"] == str(status)
    return body


def activities_of(client: httpx.Client, contact_id: int, class_id: int) -> dict[int, dict[str, Any]]:
    """The unit activities of one student's enrolment, by unit ID."""
    response = client.get("/course/enrolments", params={"contactID": contact_id, "instanceID": class_id})
    assert response.status_code == 200, response.text
    [enrolment] = response.json()
    return {activity["ID"]: activity for activity in enrolment["ACTIVITIES"]}


def run_report(client: httpx.Client, filters: list[dict[str, str]], view_fields: str | None = None) -> httpx.Response:
    form = {"reportReference": "learningModuleEnrolments", "selectedFilterFields": json.dumps(filters)}
    if view_fields is not None:
        form["selectedViewFields"] = view_fields
    return client.post("/report/run", data=form)


# --- transport ---


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({}, {}),
        ({"apitoken": "wrong", "wstoken": SANDBOX_WS_TOKEN}, {}),
        ({"apitoken": SANDBOX_API_TOKEN, "wstoken": "wrong"}, {}),
        ({}, {"apitoken": SANDBOX_API_TOKEN, "wstoken": SANDBOX_WS_TOKEN}),
    ],
    ids=["no tokens", "wrong api token", "wrong ws token", "tokens as query params"],
)
def test_refuses_requests_without_both_token_headers(
    served: RunningSandbox, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = httpx.get(f"{served.url}/course/enrolments", headers=headers, params={"instanceID": 31002, **params})
    assert_error(response, 401)
    assert served.stats.count("GET", "/course/enrolments") == 0


def test_refuses_tokens_sent_as_form_fields(served: RunningSandbox) -> None:
    before = served.store.snapshot()
    response = httpx.put(f"{served.url}/course/enrolment", data=unit_put(competent=20) | TOKENS)
    assert_error(response, 401)
    assert served.store.snapshot() == before
    assert served.stats.log == []


def test_serves_over_loopback_http(served: RunningSandbox) -> None:
    assert served.url.startswith("http://127.0.0.1:") and served.url.endswith("/api")
    response = httpx.get(f"{served.url}/course/enrolments", headers=TOKENS, params={"instanceID": 31002})
    assert response.status_code == 200 and len(response.json()) == 18
    assert served.stats.count("GET", "/course/enrolments") == 1


def test_replies_are_not_held_back_by_nagles_algorithm(served: RunningSandbox) -> None:
    # With Nagle on, every reply after a connection's first waited for the client's delayed ACK (40 ms).
    with httpx.Client(base_url=served.url, headers=TOKENS) as client:
        assert client.get("/course/enrolments", params={"instanceID": 31002}).status_code == 200
        connections = served._server.server_state.connections  # the server's side of the kept-alive one
        sockets = [connection.transport.get_extra_info("socket") for connection in connections]
        assert sockets
        assert all(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for sock in sockets)


@pytest.mark.parametrize("spelling", ["contactID", "contactId", "CONTACTID", "contactid"])
def test_parameter_names_are_case_insensitive(client: httpx.Client, spelling: str) -> None:
    response = client.get("/course/enrolments", params={spelling: STUDENT, "INSTANCEid": BIG_CLASS})
    assert [enrolment["CONTACTID"] for enrolment in response.json()] == [STUDENT]


def test_put_takes_query_string_parameters(sandbox: SandboxState, client: httpx.Client) -> None:
    response = client.put("/course/enrolment", params=unit_put(competent=20))
    assert response.status_code == 200, response.text
    assert sandbox.store.unit_enrolment(STUDENT, BIG_CLASS, UNIT_NOT_STARTED)["outcome_code"] == "20"  # type: ignore[index]


def test_put_form_fields_win_over_query_string(sandbox: SandboxState, client: httpx.Client) -> None:
    response = client.put("/course/enrolment", params=unit_put(competent=20), data={"COMPETENT": "30"})
    assert response.status_code == 200, response.text
    assert sandbox.store.unit_enrolment(STUDENT, BIG_CLASS, UNIT_NOT_STARTED)["outcome_code"] == "30"  # type: ignore[index]


def test_put_ignores_a_json_body(sandbox: SandboxState, client: httpx.Client) -> None:
    before = sandbox.store.snapshot()
    body = assert_error(client.put("/course/enrolment", json=unit_put(competent=20)), 412)
    assert "contactID is undefined in the request collection." in body["details"]
    assert sandbox.store.snapshot() == before


@pytest.mark.parametrize(
    "params",
    [{"instanceID": 99999}, {"contactID": 123, "instanceID": BIG_CLASS}, {}, {"instanceID": BIG_CLASS, "type": "w"}],
    ids=["unknown class", "contact not in class", "no ids", "workshops"],
)
def test_nothing_matching_answers_204_with_an_empty_body(client: httpx.Client, params: dict[str, Any]) -> None:
    response = client.get("/course/enrolments", params=params)
    assert response.status_code == 204
    assert response.content == b""


def test_unknown_path_and_wrong_method_answer_with_the_error_body(client: httpx.Client) -> None:
    assert_error(client.get("/course/nothing"), 404)
    assert_error(client.get("/course/enrolment"), 405)


def test_pages_through_a_class_of_more_than_100_students(client: httpx.Client) -> None:
    first = client.get("/course/enrolments", params={"instanceID": BIG_CLASS, "limit": 500}).json()
    second = client.get("/course/enrolments", params={"instanceID": BIG_CLASS, "offset": 100, "limit": 100}).json()
    past_the_end = client.get("/course/enrolments", params={"instanceID": BIG_CLASS, "offset": 130})
    assert len(first) == 100  # limit is capped at max_page_size
    assert len(second) == 30
    assert past_the_end.status_code == 204
    assert len({enrolment["ENROLID"] for enrolment in first + second}) == 130
    again = client.get("/course/enrolments", params={"instanceID": BIG_CLASS}).json()
    assert [enrolment["ENROLID"] for enrolment in again] == [enrolment["ENROLID"] for enrolment in first]


def test_max_page_size_caps_the_limit(db_path: Path) -> None:
    with in_process(db_path, max_page_size=40) as (_, client):
        response = client.get("/course/enrolments", params={"instanceID": BIG_CLASS, "limit": 100})
        assert len(response.json()) == 40


def test_other_enrolment_types_are_refused(client: httpx.Client) -> None:
    assert_error(client.get("/course/enrolments", params={"instanceID": BIG_CLASS, "type": "el"}), 412)


# --- shapes against the reference samples ---


def json_kind(value: Any) -> str:
    """The JSON type of a value; int and float are both numbers."""
    for kind, types in (("bool", bool), ("number", (int, float)), ("string", str), ("array", list), ("object", dict)):
        if isinstance(value, types):
            return kind
    return "null"


def keys_and_kinds(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Every key seen in the objects, with the JSON kinds of its non-null values."""
    seen: dict[str, set[str]] = {}
    for one in objects:
        for key, value in one.items():
            seen.setdefault(key, set())
            if value is not None:
                seen[key].add(json_kind(value))
    return seen


def assert_same_shape(ours: list[dict[str, Any]], sample: list[dict[str, Any]]) -> None:
    """Our objects carry every key of the sample's, with values of the same JSON kind."""
    our_shape, sample_shape = keys_and_kinds(ours), keys_and_kinds(sample)
    assert set(sample_shape) <= set(our_shape), set(sample_shape) - set(our_shape)
    for key, kinds in sample_shape.items():
        assert our_shape[key] <= kinds or not our_shape[key] or not kinds, (key, our_shape[key], kinds)


def assert_enrolment_formats(enrolment: dict[str, Any]) -> None:
    for key in ("ENROLMENTDATE", "STARTDATE", "FINISHDATE"):
        assert enrolment[key] is None or API_DATETIME.fullmatch(enrolment[key]), (key, enrolment[key])
    assert enrolment["DELIVERY"] == {"CODE": 10, "DESCRIPTION": "Classroom-based"}


def test_enrolments_have_the_reference_shape(client: httpx.Client) -> None:
    sample = reference_body("course-enrolments")
    ours = client.get("/course/enrolments", params={"instanceID": BIG_CLASS}).json()
    units = [activity for enrolment in ours for activity in enrolment["ACTIVITIES"]]
    workshops = [nested for unit in units for nested in unit["ACTIVITIES"]]
    sample_units = [activity for enrolment in sample for activity in enrolment["ACTIVITIES"]]
    sample_workshops = [nested for unit in sample_units for nested in unit["ACTIVITIES"] if nested["TYPE"] == "w"]
    # SCHOOLTYPEID and SCHOOLORGID are always null here (no school-based students), so only their keys compare.
    assert_same_shape(ours, sample)
    assert_same_shape(units, sample_units)
    assert workshops, "the seed links workshops to some units, like the sample"
    assert_same_shape(workshops, sample_workshops)
    assert {enrolment["TYPE"] for enrolment in ours} == {"p"}
    assert {unit["TYPE"] for unit in units} == {"s"} and {workshop["TYPE"] for workshop in workshops} == {"w"}
    for one in ours + units + workshops:
        assert_enrolment_formats(one)
    for unit in units:
        assert unit["OUTCOMECODE"] is None or (isinstance(unit["OUTCOMECODE"], str) and unit["OUTCOMECODE"].isdigit())
        assert (unit["STATUS"] == "") == (unit["OUTCOMECODE"] is None)
    assert {unit["STATUS"] for unit in units} >= {"", "C", "CNA", "CA"}
    assert len({unit["INSTANCEID"] for unit in units}) == len(units), "each unit enrolment record has its own id"


def test_unit_id_is_the_same_for_a_code_in_every_class(client: httpx.Client) -> None:
    ids_by_code: dict[str, set[int]] = {}
    for class_id in (31001, 31004):
        for enrolment in client.get("/course/enrolments", params={"instanceID": class_id}).json():
            for unit in enrolment["ACTIVITIES"]:
                ids_by_code.setdefault(unit["CODE"], set()).add(unit["ID"])
    assert all(len(ids) == 1 for ids in ids_by_code.values()), ids_by_code


def test_unit_put_success_body_is_the_reference_body(client: httpx.Client) -> None:
    response = client.put("/course/enrolment", data=unit_put(competent=20))
    assert response.status_code == 200
    assert response.json() == reference_body("course-enrolment")


def test_report_fields_have_the_reference_shape(client: httpx.Client) -> None:
    sample = reference_body("report-fields")
    ours = client.get("/report/fields", params={"reportReference": "learningModuleEnrolments"}).json()
    assert set(ours) == set(sample)
    for group in ("VIEWFIELDS", "FILTERFIELDS"):
        assert all(set(field) == set(sample[group][0]) for field in ours[group])
    view = {field["NAME"]: field["DISPLAY"] for field in ours["VIEWFIELDS"]}
    assert view["contacts.fullname"] == "Full Name"
    assert view["learningmoduleenrolments.accessoverride"] == "Access Override"
    assert len(view) == 15
    filters = {field["NAME"] for field in ours["FILTERFIELDS"]}
    assert filters == {"learningmoduleenrolments.statusid", "contacts.contactid", "classes.classid"}


def test_report_field_has_the_reference_shape(client: httpx.Client) -> None:
    sample = reference_body("report-field")
    ours = client.get("/report/field", params={"fieldReference": "learningmoduleenrolments.statusid"}).json()
    assert set(ours) == set(sample)
    option_shape = keys_and_kinds(sample["VALUEOPTIONS"])
    assert keys_and_kinds(ours["VALUEOPTIONS"]) == option_shape
    assert keys_and_kinds(ours["OPERATOROPTIONS"]) == option_shape
    assert {option["VALUE"]: option["DISPLAY"] for option in ours["VALUEOPTIONS"]} == {
        "1": "Enrolled",
        "2": "In Progress",
        "3": "Completed",
        "4": "Cancelled",
    }
    assert {"IN", "text IN"} <= {option["VALUE"] for option in ours["OPERATOROPTIONS"]}


def test_report_run_has_the_reference_shape(client: httpx.Client) -> None:
    sample = reference_body("report-run")
    ours = run_report(client, [{"name": "classes.classid", "value": "32001", "operator": "IN"}]).json()
    assert set(ours) == set(sample)
    assert keys_and_kinds([ours]) == keys_and_kinds([sample]) | {"DATA": {"array"}}
    assert keys_and_kinds(ours["FILTERS"]) == keys_and_kinds(sample["FILTERS"])
    assert ours["COUNT"] == len(ours["DATA"]) > 0
    for row in ours["DATA"]:
        assert all(isinstance(value, str) for value in row.values()), row
        for display in ("Module Start Date", "Module End Date", "Enrolment Date", "Completion Date"):
            assert REPORT_DATE.fullmatch(row[display]), (display, row[display])


# --- unit writes ---


@pytest.mark.parametrize(("competent", "status"), [(20, "C"), (30, "CNA"), (51, "RPL-G"), (70, "CA"), (0, "N.R.")])
def test_unit_put_sets_outcome_status_and_dates(
    sandbox: SandboxState, client: httpx.Client, competent: int, status: str
) -> None:
    form = unit_put(competent=competent, activityStartDate="2026-03-02", activityEndDate="2026-04-10")
    assert client.put("/course/enrolment", data=form).status_code == 200
    activity = activities_of(client, STUDENT, BIG_CLASS)[UNIT_NOT_STARTED]
    assert (activity["OUTCOMECODE"], activity["STATUS"]) == (str(competent), status)
    assert (activity["STARTDATE"], activity["FINISHDATE"]) == ("2026-03-02 00:00", "2026-04-10 00:00")
    assert sandbox.stats.writes_applied == 1


def test_unit_put_leaves_omitted_fields_as_they_are(sandbox: SandboxState, client: httpx.Client) -> None:
    form = unit_put(instanceID=UNIT_CONTINUING, activityEndDate="2026-03-20")
    assert client.put("/course/enrolment", data=form).status_code == 200
    assert sandbox.store.unit_enrolment(STUDENT, BIG_CLASS, UNIT_CONTINUING) == {
        "outcome_code": "70",
        "start_date": "2026-02-23",
        "end_date": "2026-03-20",
    }


def test_unit_put_by_subject_code(sandbox: SandboxState, client: httpx.Client) -> None:
    form = {
        "contactID": STUDENT,
        "subjectCode": "BSBPEF402",
        "programInstanceID": BIG_CLASS,
        "type": "s",
        "competent": 20,
    }
    assert client.put("/course/enrolment", data=form).status_code == 200
    assert sandbox.store.unit_enrolment(STUDENT, BIG_CLASS, UNIT_NOT_STARTED)["outcome_code"] == "20"  # type: ignore[index]


def test_a_write_that_changes_nothing_is_not_counted(sandbox: SandboxState, client: httpx.Client) -> None:
    assert client.put("/course/enrolment", data=unit_put(instanceID=UNIT_CONTINUING, competent=70)).status_code == 200
    assert sandbox.stats.writes_applied == 0


@pytest.mark.parametrize(
    ("form", "hint"),
    [
        (unit_put(competent=99), "competent 99"),
        (unit_put(competent="C"), "numeric"),
        (unit_put(activityStartDate="2026-05-01", activityEndDate="2026-04-01"), "before"),
        (unit_put(instanceID=UNIT_CONTINUING, activityEndDate="2026-02-01"), "before activityStartDate 2026-02-23"),
        (unit_put(activityEndDate="31/03/2026"), "YYYY-MM-DD"),
        (unit_put(activityEndDate="2026-02-30"), "not a valid date"),
        (unit_put(instanceID=UNIT_NOT_ENROLLED, competent=20), "no unit enrolment"),
        (unit_put(programInstanceID=31002, competent=20), "not enrolled in class"),
        (unit_put(contactID="", competent=20), "contactID is undefined in the request collection."),
        (unit_put(type="p", competent=20), "only type s"),
    ],
    ids=[
        "unknown outcome code",
        "short code instead of number",
        "end before start",
        "end before stored start",
        "day-first date",
        "impossible date",
        "unit not enrolled",
        "contact not in class",
        "missing contactID",
        "type p",
    ],
)
def test_invalid_unit_writes_answer_412_and_change_nothing(
    sandbox: SandboxState, client: httpx.Client, form: dict[str, Any], hint: str
) -> None:
    before = sandbox.store.snapshot()
    body = assert_error(client.put("/course/enrolment", data=form), 412)
    assert body["messages"] == "Validation Error."
    assert hint in body["details"]
    assert sandbox.store.snapshot() == before


def test_missing_fields_are_all_named(client: httpx.Client) -> None:
    body = assert_error(client.put("/course/enrolment", data={"competent": 20}), 412)
    assert body["details"] == (
        "contactID is undefined in the request collection., instanceID is undefined in the request collection., "
        "type is undefined in the request collection., programInstanceID is undefined in the request collection."
    )


# --- rate limit and faults ---


def test_rate_limit_answers_429_with_retry_after_in_seconds(db_path: Path) -> None:
    with over_http(db_path, rate_limit=2) as (sandbox, client):
        responses = [
            client.get("/report/fields", params={"reportReference": "learningModuleEnrolments"}) for _ in range(6)
        ]
    throttled = [response for response in responses if response.status_code == 429]
    assert throttled, "six requests at once must exceed 2 per second"
    assert_error(throttled[0], 429)
    assert all(response.headers["Retry-After"] == "1" for response in throttled)
    assert sandbox.stats.throttled == len(throttled)
    assert sandbox.stats.count("GET", "/report/fields") == len(responses) - len(throttled)


def test_rate_limit_can_send_retry_after_as_an_http_date(db_path: Path) -> None:
    with over_http(db_path, rate_limit=1, retry_after_as_date=True) as (_, client):
        responses = [
            client.get("/report/fields", params={"reportReference": "learningModuleEnrolments"}) for _ in range(3)
        ]
    retry_at = parsedate_to_datetime(next(r for r in responses if r.status_code == 429).headers["Retry-After"])
    assert 0 < (retry_at - datetime.now(retry_at.tzinfo)).total_seconds() <= 2


def test_rate_limiter_uses_a_sliding_one_second_window() -> None:
    now = [100.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.admit() is None
    now[0] = 100.4
    assert limiter.admit() is None
    assert limiter.admit() == pytest.approx(0.6)
    now[0] = 101.0
    assert limiter.admit() is None  # the first slot freed at 101.0
    assert limiter.admit() == pytest.approx(0.4)


def test_fractional_rates_keep_their_meaning() -> None:
    now = [0.0]
    limiter = RateLimiter(0.5, clock=lambda: now[0])
    assert limiter.admit() is None
    assert limiter.admit() == pytest.approx(2.0)


def test_fail_before_write_answers_5xx_and_changes_nothing(db_path: Path) -> None:
    with in_process(db_path, fail_before_write=1.0) as (sandbox, client):
        before = sandbox.store.snapshot()
        response = client.put("/course/enrolment", data=unit_put(competent=20))
        assert response.status_code in (500, 503)
        assert_error(response, response.status_code)
        assert sandbox.store.snapshot() == before
        assert sandbox.stats.writes_applied == 0


def test_fail_after_write_answers_5xx_but_applies_the_change(db_path: Path) -> None:
    with over_http(db_path, fail_after_write=1.0) as (sandbox, client):
        response = client.put("/v2/learningPlan/modules/enrolments", data=MODULE | {"accessOverride": "false"})
        assert response.status_code in (500, 503)
        assert sandbox.store.module_enrolment(600002)["access_override"] is False  # type: ignore[index]
        assert sandbox.stats.writes_applied == 1


def test_fail_after_write_still_reports_validation_errors(db_path: Path) -> None:
    with in_process(db_path, fail_after_write=1.0) as (_, client):
        assert_error(client.put("/course/enrolment", data=unit_put(competent=99)), 412)


def test_fail_reads_answers_503_to_reads_only(db_path: Path) -> None:
    with in_process(db_path, fail_reads=1.0) as (_, client):
        assert_error(client.get("/course/enrolments", params={"instanceID": BIG_CLASS}), 503)
        assert_error(run_report(client, []), 503)
        assert client.put("/course/enrolment", data=unit_put(competent=20)).status_code == 200


def test_faults_repeat_for_the_same_seed() -> None:
    settings = SandboxSettings(fail_before_write=0.3, fail_after_write=0.3, slow_share=0.5, slow_seconds=2, seed=7)
    first, second = FaultInjector(settings), FaultInjector(settings)
    draws = [(first.draw(is_write=True), first.delay()) for _ in range(50)]
    assert draws == [(second.draw(is_write=True), second.delay()) for _ in range(50)]
    assert {fault.after_write for fault, _ in draws if fault} == {True, False}
    assert {delay for _, delay in draws} == {0.0, 2.0}


def test_latency_is_added_to_every_reply() -> None:
    assert FaultInjector(SandboxSettings(latency=0.25)).delay() == 0.25


# --- persistence ---


def test_state_persists_across_restarts_and_reset_restores_the_seed(db_path: Path) -> None:
    with over_http(db_path) as (sandbox, client):
        seeded = sandbox.store.snapshot()
        assert client.put("/course/enrolment", data=unit_put(competent=20)).status_code == 200
    with over_http(db_path) as (sandbox, _):
        assert sandbox.store.unit_enrolment(STUDENT, BIG_CLASS, UNIT_NOT_STARTED)["outcome_code"] == "20"  # type: ignore[index]
    reset_database(db_path)
    with over_http(db_path) as (sandbox, _):
        assert sandbox.store.snapshot() == seeded


def test_the_seed_is_the_same_every_time(tmp_path: Path) -> None:
    stores = [Store.open(tmp_path / name) for name in ("one.sqlite3", "two.sqlite3")]
    try:
        assert stores[0].snapshot() == stores[1].snapshot()
        modules = stores[0].module_enrolments()
        names = [(module.enrol_id, module.module_name.lower()) for module in modules]
        assert len(names) == len(set(names)), "module names are unique within an enrolment"
        assert {module.class_id for module in modules} == {32001, 32002, 32003}
    finally:
        for store in stores:
            store.close()


def test_the_bench_database_adds_full_classes_beside_the_demo_data(seeded_db: Path, tmp_path: Path) -> None:
    paths = [tmp_path / "one.sqlite3", tmp_path / "two.sqlite3"]
    for path in paths:
        create_bench_database(path, classes=2, students=3, units=2)
    with in_process(paths[0]) as (sandbox, client), in_process(seeded_db) as (demo, _):
        response = client.get("/course/enrolments", params={"instanceID": 35002, "type": "p"})
        assert response.status_code == 200, response.text
        enrolments = response.json()
        assert [enrolment["CONTACTID"] for enrolment in enrolments] == [1_000_004, 1_000_005, 1_000_006]
        for enrolment in enrolments:
            assert [activity["TYPE"] for activity in enrolment["ACTIVITIES"]] == ["s", "s"]
        bench, seeded = sandbox.store.snapshot(), demo.store.snapshot()
        assert {record: bench["units"][record] for record in seeded["units"]} == seeded["units"]
        assert len(bench["units"]) == len(seeded["units"]) + 2 * 3 * 2
    with in_process(paths[1]) as (again, _):
        assert again.store.snapshot() == bench


# --- learning-plan modules ---


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        ({"accessOverride": "true"}, True),
        ({"accessOverride": "false"}, False),
        ({"accessOverride": ""}, None),
        ({}, True),
    ],
    ids=["true unlocks", "false locks", "empty clears", "absent leaves as is"],
)
def test_module_put_access_override(
    sandbox: SandboxState, client: httpx.Client, access: dict[str, str], expected: bool | None
) -> None:
    response = client.put("/v2/learningPlan/modules/enrolments", data=MODULE | access | {"startDate": "2026-03-09"})
    assert response.status_code == 200, response.text
    state = sandbox.store.module_enrolment(600002)
    assert state is not None and state["access_override"] is expected and state["start_date"] == "2026-03-09"
    assert response.json() == {
        "MODULEENROLMENTID": 600002,
        "CONTACTID": 700175,
        "ENROLID": 900001,
        "CLASSID": 32001,
        "MODULENAME": "Module 2 - Customer Service",
        "ACCESSOVERRIDE": expected,
        "STARTDATE": "2026-03-09",
        "ENDDATE": None,
        "STATUSID": 1,
    }


def test_module_put_is_logged_with_its_parameters(sandbox: SandboxState, client: httpx.Client) -> None:
    client.put("/v2/learningPlan/modules/enrolments", data=MODULE | {"accessOverride": "", "useCache": "false"})
    [(method, path, params)] = sandbox.stats.log
    assert (method, path) == ("PUT", "/v2/learningPlan/modules/enrolments")
    assert params["usecache"] == "false" and params["accessoverride"] == ""
    assert sandbox.stats.count("PUT", "/v2/learningPlan/modules/enrolments") == 1
    sandbox.stats.reset()
    assert sandbox.stats.log == [] and sandbox.stats.count("PUT", "/v2/learningPlan/modules/enrolments") == 0


@pytest.mark.parametrize(
    ("form", "hint"),
    [
        (MODULE | {"startDate": "2026-05-01", "endDate": "2026-04-01"}, "before"),
        (MODULE | {"endDate": "1/4/2026"}, "YYYY-MM-DD"),
        (MODULE | {"accessOverride": "maybe"}, "accessOverride"),
        (MODULE | {"classId": "32002"}, "belongs to"),
        (MODULE | {"moduleEnrolmentId": "1"}, "does not exist"),
        ({key: value for key, value in MODULE.items() if key != "enrolId"}, "enrolId is undefined"),
    ],
    ids=["end before start", "bad date", "bad access", "wrong class", "unknown module", "missing enrolId"],
)
def test_invalid_module_writes_answer_412_and_change_nothing(
    sandbox: SandboxState, client: httpx.Client, form: dict[str, str], hint: str
) -> None:
    before = sandbox.store.snapshot()
    body = assert_error(client.put("/v2/learningPlan/modules/enrolments", data=form), 412)
    assert hint in body["details"]
    assert sandbox.store.snapshot() == before


def test_report_run_filters_with_in_lists(client: httpx.Client) -> None:
    filters = [
        {"name": "classes.classid", "value": "32001,32002", "operator": "IN"},
        {"name": "CONTACTS.CONTACTID", "value": "700175, 700187", "operator": "IN"},
        {"name": "learningmoduleenrolments.statusid", "value": "1,2", "operator": "text IN"},
    ]
    view = "contacts.contactid,Classes.ClassID,learningmoduleenrolments.status,learningmoduleenrolments.modulename"
    body = run_report(client, filters, view).json()
    assert body["SUCCESS"] is True and body["REPORTNAME"] == "Learning Module Enrolments"
    rows = body["DATA"]
    assert rows and all(set(row) == {"Contact ID", "Class ID", "Module Status", "Module Name"} for row in rows)
    assert {row["Contact ID"] for row in rows} == {"700175", "700187"}
    assert {row["Module Status"] for row in rows} <= {"Enrolled", "In Progress"}
    assert [f["NAME"] for f in body["FILTERS"]] == [
        "classes.classid",
        "contacts.contactid",
        "learningmoduleenrolments.statusid",
    ]


def test_report_shows_the_access_override_after_a_write(client: httpx.Client) -> None:
    view = "learningmoduleenrolments.moduleenrolmentid,learningmoduleenrolments.accessoverride"
    filters = [{"name": "contacts.contactid", "value": "700175", "operator": "IS"}]

    def access() -> dict[str, str]:
        rows = run_report(client, filters, view).json()["DATA"]
        return {row["Module Enrolment ID"]: row["Access Override"] for row in rows}

    assert access()["600002"] == "true" and access()["600004"] == ""
    client.put("/v2/learningPlan/modules/enrolments", data=MODULE | {"accessOverride": ""})
    assert access()["600002"] == ""


def test_report_run_default_fields_and_paging(client: httpx.Client) -> None:
    filters = [{"name": "classes.classid", "value": "32001", "operator": "IN"}]
    everything = run_report(client, filters).json()
    assert "Full Name" in everything["DATA"][0] and "Access Override" not in everything["DATA"][0]
    form = {
        "reportReference": "learningModuleEnrolments",
        "selectedFilterFields": json.dumps(filters),
        "displayLength": "10",
        "offsetRows": "5",
    }
    page = client.post("/report/run", data=form).json()
    assert page["DATA"] == everything["DATA"][5:15] and page["COUNT"] == everything["COUNT"]


@pytest.mark.parametrize(
    ("form", "hint"),
    [
        ({"selectedFilterFields": "[{name: 'classes.classid'"}, "not valid JSON"),
        ({"selectedFilterFields": '[{"name": "contacts.surname", "value": "x", "operator": "IS"}]'}, "not a filter"),
        ({"selectedFilterFields": '[{"name": "classes.classid", "value": "1", "operator": "LIKE"}]'}, "operator"),
        ({"selectedFilterFields": "[]", "selectedViewFields": "contacts.shoesize"}, "contacts.shoesize"),
        ({"selectedFilterFields": "[]", "reportReference": "contactsSimple"}, "contactsSimple"),
    ],
    ids=["bad json", "unknown filter", "unknown operator", "unknown view field", "unknown report"],
)
def test_report_run_refuses_what_it_cannot_run(client: httpx.Client, form: dict[str, str], hint: str) -> None:
    body = assert_error(client.post("/report/run", data={"reportReference": "learningModuleEnrolments"} | form), 412)
    assert hint in body["details"]


def test_report_field_and_fields_refuse_unknown_names(client: httpx.Client) -> None:
    assert_error(client.get("/report/fields", params={"reportReference": "nope"}), 412)
    assert_error(client.get("/report/field", params={"fieldReference": "contacts.shoesize"}), 412)


# --- the samples agree with the seed ---

SHORT_CODES = {"C": "20", "CNA": "30", "CA": "70", "RPL-G": "51", "CT": "60"}
UNIT_ROWS_ALREADY_SO = {3, 5, 9, 15, 20}  # data rows (1-based) of unit-outcomes.csv that need no change
MODULE_ROWS_ALREADY_SO = {6, 9}
ACCESS = {"unlocked": True, "locked": False, "clear": None}


def sample_rows(name: str) -> list[dict[str, str]]:
    with (SAMPLES_DIR / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sample_date(text: str) -> str | None:
    """A sample cell's date as YYYY-MM-DD (it may be written DD/MM/YYYY), None when blank."""
    text = text.strip()
    if not text:
        return None
    if "/" in text:
        day, month, year = (int(part) for part in text.split("/"))
        return date(year, month, day).isoformat()
    return date.fromisoformat(text).isoformat()


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "fresh.sqlite3")
    yield store
    store.close()


def test_unit_sample_resolves_against_the_fresh_seed(fresh_store: Store) -> None:
    rows = sample_rows("unit-outcomes.csv")
    assert list(rows[0]) == ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date", "trainer_note"]
    already_so = set()
    for number, row in enumerate(rows, start=1):
        contact_id, class_id = int(row["contact_id"]), int(row["class_id"])
        unit = fresh_store.find_unit_enrolment(contact_id, class_id, unit_code=row["unit_code"])
        assert unit is not None, f"row {number}: {row}"
        outcome = row["outcome"].strip().upper()
        wanted = {
            "outcome_code": SHORT_CODES.get(outcome, outcome) or unit.outcome_code,
            "start_date": sample_date(row["start_date"]) or unit.start_date,
            "end_date": sample_date(row["end_date"]) or unit.end_date,
        }
        if wanted["start_date"] and wanted["end_date"]:
            assert wanted["start_date"] <= wanted["end_date"], f"row {number}: end before start"
        if wanted == {"outcome_code": unit.outcome_code, "start_date": unit.start_date, "end_date": unit.end_date}:
            already_so.add(number)
    assert already_so == UNIT_ROWS_ALREADY_SO
    assert len({row["class_id"] for row in rows}) >= 3
    assert len({row["contact_id"] for row in rows if row["class_id"] == str(BIG_CLASS)}) >= 5


def test_module_sample_resolves_against_the_fresh_seed(fresh_store: Store) -> None:
    rows = sample_rows("module-enrolments.csv")
    assert list(rows[0]) == ["contact_id", "class_id", "module_name", "access", "start_date", "end_date"]
    modules = {
        (module.contact_id, module.class_id, module.module_name.lower()): module
        for module in fresh_store.module_enrolments()
    }
    already_so = set()
    for number, row in enumerate(rows, start=1):
        key = (int(row["contact_id"]), int(row["class_id"]), row["module_name"].strip().lower())
        module = modules.get(key)
        assert module is not None, f"row {number}: {row}"
        assert module.status_id in (1, 2), f"row {number}: the guide's report only lists Enrolled / In Progress"
        access = row["access"].strip().lower()
        wanted = (
            ACCESS[access] if access else module.access_override,
            sample_date(row["start_date"]) or module.start_date,
            sample_date(row["end_date"]) or module.end_date,
        )
        if wanted[1] and wanted[2]:
            assert wanted[1] <= wanted[2], f"row {number}: end before start"
        if wanted == (module.access_override, module.start_date, module.end_date):
            already_so.add(number)
    assert already_so == MODULE_ROWS_ALREADY_SO


def test_the_sandbox_command_plays_the_hostile_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`batchupdate sandbox --echo-headers --late-landing 2` serves with those faults; a negative hold is refused."""
    from click.testing import CliRunner

    import batchupdate.sandbox as sandbox_package
    from batchupdate.cli import main

    served: list[SandboxSettings] = []
    monkeypatch.setattr(sandbox_package, "serve", lambda settings, **_: served.append(settings))
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = str(probe.getsockname()[1])  # free once closed
    db = str(tmp_path / "s.sqlite3")
    result = CliRunner().invoke(main, ["sandbox", "--db", db, "--port", port, "--echo-headers", "--late-landing", "2"])
    assert result.exit_code == 0, result.output
    assert served[0].echo_headers and served[0].late_landing == 2
    result = CliRunner().invoke(main, ["sandbox", "--db", db, "--port", port, "--late-landing", "-1"])
    assert result.exit_code == 2 and "late_landing must not be negative" in result.output
    assert len(served) == 1
