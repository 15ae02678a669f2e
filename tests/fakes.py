"""Shared test helpers: a fake clock, an Api over httpx.MockTransport or over the real sandbox app in this
process (``LocalSandbox``: faults are scripted through its hook, ``batchupdate.sandbox.faults``), sample bodies,
sheets, results files and records; for the end-to-end tests, the CLI (in this process or its own environment)
and a web page served on loopback.

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
import signal
import socket
import subprocess
import sys
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
from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, RunningSandbox, SandboxSettings, Store, create_app
from batchupdate.sandbox import store as sandbox_store
from batchupdate.sandbox.context import Sandbox
from batchupdate.sandbox.faults import AnswerDropped
from batchupdate.web import WebConfig
from batchupdate.web import create_app as create_web_app

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
    handler: Handler | httpx.AsyncBaseTransport,
    clock: FakeClock | None = None,
    *,
    pacer: Pacer | None = None,
    policy: RetryPolicy | None = None,
    draw: Callable[[], float] = lambda: 1.0,
    concurrency: int = 4,
    headers: Mapping[str, str] | None = None,
) -> Api:
    """An Api over ``httpx.MockTransport(handler)`` (or the transport given) whose sleeps, pacing and wall clock
    all run on ``clock``.

    ``draw`` defaults to 1.0 so every backoff is its upper bound and retry timing is exact.
    """
    clock = clock or FakeClock()
    transport = handler if isinstance(handler, httpx.AsyncBaseTransport) else httpx.MockTransport(handler)
    http = httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers)
    return Api(
        http,
        pacer=pacer or unpaced(clock),
        policy=policy or RetryPolicy(),
        concurrency=concurrency,
        sleep=clock.sleep,
        draw=draw,
        wall_clock=clock.wall,
    )


class _InProcess(httpx.ASGITransport):
    """The sandbox app called in this process; an answer it drops on purpose reaches the client as a lost
    connection, as it does from the served sandbox."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except AnswerDropped as exc:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body") from exc


class LocalSandbox:
    """The real sandbox app (fresh seed in ``db_path``) in this process: no server, no port, no thread, so an
    Api to it runs on a FakeClock. Its store, request counts and fault script are the served sandbox's."""

    def __init__(self, db_path: Path, **knobs: Any) -> None:
        self.app = create_app(SandboxSettings(db_path=db_path, **knobs))
        self.sandbox: Sandbox = self.app.state.sandbox
        self.store, self.stats, self.script = self.sandbox.store, self.sandbox.stats, self.sandbox.script

    def transport(self) -> httpx.AsyncBaseTransport:
        """The way to this sandbox, for a test to wrap (a network that goes down, say)."""
        return _InProcess(self.app)

    def api(
        self, clock: FakeClock | None = None, *, transport: httpx.AsyncBaseTransport | None = None, **options: Any
    ) -> Api:
        """An Api to this sandbox, with both tokens (see make_api for the options)."""
        tokens = {"apitoken": SANDBOX_API_TOKEN, "wstoken": SANDBOX_WS_TOKEN}
        return make_api(transport or self.transport(), clock, headers=tokens, **options)

    def close(self) -> None:
        self.store.close()


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


def execute_with(
    job: Job, local: LocalSandbox, *, concurrency: int = 4, transport: httpx.AsyncBaseTransport | None = None
) -> Report:
    """``execute`` the job against the sandbox app in this process, on a fake clock, at a fixed 'now'."""
    clock = FakeClock()
    api = local.api(clock, concurrency=concurrency, transport=transport)
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

    @property
    def output(self) -> str:
        """Everything it printed, stdout then stderr."""
        return self.stdout + self.stderr


def invoke_cli(
    args: Sequence[str],
    folder: Path,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    answer: str | None = None,
) -> Ran:
    """Run `batchupdate ARGS` in this process (click's CliRunner) in ``folder``, as a user's shell would
    (``answer`` is what the user types, if anything).

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
        result = own_thread.submit(CliRunner().invoke, main, list(args), input=answer, env=overrides).result()
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)


def connection_to(sandbox: RunningSandbox) -> Connection:
    return Connection(sandbox.url, SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, sandbox=True)


@contextlib.contextmanager
def serving(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """Serve the app with uvicorn on a loopback port (a free one by default) in a thread, as `batchupdate web`
    does; yield its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", port))
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

