"""The one pipeline both sheet kinds go through: read, validate, resolve, plan, apply, write results.

``execute`` is the library's front door; the CLI only builds a ``Job`` and maps the ``Report`` to an
exit code. Network access comes in as an ``Api``, so tests decide what is on the other end.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from batchupdate.client import Api, UnprovenWriteError, describe_error
from batchupdate.columns import HeaderMap, map_headers
from batchupdate.errors import (
    AmbiguousWriteError,
    InputError,
    RejectedError,
    RetriableApiError,
    RunAbortedError,
    StoppedError,
    describe_os_error,
)
from batchupdate.exits import Exit
from batchupdate.journal import DONE, Entry, Journal, Written, record_key, row_hash
from batchupdate.kinds import detect_kind, known_headers
from batchupdate.kinds.base import Change, Kind, Row, Unresolved
from batchupdate.locks import hold_lock, hold_sheet_lock
from batchupdate.pacing import DEFAULT_TIMEOUT
from batchupdate.progress import Progress
from batchupdate.results import (
    ResultsWriter,
    RowResult,
    as_results,
    check_results_path,
    counts,
    default_results_path,
    keep_previous,
    read_results,
)
from batchupdate.sheet import Sheet, cell_text, header_key, read_sheet
from batchupdate.status import PROBLEMS, Status
from batchupdate.validate import find_duplicates, validate

log = logging.getLogger(__name__)
CHECK, PLAN, RUN = "check", "plan", "run"


@dataclass(frozen=True)
class Job:
    """What the user asked for."""

    sheet: Path
    mode: str = RUN
    kind: str | None = None
    sheet_name: str | None = None
    results: Path | None = None
    only: frozenset[str] | None = None
    module_statuses: tuple[str, ...] | None = None
    max_changes: int | None = None  # write at most this many rows; the rest are skipped
    mapping: tuple[tuple[str, str], ...] = ()  # --map: (sheet header, column or "note")

    @property
    def results_path(self) -> Path:
        return self.results or default_results_path(self.sheet)


@dataclass(frozen=True)
class Planned:
    """A row that would change, as a person checks it: its line, the student, the record, the changes."""

    line: int
    student: str  # the student's name from the lookups, '' until known
    record: str  # the record in the users' words (contact, class and unit or module)
    changes: tuple[Change, ...]


NOT_CONFIRMED = "not attempted: not confirmed"
INTERRUPTED = "the run was interrupted"
NOT_ATTEMPTED = "not attempted: "  # how every row a stopped run did not reach begins its error
RESUME_HINT = "run the same command again to resume"


@dataclass
class Report:
    """What happened, for the summary and the exit code."""

    job: Job
    kind: str
    source: str
    results: list[RowResult] = field(default_factory=list, repr=False)
    results_path: Path | None = None
    kept_previous: Path | None = None
    requests: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    aborted: str | None = None
    resumed: int = 0  # rows an interrupted run had already decided
    columns: HeaderMap | None = None  # how the sheet's headers were read
    planned: list[Planned] = field(default_factory=list, repr=False)  # plan: would change; run: were to be written
    declined: bool = False  # run: the confirmation was answered no, so nothing was written
    nothing_chosen: str = ""  # --only picked no row of the results file: why, and what the file holds

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.results)

    @property
    def exit_code(self) -> int:
        if self.aborted:
            return Exit.STOPPED
        return Exit.PROBLEMS if any(r.status in PROBLEMS for r in self.results) else Exit.OK


class Loaded(NamedTuple):
    """A sheet read for a job: as read, its kind, the rows to go on with, and how its headers were read."""

    sheet: Sheet
    kind: Kind[Any]
    rows: Sheet
    columns: HeaderMap


def read_job(job: Job) -> Loaded:
    """Read the sheet, pick its kind and map its headers: the one place check, plan, run, nightly and web do it.

    For a results file, the rows --only asks for, under the input sheet's own headers (so it maps the same way).
    """
    headers = {*known_headers(), *(header for header, _ in job.mapping)}
    sheet = read_sheet(job.sheet, known_headers=headers, sheet_name=job.sheet_name)
    rows = select_rows(sheet, job.only)
    kind = detect_kind(rows, job.kind, job.mapping)
    return Loaded(sheet, kind, rows, map_headers(rows, kind, job.mapping))


def load(job: Job) -> tuple[Sheet, Kind[Any], Sheet]:
    """Read the sheet and pick its kind; for a results file, keep the rows --only asks for."""
    sheet, kind, rows, _ = read_job(job)
    return sheet, kind, rows


def select_rows(sheet: Sheet, only: frozenset[str] | None) -> Sheet:
    """A results file read as input: its own rows' line numbers, its result columns dropped."""
    results = as_results(sheet)
    if results is None:
        if only:
            raise InputError(
                f"--only needs a results file of an earlier run, and {sheet.path.name} has no status column"
            )
        return sheet
    return results.input_sheet(only)


