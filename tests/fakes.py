"""Shared test helpers: a fake clock, an Api over httpx.MockTransport, a small fake aXcelerate, sample bodies.

Nothing here touches the network or sleeps for real: time only moves when a test (or a fake sleep) moves it.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import urllib.parse
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from batchupdate.client import Api
from batchupdate.pacing import Pacer, RetryPolicy

BASE_URL = "https://tenant.app.axcelerate.com/api/"
REFERENCE = Path(__file__).resolve().parent / "axcelerate-reference"  # copied from shared/, as fixtures
WALL_START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: whole seconds, so HTTP dates land exactly

# A MockTransport handler; an async one can take (virtual) time to answer, like a real server.
Handler = Callable[[httpx.Request], httpx.Response] | Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]
T = TypeVar("T")


class FakeClock:
    """Monotonic time that only moves when told; ``sleep`` advances it instead of waiting and remembers each wait.

    Under ``asyncio.run`` sleeps simply add up: exact for one coroutine at a time. ``clock.run(coroutine)``
    instead runs an event loop on this clock, so concurrent sleepers wake in deadline order, as in real time.
    """

    def __init__(self, start: float = 1000.0, wall_start: float = WALL_START) -> None:
        self.start = start
        self.now = start
        self.wall_start = wall_start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        """Seconds since the epoch, moving with the monotonic clock (for HTTP-date Retry-After)."""
        return self.wall_start + (self.now - self.start)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        loop = asyncio.get_running_loop()
        if isinstance(loop, VirtualTimeLoop) and loop.clock is self:
            await asyncio.sleep(seconds)  # the loop moves the clock when every coroutine is waiting
            return
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)  # still give other coroutines their turn, as a real sleep would

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on an event loop whose time is this clock (no real waiting)."""
        with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(self)) as runner:
            return runner.run(coroutine)


class _NeverWaitingSelector(selectors.BaseSelector):
    """A selector that, instead of blocking until the next timer is due, moves the fake clock there."""

    def __init__(self, clock: FakeClock) -> None:
        self._real = selectors.DefaultSelector()
        self._clock = clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("every coroutine is waiting and no timer is due: the test deadlocked")
        self._clock.now += timeout
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a FakeClock: ``asyncio.sleep`` and timeouts take no real time."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(selector=_NeverWaitingSelector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.now


def unpaced(clock: FakeClock) -> Pacer:
    """A pacer with no rate limit (only Retry-After pauses), on the fake clock."""
    return Pacer(adaptive=False, clock=clock, sleep=clock.sleep)


def make_api(
    handler: Handler,
    clock: FakeClock | None = None,
    *,
    pacer: Pacer | None = None,
    policy: RetryPolicy | None = None,
    draw: Callable[[], float] = lambda: 1.0,
    concurrency: int = 4,
    headers: Mapping[str, str] | None = None,
) -> Api:
    """An Api over ``httpx.MockTransport(handler)`` whose sleeps, pacing and wall clock all run on ``clock``.

    ``draw`` defaults to 1.0 so every backoff is its upper bound and retry timing is exact.
    """
    clock = clock or FakeClock()
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE_URL, headers=headers)
    return Api(
        http,
        pacer=pacer or unpaced(clock),
        policy=policy or RetryPolicy(),
        concurrency=concurrency,
        sleep=clock.sleep,
        draw=draw,
        wall_clock=clock.wall,
    )


# --- requests and answers -------------------------------------------------------------------------------


def endpoint(request: httpx.Request) -> str:
    """The request's path below the API base, e.g. '/course/enrolments'."""
    return request.url.path.removeprefix("/api")


def form_of(request: httpx.Request) -> dict[str, str]:
    """The form fields of a PUT/POST body (blank values kept: an empty accessOverride is a real field)."""
    pairs = urllib.parse.parse_qsl(request.content.decode("utf-8"), keep_blank_values=True)
    return dict(pairs)


def query_of(request: httpx.Request) -> dict[str, str]:
    """The query parameters with lower-case names (aXcelerate's parameter names are case-insensitive)."""
    return {key.lower(): value for key, value in request.url.params.items()}


def json_response(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=dict(headers or {}))


def error_response(status: int, details: str = "", messages: str = "Error.", *, upper: bool = False) -> httpx.Response:
    """aXcelerate's error body: lower-case keys as documented, or upper-case as captured from the real API."""
    body = {"error": True, "code": str(status), "messages": messages, "details": details, "data": ""}
    if upper:
        body = {key.upper(): value for key, value in body.items()}
    return json_response(body, status)


# --- the official reference samples ---------------------------------------------------------------------


def reference_samples(name: str) -> list[Any]:
    """The JSON sample bodies of one official reference page (``course-enrolments`` ...); skip if absent."""
    path = REFERENCE / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"the official aXcelerate reference page {path} is not present beside the project")
    page = json.loads(path.read_text(encoding="utf-8"))
    samples = page.get("RESPONSE", {}).get("SAMPLES", [])
    bodies = [sample["BODY"] for sample in samples if str(sample.get("FORMAT", "")).lower() == "json"]
    if not bodies:
        pytest.skip(f"{path.name} has no JSON sample body")
    return bodies


def reference_sample(name: str) -> Any:
    """The first JSON sample body of one official reference page."""
    return reference_samples(name)[0]


# --- a small in-memory aXcelerate for unit enrolments -----------------------------------------------------


@dataclass
class HeldUnit:
    """One unit enrolment as the fake aXcelerate holds it (dates as YYYY-MM-DD, outcome as text)."""

    contact_id: int
    class_id: int
    unit_id: int
    code: str
    outcome: str | None = None
    start: str | None = None
    end: str | None = None
    unit_enrolment_id: int = 0