@contextlib.contextmanager
def web_process(sandbox_url: str, data_dir: Path, port: int, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """`batchupdate web` in a subprocess until it answers; killed at the end if still alive."""
    env = {key: value for key, value in cli_env(sandbox_url).items() if key != "BATCHUPDATE_WEB_PASSWORD"}
    process = subprocess.Popen(
        [sys.executable, "-m", "batchupdate", "web", "--port", str(port), "--data", str(data_dir), *extra],
        cwd=data_dir.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "batchupdate web did not start"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

def kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()  # SIGKILL: no clean-up of any kind
    process.wait(timeout=10)

def wait_until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)

def upload(client: httpx.Client, path: Path, kind: str = "") -> httpx.Response:
    with path.open("rb") as handle:
        return client.post("/uploads", files={"sheet": (path.name, handle, "text/csv")}, data={"kind": kind})

def wait_for(client: httpx.Client, job_url: str, timeout: float = 60.0) -> dict:
    """Poll the job's status as the page does until it is no longer running."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"{job_url}/status").json()
        if status["state"] != "running":
            return status
        assert time.monotonic() < deadline, f"still running after {timeout} s: {status}"
        time.sleep(0.05)


# --- runs killed part way, and the web page's forms ------------------------------------------------------

UNIT_COLUMNS = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date"]  # the template's
UNIT_PUT = ("PUT", "/course/enrolment")
# Slow enough to stop part way; a short --timeout so that a resume waits 5 s, not 30, for writes in flight.
KILLABLE_RUN = ["run", "--rate", "80", "--concurrency", "4", "--timeout", "5", "--no-progress"]


@contextlib.contextmanager
def app_client(sandbox: RunningSandbox, data_dir: Path, **settings: object) -> Iterator[httpx.Client]:
    """A browser-like client of a served page: follows redirects, sends its Origin on posts."""
    config = WebConfig(data_dir=data_dir, **{"rate": "200", **settings})  # type: ignore[arg-type]
    with serving(create_web_app(config, connection_to(sandbox))) as url, httpx.Client(
        base_url=url, headers={"origin": url}, follow_redirects=True, timeout=30
    ) as client:
        yield client

def press(client: httpx.Client, url: str) -> str:
    """POST a start button's form; the address of the job page it leads to."""
    response = client.post(url, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]

def rows_of(page: str, status: str) -> list[str]:
    return [chunk for chunk in page.split("<tr ")[1:] if f'data-status="{status}"' in chunk]

def rows_to_change(store: Store, count: int) -> list[tuple[sandbox_store.UnitEnrolment, list[str | int]]]:
    """(unit, sheet row) pairs that each change one unit enrolment's outcome and end date."""
    chosen: list[tuple[sandbox_store.UnitEnrolment, list[str | int]]] = []
    for class_id in (31001, 31002, 31003):
        enrolments = store.program_enrolments(contact_id=None, class_id=class_id, program_id=None, offset=0, limit=999)
        for unit in store.unit_enrolments_of([enrolment.enrol_id for enrolment in enrolments]):
            if unit.outcome_code != "70" and (unit.start_date or "") <= "2026-06-30":
                chosen.append((unit, [unit.contact_id, class_id, unit.unit_code, "CA", "", "30/06/2026"]))
    return chosen[:count]

def start_cli(sheet: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchupdate", KILLABLE_RUN[0], str(sheet), *KILLABLE_RUN[1:]],
        cwd=sheet.parent,
        env=cli_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

def kill_when(process: subprocess.Popen[str], reached: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    assert process.stderr is not None
    while not reached():
        assert process.poll() is None, "the run ended before the kill point: " + process.stderr.read()
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.002)
    process.kill()  # SIGKILL: no cleanup, no flush, no goodbye
    process.wait()


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