async def execute(
    job: Job,
    api: Api | None,
    *,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] = dt.datetime.now,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Report:
    """Run a check, plan or run of one sheet and write its results file.

    Ctrl-C (the task cancelled) stops the run like a lost connection: the rows not reached are marked,
    the results file is written whole, the journal is kept, and the report says how to resume.
    """
    check_paths(job)
    if job.mode == CHECK:
        return await _execute(job, api, progress, now, clock, sleep)
    target = str(api.http.base_url) if api is not None else ""
    with hold_sheet_lock(job.sheet, target), hold_lock(job.results_path, "the results file"):
        return await _execute(job, api, progress, now, clock, sleep)


def check_paths(job: Job) -> None:
    """InputError when the results file could not be written where the job would write it (before connecting)."""
    if job.results is not None and _same_file(job.results, job.sheet):
        raise InputError(f"the results file would overwrite your sheet {job.sheet.name}; pick another --results path")
    if job.results is not None and job.results.is_dir():
        example = job.results / default_results_path(job.sheet).name
        raise InputError(f"--results {job.results} is a folder; give a file in it, e.g. {example}")
    if job.mode != CHECK or job.results is not None:
        check_results_path(job.results_path)


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.resolve() == other.resolve() or (one.exists() and one.samefile(other))
    except OSError:
        return False