@dataclass
class PutFault:
    """Answer a contact's next PUT with ``status`` (0: the answer is lost, a read timeout), applied or not."""

    contact_id: int
    status: int
    applied: bool
    details: str = ""
    times: int = 1


SHORT = {"20": "C", "30": "CNA", "40": "W", "51": "RPL-G", "60": "CT", "70": "CA", "85": "NYS"}


class FakeAxcelerate:
    """GET /course/enrolments in the documented shape and PUT /course/enrolment applying the change.

    ``refuse`` answers every request with that status (401 = bad tokens); ``faults`` script PUT failures.
    """

    def __init__(self, units: Iterable[HeldUnit]) -> None:
        self.units: dict[tuple[int, int, int], HeldUnit] = {}
        for number, unit in enumerate(units, start=1):
            if not unit.unit_enrolment_id:
                unit.unit_enrolment_id = 900000 + number
            self.units[(unit.contact_id, unit.class_id, unit.unit_id)] = unit
        self.requests: list[httpx.Request] = []
        self.puts: list[dict[str, str]] = []
        self.faults: list[PutFault] = []
        self.refuse: int | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.refuse is not None:
            return error_response(self.refuse, messages="Invalid token.")
        path = endpoint(request)
        if request.method == "GET" and path == "/course/enrolments":
            return self._enrolments(query_of(request))
        if request.method == "PUT" and path == "/course/enrolment":
            return self._update(form_of(request))
        return error_response(404, f"no such endpoint {request.method} {path}")

    def count(self, method: str) -> int:
        return sum(1 for request in self.requests if request.method == method)

    def _enrolments(self, query: Mapping[str, str]) -> httpx.Response:
        class_id = int(query["instanceid"])
        contact = int(query["contactid"]) if "contactid" in query else None
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        students = sorted({c for c, k, _ in self.units if k == class_id and contact in (None, c)})
        page = [self._enrolment(student, class_id) for student in students][offset : offset + limit]
        return json_response(page) if page else httpx.Response(204)

    def _enrolment(self, contact_id: int, class_id: int) -> dict[str, Any]:
        activities: list[dict[str, Any]] = [
            {
                "TYPE": "s",
                "ID": unit.unit_id,
                "CODE": unit.code,
                "NAME": f"Unit {unit.code}",
                "INSTANCEID": unit.unit_enrolment_id,
                "CONTACTID": contact_id,
                "STATUS": SHORT.get(unit.outcome or "", ""),
                "OUTCOMECODE": unit.outcome,
                "STARTDATE": f"{unit.start} 00:00" if unit.start else None,
                "FINISHDATE": f"{unit.end} 00:00" if unit.end else None,
                "ACTIVITIES": [],
            }
            for (contact, klass, _), unit in sorted(self.units.items())
            if (contact, klass) == (contact_id, class_id)
        ]
        return {
            "CONTACTID": contact_id,
            "INSTANCEID": class_id,
            "ID": 4369,
            "TYPE": "p",
            "CODE": "BSB40120",
            "ENROLMENTDATE": "2026-01-05 00:00",
            "STARTDATE": "2026-02-02 00:00",
            "FINISHDATE": None,
            "ACTIVITIES": activities,
        }

    def _update(self, form: Mapping[str, str]) -> httpx.Response:
        self.puts.append(dict(form))
        fields = {key.lower(): value for key, value in form.items()}
        key = (int(fields["contactid"]), int(fields["programinstanceid"]), int(fields["instanceid"]))
        fault = next((f for f in self.faults if f.contact_id == key[0] and f.times > 0), None)
        if fault is not None:
            fault.times -= 1
            if not fault.applied:
                return self._fail(fault)
        unit = self.units.get(key)
        if unit is None or fields.get("type") != "s":
            return error_response(412, "the enrolment could not be found.", "Validation Error.")
        if "competent" in fields:
            unit.outcome = fields["competent"]
        if "activitystartdate" in fields:
            unit.start = fields["activitystartdate"]
        if "activityenddate" in fields:
            unit.end = fields["activityenddate"]
        if fault is not None:
            return self._fail(fault)
        return json_response({"STATUS": "success", "MSG": "Enrolment was updated successfully."})

    @staticmethod
    def _fail(fault: PutFault) -> httpx.Response:
        if fault.status == 0:
            raise httpx.ReadTimeout("the answer never came")
        return error_response(fault.status, fault.details, "Validation Error." if fault.status == 412 else "Error.")


def write_xlsx_bomb(path: Path, expanded: int) -> None:
    """A valid workbook (header row, one data row) whose note cell is ``expanded`` bytes of one letter.

    One letter repeated deflates about 1,000 to 1: a 3 GB cell makes a file of about 3 MB.
    """
    import io
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["contact_id", "class_id", "unit_code", "outcome", "note"])
    sheet.append([700001, 31001, "BSBWHS411", "C", "PLACEHOLDER"])
    buffer = io.BytesIO()
    book.save(buffer)
    chunk = b"A" * (1 << 20)
    with (
        zipfile.ZipFile(buffer) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for item in source.infolist():
            data = source.read(item.filename)
            if b"PLACEHOLDER" not in data:
                target.writestr(item.filename, data)
                continue
            head, tail = data.split(b"PLACEHOLDER")
            with target.open(item.filename, "w", force_zip64=True) as stream:
                stream.write(head)
                for _ in range(expanded // len(chunk)):
                    stream.write(chunk)
                stream.write(tail)
