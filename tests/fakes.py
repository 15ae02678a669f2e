"""Shared test helpers: a fake clock, an Api over httpx.MockTransport, a small fake aXcelerate, sample bodies,
sheets and results files; for the end-to-end tests, the CLI's environment and a web page served on loopback.

The fakes touch no network and never sleep for real: time only moves when a test (or a fake sleep) moves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import json
import os
import selectors
import socket
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from batchupdate.client import Api
from batchupdate.config import Connection
from batchupdate.kinds.base import Row
from batchupdate.kinds.units import UnitEnrolment, Units
from batchupdate.pacing import Pacer, RetryPolicy
from batchupdate.pipeline import Job, Report, execute
from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, RunningSandbox, Store
from batchupdate.sandbox import store as sandbox_store

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


def known(value: T | None) -> T:
    """A record the test expects to be there (the sandbox's answer for an id it holds)."""
    assert value is not None, "no such record"
    return value


# --- sheets and results files, as a user's spreadsheet shows them -----------------------------------------

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SCRIPT = "<script>alert('cell')</script>"  # a cell a page must show as text, never run


def read_results(path: Path) -> list[dict[str, str]]:
    """A results file (CSV or .xlsx) as a user's spreadsheet would show it, every cell as text."""
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        try:
            lines = [["" if cell is None else str(cell) for cell in row] for row in book.worksheets[0].values]
        finally:
            book.close()
        width = len(lines[0])  # a row's empty trailing cells are not stored
        return [dict(zip(lines[0], [*line, *[""] * (width - len(line))], strict=True)) for line in lines[1:]]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sample_with(path: Path, sample: str, more: Iterable[Sequence[object]]) -> Path:
    """A sheet of samples/``sample``'s rows and then ``more``, written to ``path``."""
    with (SAMPLES / sample).open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return write_csv(path, header, [*rows, *more])


def mixed_unit_sheet(path: Path) -> Path:
    """The sample unit sheet (23 updates, 5 unchanged) plus two invalid rows and two that cannot be found."""
    return sample_with(
        path,
        "unit-outcomes.csv",
        [
            ["700005", "31001", "BSBTWK401", "XYZ", "", "", SCRIPT],
            ["700006", "31001", "BSBPEF402", "C", "31/02/2026", "", "bad date"],
            ["700001", "31001", "ZZZ999", "C", "", "", "unknown unit"],
            ["999999", "31001", "BSBTWK401", "C", "", "", "no such student"],
        ],
    )


def mixed_module_sheet(path: Path) -> Path:
    """The sample module sheet (10 updates, 2 unchanged) plus an invalid access word and an unknown module."""
    return sample_with(
        path,
        "module-enrolments.csv",
        [
            ["700176", "32001", "Module 1 - Workplace Safety", "open", "", ""],
            ["700177", "32001", "Module 99 - Basket Weaving", "unlocked", "", ""],
        ],
    )


# --- records: as a sheet's row, as a kind holds them, as the sandbox's seed has them ----------------------


def unit_row(index: int = 0, /, **cells: object) -> Row:
    """A units-sheet row parsed the way the sheet's cells are: ``unit_row(contact_id='700001', outcome='C', ...)``."""
    values = {column.name: column.parse(cells.get(column.name)) for column in Units().columns}
    return Row(index=index, line=index + 2, values=values)


def held(**overrides: Any) -> UnitEnrolment:
    """A unit enrolment as the units kind holds it (BSBWHS411, outcome 20), with ``overrides``."""
    values: dict[str, Any] = {
        "contact_id": 700001,
        "class_id": 31001,
        "unit_id": 41001,
        "unit_code": "BSBWHS411",
        "unit_enrolment_id": 900001,
        "outcome": "20",
        "start_date": dt.date(2026, 2, 3),
        "end_date": dt.date(2026, 11, 28),
    }
    return UnitEnrolment(**{**values, **overrides})


def units_of(store: Store, class_id: int) -> list[sandbox_store.UnitEnrolment]:
    """The sandbox's unit enrolments in a class, in record order."""
    enrolments = store.program_enrolments(contact_id=None, class_id=class_id, program_id=None, offset=0, limit=1000)
    return store.unit_enrolments_of([enrolment.enrol_id for enrolment in enrolments])


def open_modules(sandbox: RunningSandbox) -> list[sandbox_store.ModuleEnrolment]:
    """Module enrolments the default report filter sees (Enrolled or In Progress), one per student."""
    seen: set[int] = set()
    chosen = []
    for module in sandbox.store.module_enrolments():
        if module.status_id in (1, 2) and module.contact_id not in seen:
            seen.add(module.contact_id)
            chosen.append(module)
    return chosen


# --- the whole flow over the fake aXcelerate ----------------------------------------------------------------


def class_31001() -> FakeAxcelerate:
    """Class 31001 with four students (700001-700004), each holding BSBWHS411 (outcome 70) and BSBCUS403."""
    units = []
    for contact in (700001, 700002, 700003, 700004):
        units.append(HeldUnit(contact, 31001, 41001, "BSBWHS411", "70", "2026-02-03", None, 880000 + contact % 100))
        units.append(HeldUnit(contact, 31001, 41002, "BSBCUS403", None, "2026-02-03"))
    return FakeAxcelerate(units)


def execute_with(job: Job, handler: Handler, *, concurrency: int = 4) -> Report:
    """``execute`` the job over ``handler`` on a fake clock, at a fixed 'now'."""
    clock = FakeClock()
    api = make_api(handler, clock, concurrency=concurrency)
    return asyncio.run(execute(job, api, now=lambda: dt.datetime(2026, 3, 1, 9, 30), clock=clock))


# --- the real CLI and the real web page -----------------------------------------------------------------------


def sandbox_env(url: str) -> dict[str, str]:
    """The environment that points batchupdate at the sandbox serving ``url``."""
    return {"AXCELERATE_URL": url, "AXCELERATE_API_TOKEN": SANDBOX_API_TOKEN, "AXCELERATE_WS_TOKEN": SANDBOX_WS_TOKEN}


def cli_env(url: str | None) -> dict[str, str]:
    """The environment of a `batchupdate` subprocess: this checkout importable, pointed at ``url`` (or nowhere)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AXCELERATE_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **(sandbox_env(url) if url else {})}


@dataclass(frozen=True)
class Ran:
    """What a user saw of one `batchupdate` command: its exit code and what it printed on each stream."""

    returncode: int
    stdout: str
    stderr: str


def invoke_cli(args: Sequence[str], folder: Path, url: str | None = None, env: Mapping[str, str] | None = None) -> Ran:
    """Run `batchupdate ARGS` in this process (click's CliRunner) in ``folder``, as a user's shell would.

    The environment is the test's without any AXCELERATE_ variable, plus ``url``'s and ``env``. An exception
    the CLI let through is shown on stderr as Python would show it (a traceback, exit 1), so a test that
    asserts "no traceback" sees it as a user would.
    """
    from click.testing import CliRunner

    from batchupdate.cli import main

    overrides: dict[str, str | None] = {key: None for key in os.environ if key.startswith("AXCELERATE_")}
    overrides.update(sandbox_env(url) if url else {})
    overrides.update(env or {})
    with contextlib.chdir(folder), ThreadPoolExecutor(max_workers=1) as own_thread:
        # Its own thread, as its own process would have: no event loop of the test's (Playwright's) around it.
        result = own_thread.submit(CliRunner().invoke, main, list(args), env=overrides).result()
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)


def connection_to(sandbox: RunningSandbox) -> Connection:
    return Connection(sandbox.url, SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, sandbox=True)


@contextlib.contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Serve the app with uvicorn on a free loopback port in a thread, as `batchupdate web` does; yield its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