async def _execute(
    job: Job,
    api: Api | None,
    progress: Progress | None,
    now: Callable[[], dt.datetime],
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> Report:
    started = clock()
    whole, kind, sheet, columns = read_job(job)
    report = Report(job=job, kind=kind.name, source=sheet.source, columns=columns)
    if job.only and not len(sheet):  # nothing to re-run: no lookup, no journal, no results file
        report.nothing_chosen = _nothing_chosen(whole, job.only)
        report.seconds = clock() - started
        return report
    progress = progress or Progress()
    if api is not None:
        api.on_long_wait = progress.waiting
    validation = validate(sheet, kind, columns)
    progress.columns(columns)
    progress.start(len(sheet))
    sends = job.mode != CHECK and bool(validation.rows)
    if sends and api is None:
        raise InputError("plan and run need a connection to aXcelerate")
    aborted: str | None = None
    try:
        if sends and api is not None:
            await kind.prepare(api, job.module_statuses)  # before any output: a misused option is exit 2
    except RunAbortedError as exc:
        aborted = str(exc)
    except asyncio.CancelledError:
        aborted = _interrupted()
    journal = Journal.open(job.results_path) if job.mode == RUN else None
    try:
        earlier = journal.entries() if journal else {}
        written = journal.records() if journal else {}
    except BaseException:
        if journal is not None:
            journal.finish(complete=False)
        raise
    record = Recorder(sheet, kind.name, None, journal, progress, api.policy.timeout if api else DEFAULT_TIMEOUT)
    settled, rows, in_flight = record.sort_out(validation.rows, earlier)
    writer: ResultsWriter | None = None
    try:
        if job.mode != CHECK or job.results is not None:  # check writes one only when asked
            if not _vouched_for(job.results_path, settled):
                # Its updated rows are not all this run's to write again: keep them, and their before-values.
                report.kept_previous = keep_previous(job.results_path, now())
            redact = api.redact if api is not None else str
            writer = ResultsWriter(job.results_path, sheet.headers, result_columns(kind, sheet), redact)
            report.results_path = job.results_path
    except BaseException:  # e.g. the results file open in Excel: nothing done, so a new journal goes again
        if journal is not None:
            journal.finish(complete=not earlier and not written)
        raise
    record.writer = writer
    for index, verdict in validation.verdicts.items():
        record(RowResult(index, sheet.lines[index], verdict.status, verdict.error))
    for result in settled:
        record(result)
    report.resumed = len(settled)
    if earlier or written:
        log.info("resuming: %d rows already decided, %d caught mid-write", len(settled), len(in_flight))
    written_out = False  # the results file written whole: only then may a finished run's journal go
    if job.mode == CHECK:  # check reports the rows that passed as "valid"
        for row in validation.rows:
            record(RowResult(row.index, row.line, Status.VALID))
    try:
        if sends and api is not None and aborted is None and rows:
            await _wait_for_writes_in_flight(written, progress, now, sleep)
            with Interrupts(progress) as interrupts:
                report.planned, report.declined = await _resolve_and_apply(
                    job, kind, rows, api, record, written, interrupts
                )
            if interrupts.stopping and any(row.index not in record.decided for row in rows):
                aborted = INTERRUPTED
    except RunAbortedError as exc:
        aborted = str(exc)
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels the run; end it cleanly instead
        aborted = _interrupted()
    except (OSError, sqlite3.Error) as exc:  # this machine, not aXcelerate: a full disk, a file taken away
        aborted = _machine_failure(exc)
    finally:
        try:
            if aborted is not None:
                report.aborted = aborted
                log.error("run stopped: %s", aborted)
                record.not_reached(rows, aborted)
            if api is not None:
                report.requests = dict(api.sent)
            if writer is not None:
                writer.finish()
            written_out = True
        except (OSError, sqlite3.Error) as exc:
            raise StoppedError(f"{_machine_failure(exc)}; the journal keeps what was done") from exc
        finally:
            if writer is not None:
                writer.close()
            if journal is not None:
                journal.finish(complete=written_out and aborted is None and len(record.decided) == len(sheet))
    report.results = [record.decided[index] for index in sorted(record.decided)]
    report.seconds = clock() - started
    return report


def _nothing_chosen(whole: Sheet, only: frozenset[str]) -> str:
    """Why --only picked no row: the statuses asked for, and those the results file holds."""
    results = as_results(whole)
    held = Counter(line.status for line in results.lines()) if results is not None else Counter()
    holds = ", ".join(f"{number} {status or '(blank)'}" for status, number in held.most_common()) or "no rows"
    asked = " or ".join(sorted(only))
    return f"no row of {whole.path.name} is {asked} (it holds {holds}), so there is nothing to re-run"


def _machine_failure(exc: OSError | sqlite3.Error) -> str:
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return f"the run's journal could not be written ({exc}); free some disk space, then run the same command again"


def _interrupted() -> str:
    """The cause of a run stopped by Ctrl-C; the task goes on (uncancelled) to write its results and close."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    return INTERRUPTED


def _vouched_for(results: Path, settled: Sequence[RowResult]) -> bool:
    """Whether every updated row of the results file already there is one this resume settles as updated.

    Only then may the file be written over: else (an earlier run's record, a sheet changed since the kill,
    a journal partly lost) its before-values might exist nowhere else.
    """
    if not results.exists():
        return True
    try:
        recorded = {line.line for line in read_results(results).lines() if line.status == Status.UPDATED}
    except InputError:
        return False
    return recorded <= {result.line for result in settled if result.status == Status.UPDATED}


async def _wait_for_writes_in_flight(
    written: Mapping[str, Written],
    progress: Progress,
    now: Callable[[], dt.datetime],
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    """Before re-reading records an interrupted run was writing, let its writes land or time out.

    A write sent just before the kill may still be on its way; re-read too soon, the record looks untouched,
    the write is sent again, and the late one lands after it: written twice, or an edited row overwritten.
    The wait is by the timeout each write was sent with (the killed run's --timeout), not this run's.
    """
    in_flight = [entry.settled_by for entry in written.values() if entry.state != DONE]
    if not in_flight:
        return
    wait = max(in_flight) - now().timestamp()
    if wait > 0:
        reason = (
            f"{len(in_flight)} write(s) of the interrupted run may still be on their way; "
            "waiting for them to land or time out before re-reading those records"
        )
        log.info("waiting %.1f s: %s", wait, reason)
        progress.waiting(wait, reason)
        await sleep(wait)


class Interrupts:
    """Ctrl-C while writes are on their way: start no more, let those sent be answered; a second Ctrl-C (or one
    before the writes) stops at once. Either way the run ends cleanly with the rows not reached marked.

    Only in the main thread (where Python delivers signals) and when no server has claimed Ctrl-C; elsewhere
    Ctrl-C cancels the run as asyncio does.
    """

    STOPPING = "stopping after the writes already on their way are answered; press Ctrl-C again to stop at once"

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.writing = False  # the writes have started
        self.stopping = False  # asked to stop once those on their way are answered
        self._previous: Any = None

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread() and sys.platform != "win32" and _ours_to_take():
            loop, task = asyncio.get_running_loop(), asyncio.current_task()

            def on_interrupt(signum: int, frame: object) -> None:
                if self.writing and not self.stopping:
                    self.stopping = True
                    loop.call_soon_threadsafe(self.progress.notice, self.STOPPING)
                elif task is not None:
                    loop.call_soon_threadsafe(task.cancel)

            self._previous = signal.signal(signal.SIGINT, on_interrupt)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _ours_to_take() -> bool:
    """Whether Ctrl-C is still Python's or asyncio.run's to handle (in a server, the server's is left alone)."""
    current = signal.getsignal(signal.SIGINT)
    if current is signal.default_int_handler:
        return True
    owner = getattr(current.func, "__self__", None) if isinstance(current, functools.partial) else None
    return isinstance(owner, asyncio.Runner)


class Recorder:
    """Every decided row goes through here: to the report, the results file, the journal and the progress bar."""

    def __init__(
        self,
        sheet: Sheet,
        kind: str,
        writer: ResultsWriter | None,
        journal: Journal | None,
        progress: Progress,
        timeout: float,  # how long each write waits for its answer: the journal keeps it for a resume
    ) -> None:
        self.sheet, self.kind, self.writer, self.journal, self.progress = sheet, kind, writer, journal, progress
        self.timeout = timeout
        self.decided: dict[int, RowResult] = {}
        self.records: dict[int, str] = {}  # row index -> the record a write was sent to
        self.in_flight: dict[int, RowResult] = {}  # rows whose write was sent and not yet answered

    def __call__(self, result: RowResult, *, durable: bool = True) -> None:
        self.decided[result.index] = result
        self.in_flight.pop(result.index, None)
        # The journal first: killed between the two, the resume settles the row and writes its line again,
        # so the results file is its own (the other way round, it would have to be kept aside).
        if self.journal is not None and durable:
            self.journal.done(result, row_hash(self._cells(result.index)), self.records.get(result.index))
        if self.writer is not None:
            self.writer.add(result, self._cells(result.index))
        log.info("%s row %d: %s %s", self.sheet.path.name, result.line, result.status, result.error)
        self.progress.advance(result)

    def writing(self, row: Row, result: RowResult, key: Sequence[object], sent_at: float) -> None:
        """Note, durably, that this row's write is about to be sent, to which record, and when."""
        record = record_key(self.kind, key)
        self.records[row.index] = record
        self.in_flight[row.index] = result
        if self.journal is not None:
            cells = row_hash(self._cells(row.index))
            self.journal.writing(row.line, cells, record, result.changes, dict(result.found), sent_at, self.timeout)

    def sort_out(
        self, rows: Sequence[Row], earlier: dict[int, Entry]
    ) -> tuple[list[RowResult], list[Row], dict[int, Entry]]:
        """Rows an interrupted run already decided (as they ended), the rest, and those caught mid-write."""
        settled: list[RowResult] = []
        remaining: list[Row] = []
        in_flight: dict[int, Entry] = {}
        for row in rows:
            entry = earlier.get(row.line)
            if entry is None or entry.input_hash != row_hash(self._cells(row.index)):
                remaining.append(row)  # new, or changed since: looked up again (its record may be in the journal)
            elif entry.state == DONE:
                settled.append(entry.result(row.index))
            else:
                remaining.append(row)
                in_flight[row.index] = entry
        return settled, remaining, in_flight

    def not_reached(self, rows: Sequence[Row], cause: str) -> None:
        """Mark the rows a stopped run did not decide; not durably, so the next run tries them."""
        for row in rows:
            if row.index in self.decided:
                continue
            if row.index in self.in_flight:  # its changes and before-values are kept, for the record
                error = f"{cause} while this row's write was on its way: {UNSETTLED}"
                self(self.in_flight[row.index].with_status(Status.FAILED, error), durable=False)
            else:
                why = cause if cause == INTERRUPTED else f"the run stopped ({cause})"
                self(RowResult(row.index, row.line, Status.SKIPPED, f"{NOT_ATTEMPTED}{why}"), durable=False)

    def _cells(self, index: int) -> list[str]:
        return [cell_text(cell) for cell in self.sheet.frame.iloc[index]]


async def _resolve_and_apply(
    job: Job,
    kind: Kind[Any],
    rows: Sequence[Row],
    api: Api,
    record: Recorder,
    written: Mapping[str, Written],
    interrupts: Interrupts,
) -> tuple[list[Planned], bool]:
    """Resolve, compare, and write what changes (after the confirmation, when one is asked for).

    A record the journal says this run wrote before (``written``) keeps its true before-values: a row that
    now holds is ``updated`` (the earlier write landed), not ``unchanged``; one that still differs is written
    with the before-values the record had before the first write, so undo restores those.
    Returns what would change (plan) or was to be written (run), and whether the run was declined.
    """
    targets = await kind.resolve(api, rows)
    planned: list[Planned] = []
    found_targets = {index: target for index, target in targets.items() if not isinstance(target, Unresolved)}
    resolved = [row for row in rows if row.index in found_targets]
    duplicates = find_duplicates(resolved, kind, lambda row: found_targets[row.index].key)
    pending: list[tuple[Row, Any, Mapping[str, str]]] = []
    for row in rows:
        target = targets[row.index]
        if isinstance(target, Unresolved):
            record(RowResult(row.index, row.line, Status.FAILED, target.reason))
            continue
        found: Mapping[str, str] = kind.result_values(target)
        earlier = written.get(record_key(kind.name, target.key))
        if earlier is not None:
            found = {**found, **earlier.found}
        if row.index in duplicates:
            verdict = duplicates[row.index]
            record(RowResult(row.index, row.line, verdict.status, verdict.error, found=found))
            continue
        changes = kind.compare(row, target)
        if not changes and earlier is not None:
            # The interrupted run wrote this record (its answer perhaps lost), and re-reading shows it holds.
            record(RowResult(row.index, row.line, Status.UPDATED, "", earlier.changes, found))
        elif not changes:
            record(RowResult(row.index, row.line, Status.UNCHANGED, found=found))
        elif conflict := kind.conflict(row, target):
            record(RowResult(row.index, row.line, Status.FAILED, conflict, changes, found))
        elif job.mode == PLAN:
            record(RowResult(row.index, row.line, Status.WOULD_UPDATE, changes=changes, found=found))
            planned.append(_planned(kind, row, changes, found))
        else:
            pending.append((row, target, found))
    if job.max_changes is not None and len(pending) > job.max_changes:
        for row, target, found in pending[job.max_changes :]:
            reason = f"not attempted: --max-changes {job.max_changes} reached ({len(pending)} rows would change)"
            record(RowResult(row.index, row.line, Status.SKIPPED, reason, kind.compare(row, target), found))
        pending = pending[: job.max_changes]
    if not pending:
        return planned, False
    planned = [_planned(kind, row, kind.compare(row, target), found) for row, target, found in pending]
    # The last moment before the first write: nothing has been sent but lookups, so a "no" changes nothing.
    if not record.progress.confirm(planned):
        log.info("run not confirmed: %d writes not sent", len(pending))
        for row, target, found in pending:
            changes = kind.compare(row, target)
            # Not durable: a later run of the same results file should try these rows, not repeat "skipped".
            record(RowResult(row.index, row.line, Status.SKIPPED, NOT_CONFIRMED, changes, found), durable=False)
        return planned, True
    interrupts.writing = True
    await _apply_all(kind, pending, api, record, lambda: interrupts.stopping)
    return planned, False


STUDENT_NAME = "student_name"


def result_columns(kind: Kind[Any], sheet: Sheet) -> tuple[str, ...]:
    """The columns a run adds after the common ones: the student's name, so staff can check each line (unless
    the sheet already has it, as an export does), then the kind's resolved ids and before-values."""
    named = any(header_key(header) == header_key(STUDENT_NAME) for header in sheet.headers)
    return kind.result_columns if named else (STUDENT_NAME, *kind.result_columns)


def _planned(kind: Kind[Any], row: Row, changes: Sequence[Change], found: Mapping[str, str]) -> Planned:
    return Planned(row.line, found.get("student_name", ""), kind.describe(row), tuple(changes))


async def _apply_all(
    kind: Kind[Any],
    pending: Sequence[tuple[Row, Any, Mapping[str, str]]],
    api: Api,
    record: Recorder,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    queue: asyncio.Queue[tuple[Row, Any, Mapping[str, str]]] = asyncio.Queue()
    for item in pending:
        queue.put_nowait(item)
    aborted: list[RunAbortedError] = []
    serial = asyncio.Lock()  # while the run learns what this tenant's answers to writes prove, one at a time
    breaker = Breaker()

    async def worker() -> None:
        while not aborted and not queue.empty() and not stopping():
            row, target, found = queue.get_nowait()
            try:
                async with serial if api.write_proof.learning else contextlib.nullcontext():
                    applied = await apply_row(kind, row, target, api, record.writing, found)
                record(applied.result)
                if cause := breaker.after(applied):
                    aborted.append(RunAbortedError(cause))
            except _StoppedAfter as stop:
                aborted.append(stop.cause)
                record(stop.result)
            except RunAbortedError as exc:
                aborted.append(exc)  # refused, so not applied: the run's end marks the row not attempted
                record.in_flight.pop(row.index, None)

    workers = max(1, min(len(pending), api.concurrency))
    await asyncio.gather(*(worker() for _ in range(workers)))
    if aborted:
        raise aborted[0]


SERVER_TROUBLE, THROTTLED = "server errors or no answer", "429 (too many requests) every time"


class Breaker:
    """Stops a run whose writes keep failing the same way (server errors or timeouts; 429s that never end),
    rather than send every remaining row into it. A success or a row's own refusal (412) resets the count."""

    TRIP_AFTER = 10  # writes to different records failing in a row

    def __init__(self) -> None:
        self.trouble: str | None = None
        self.in_a_row = 0

    def after(self, applied: Applied) -> str | None:
        """Count one finished write; the cause to stop the run with, once TRIP_AFTER failed the same way."""
        trouble = applied.trouble
        self.in_a_row = self.in_a_row + 1 if trouble is not None and trouble == self.trouble else int(bool(trouble))
        self.trouble = trouble
        if self.in_a_row < self.TRIP_AFTER:
            return None
        return f"{self.in_a_row} writes in a row failed with {trouble}, the last: {applied.cause}"


class _StoppedAfter(Exception):
    """The run must stop, but this row's write may have been applied: record it as such, not as skipped."""

    def __init__(self, result: RowResult, cause: RunAbortedError) -> None:
        super().__init__(str(cause))
        self.result, self.cause = result, cause


class Applied(NamedTuple):
    """How one row's write ended, and the server trouble that ended it (None: aXcelerate answered for the row)."""

    result: RowResult
    trouble: str | None = None
    cause: str = ""  # what the trouble was, in one line


async def apply_row(
    kind: Kind[Any],
    row: Row,
    target: Any,
    api: Api,
    before_write: Callable[[Row, RowResult, Sequence[object], float], None] = lambda *_: None,
    before: Mapping[str, str] | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> Applied:
    """Write one row; when aXcelerate's answer leaves its fate open, re-read before deciding.

    ``before``: the ids and before-values to record (default: as ``target`` holds them).
    """
    changes, found = kind.compare(row, target), before if before is not None else kind.result_values(target)

    def result(status: str, error: str = "") -> RowResult:
        return RowResult(row.index, row.line, status, error, changes, found)

    attempts, failure, maybe_written = api.policy.write_attempts, None, False
    try:
        for attempt in range(1, attempts + 1):
            try:
                before_write(row, result(Status.UPDATED), target.key, wall_clock())
                message = await kind.write(api, row, target)
                log.info("row %d: written (%s)", row.line, message)
                return Applied(result(Status.UPDATED))
            except AmbiguousWriteError as exc:
                failure, maybe_written = exc, True
            except RejectedError as exc:
                # A refusal does not prove nothing was written (aXcelerate has answered 400 to applied writes),
                # and a 2xx that does not say it was applied does not prove it was (UnprovenWriteError).
                maybe_written, unreadable = True, list[str]()
                settled = await _settle(kind, row, target, api, unreadable)
                if settled is True:
                    if isinstance(exc, UnprovenWriteError):
                        api.write_proof.confirmed(exc.reply)
                    return Applied(result(Status.UPDATED))
                if isinstance(exc, UnprovenWriteError) and settled is False:
                    reread = "re-reading shows aXcelerate does not hold the change; try the row again later"
                    return Applied(result(Status.FAILED, f"{describe_error(exc)}, and {reread}"))
                if isinstance(exc, UnprovenWriteError):
                    error = f"{describe_error(exc)}, and {unreadable[0]}: {UNSETTLED}"
                    return Applied(result(Status.FAILED, error))
                return Applied(result(Status.FAILED, describe_error(exc)))
            except RetriableApiError as exc:
                trouble = THROTTLED if exc.status == 429 else SERVER_TROUBLE
                error = f"{describe_error(exc)}; try the row again later"
                return Applied(result(Status.FAILED, error), trouble, str(exc))
            settled = await _settle(kind, row, target, api)
            if settled is True:
                log.info("row %d: %s, but re-reading shows the change was applied", row.line, failure)
                return Applied(result(Status.UPDATED))
            if settled is None:
                error = f"{describe_error(failure)}, and re-reading the record failed too: {UNSETTLED}"
                return Applied(result(Status.FAILED, error), SERVER_TROUBLE, str(failure))
            if attempt < attempts:
                await api.backoff(attempt, f"{failure}; trying the write of row {row.line} again")
    except RunAbortedError as exc:
        if not maybe_written:
            raise
        reason = describe_error(failure) if failure else "aXcelerate refused the write"
        raise _StoppedAfter(result(Status.FAILED, f"{reason}, then the run stopped ({exc}): {UNSETTLED}"), exc) from exc
    error = (
        f"{describe_error(failure) if failure else 'no answer'} on all {attempts} tries, and re-reading did not "
        "show the change applied; try the row again later"
    )
    return Applied(result(Status.FAILED, error), SERVER_TROUBLE, str(failure or "no answer"))


UNSETTLED = "whether the change was applied is unknown; run the row again to settle it"


async def _settle(kind: Kind[Any], row: Row, target: Any, api: Api, unreadable: list[str] | None = None) -> bool | None:
    """True when the record now holds what the row asks, False when not, None when it cannot be read (why: in
    ``unreadable``)."""
    try:
        current = await kind.reread(api, row, target)
    except (RejectedError, RetriableApiError, ValueError) as exc:
        log.warning("row %d: could not re-read the record: %s", row.line, exc)
        if unreadable is not None:
            unreadable.append(f"re-reading could not tell ({exc})")
        return None
    return current is not None and not kind.compare(row, current)
