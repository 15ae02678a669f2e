"""The nightly job: apply every sheet dropped in an inbox folder, archive each with its results, report.

A scheduler people already have (cron, a systemd timer, Windows Task Scheduler) starts
``batchupdate nightly INBOX``; there is no daemon. Each sheet goes through the one pipeline ``run`` uses
(``session.run_job``); this module only decides which files are sheets, what becomes of each file, and
keeps the record of what was already applied. The night's outcome is a ``NightlyReport`` (``morning_report``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from batchupdate.config import Connection
from batchupdate.errors import InputError, LockedError
from batchupdate.journal import journal_path
from batchupdate.locks import hold_lock, lock_path
from batchupdate.logfile import protect, start_log, stop_log
from batchupdate.morning_report import (
    ABORTED,
    APPLIED,
    FORMATS,
    HAD_PROBLEMS,
    REJECTED,
    REPEAT,
    SHOWN_PROBLEMS,
    NightlyReport,
    ProblemRow,
    SheetOutcome,
    report_path_for,
    write_report,
)
from batchupdate.pipeline import RUN, Job
from batchupdate.redact import Redactor
from batchupdate.results import read_results
from batchupdate.session import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, pacer_for, run_job
from batchupdate.status import PROBLEMS

log = logging.getLogger(__name__)

SHEET_SUFFIXES = frozenset({".csv", ".xlsx"})
# Names another program is still writing (partial downloads, copies in progress, Office lock files).
PARTIAL_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart", ".swp")
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini"})
LEDGER_NAME = "processed-sheets.json"
IN_PROGRESS = "in-progress"  # archive/in-progress: results and journals of sheets not yet applied to the end
RESULTS_SUFFIX = ".results.csv"
WHY_SUFFIX = ".why.txt"
DEFAULT_SETTLE_SECONDS = 60.0


class InboxBusyError(InputError):
    """Another nightly run holds the inbox; this one did nothing."""


@dataclass(frozen=True)
class NightlySettings:
    """What the scheduler asked for; the folders default to subfolders of the inbox."""

    inbox: Path
    archive: Path | None = None
    rejected: Path | None = None
    reports: Path | None = None
    logs: Path | None = None
    report_format: str = "html"
    kind: str | None = None  # every sheet is this kind; else each is told by its headers
    rate: str = "auto"
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT  # seconds each request waits for its answer
    max_changes: int | None = None  # per sheet
    settle_seconds: float = DEFAULT_SETTLE_SECONDS

    @property
    def archive_folder(self) -> Path:
        return self.archive or self.inbox / "archive"

    @property
    def rejected_folder(self) -> Path:
        return self.rejected or self.inbox / "rejected"

    @property
    def reports_folder(self) -> Path:
        return self.reports or self.inbox / "reports"

    @property
    def logs_folder(self) -> Path:
        return self.logs or self.inbox / "logs"


def check_settings(settings: NightlySettings) -> None:
    """Raise InputError when the command itself is misused: no such inbox, a folder that is a file, a bad value."""
    inbox = settings.inbox
    if not inbox.exists():
        raise InputError(f"inbox {inbox}: no such folder; check the path, or create the folder sheets are dropped in")
    if not inbox.is_dir():
        raise InputError(f"inbox {inbox} is a file; give the folder that sheets are dropped in")
    folders = {
        "--archive": settings.archive_folder,
        "--rejected": settings.rejected_folder,
        "--reports": settings.reports_folder,
        "--logs": settings.logs_folder,
    }
    for option, folder in folders.items():
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{option} {folder} is a file; give a folder")
    if settings.report_format not in FORMATS:
        raise InputError(f"report format {settings.report_format!r}; use {' or '.join(FORMATS)}")
    if settings.settle_seconds < 0:
        raise InputError("--settle-seconds cannot be negative")
    pacer_for(settings.rate)


# --- Which files are sheets --------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxScan:
    """The inbox's files sorted by what tonight does with them."""

    sheets: tuple[Path, ...]  # oldest first
    arriving: tuple[str, ...]  # sheets changed within the settle time: perhaps still being written
    ignored: tuple[str, ...]  # neither .csv nor .xlsx


def is_hidden_or_partial(name: str) -> bool:
    """Hidden files, Office lock files (~$...), partial uploads and system files are never touched."""
    lowered = name.lower()
    return name.startswith((".", "~")) or lowered.endswith(PARTIAL_SUFFIXES) or lowered in SYSTEM_FILES


def scan_inbox(inbox: Path, settle_seconds: float, now: float) -> InboxScan:
    """The files directly in ``inbox``; ``now`` is a POSIX timestamp compared with each file's mtime."""
    sheets: list[tuple[float, str, Path]] = []
    arriving: list[str] = []
    ignored: list[str] = []
    for path in inbox.iterdir():
        try:
            if not path.is_file() or is_hidden_or_partial(path.name):
                continue
            modified = path.stat().st_mtime
        except OSError:  # gone or unreadable since the listing: the next run looks again
            continue
        if path.suffix.lower() not in SHEET_SUFFIXES:
            ignored.append(path.name)
        elif now - modified < settle_seconds:
            arriving.append(path.name)
        else:
            sheets.append((modified, path.name, path))
    sheets.sort()
    return InboxScan(tuple(path for _, _, path in sheets), tuple(sorted(arriving)), tuple(sorted(ignored)))


# --- What was already applied ------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """A sheet that was applied: its name then, where it was archived (relative to the archive), and when."""

    name: str
    archived: str
    processed: str


class Ledger:
    """The SHA-256 of every sheet applied, kept as JSON in the archive folder, so the same bytes apply once.

    Only sheets run to the end are recorded: a sheet whose run stopped is tried again the next night.
    """

    def __init__(self, path: Path, entries: dict[str, LedgerEntry]) -> None:
        self.path = path
        self._entries = entries

    @classmethod
    def open(cls, path: Path) -> Ledger:
        if not path.exists():
            return cls(path, {})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = {digest: LedgerEntry(**entry) for digest, entry in data["sheets"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                f"{path}, the record of sheets already applied, cannot be read ({exc}); restore it from a backup, "
                "or remove it to start afresh (a sheet dropped in again would then be applied again)"
            ) from exc
        return cls(path, entries)

    def find(self, digest: str) -> LedgerEntry | None:
        return self._entries.get(digest)

    def record(self, digest: str, entry: LedgerEntry) -> None:
        """Add a sheet and save at once, atomically, so a crash later in the night cannot forget it."""
        self._entries[digest] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"sheets": {key: asdict(value) for key, value in self._entries.items()}}
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)  # a full disk leaves no partial file behind
            raise


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes: the same sheet under another name is still the same sheet."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- One night ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Night:
    """What every sheet of one night shares."""

    settings: NightlySettings
    connection: Connection
    started: dt.datetime
    ledger: Ledger

    @property
    def day(self) -> Path:
        """archive/YYYY-MM-DD: the date the run started."""
        return self.settings.archive_folder / f"{self.started:%Y-%m-%d}"

    def redact(self, text: str) -> str:
        return Redactor(self.connection.secrets)(text)


def _silent(message: str) -> None:
    """Progress goes nowhere unless the caller asks for it."""


async def run_nightly(
    settings: NightlySettings,
    connection: Connection,
    *,
    now: Callable[[], dt.datetime] = dt.datetime.now,
    tell: Callable[[str], None] = _silent,
) -> NightlyReport:
    """Apply every settled sheet in the inbox, oldest first, file each away, and write the morning report.

    Raises InboxBusyError when another nightly run holds the inbox, InputError when misused; a sheet's own
    problems never raise: they are in the report.
    """
    check_settings(settings)
    started = now()
    with hold_inbox(settings.inbox), night_log(settings, started, connection) as log_path:
        scan = scan_inbox(settings.inbox, settings.settle_seconds, started.timestamp())
        night = _Night(settings, connection, started, Ledger.open(settings.archive_folder / LEDGER_NAME))
        log.info("nightly: %d sheets in %s for %s", len(scan.sheets), settings.inbox, connection.target)
        tell(f"Nightly run of {settings.inbox}: {len(scan.sheets)} sheet(s); target {connection.target}")
        outcomes: list[SheetOutcome] = []
        not_reached: tuple[str, ...] = ()
        in_use: list[str] = []
        for position, sheet in enumerate(scan.sheets):
            tell(f"  {sheet.name} ...")
            outcome = await process_sheet(night, sheet)
            if outcome is None:
                in_use.append(sheet.name)
                tell(f"  {sheet.name}: in use by another batchupdate run; left for the next night")
                continue
            outcomes.append(outcome)
            tell(f"  {sheet.name}: {describe(outcome)}")
            if outcome.status == ABORTED:
                # The tokens or the API are broken for every sheet: leave the rest for the next night.
                not_reached = tuple(path.name for path in scan.sheets[position + 1 :])
                break
        report_path = report_path_for(settings.reports_folder, started, settings.report_format)
        report = NightlyReport(
            inbox=settings.inbox,
            started=started,
            finished=now(),
            target=connection.target,
            sheets=tuple(outcomes),
            not_reached=not_reached,
            arriving=scan.arriving,
            in_use=tuple(in_use),
            ignored=scan.ignored,
            report_path=report_path,
            log_path=log_path,
        )
        write_report(report, report_path, settings.report_format)
        log.info("nightly summary: %s", json.dumps(report.summary()))
    return report


@contextlib.contextmanager
def hold_inbox(inbox: Path) -> Iterator[None]:
    """Hold the inbox for the whole night, or raise InboxBusyError naming the run that holds it."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(hold_lock(inbox, "the inbox"))
        except InputError as exc:
            raise InboxBusyError(f"another nightly run is using {inbox} ({_holder(inbox)}); nothing was done") from exc
        yield


def _holder(inbox: Path) -> str:
    try:
        return lock_path(inbox).read_text(encoding="utf-8").strip() or "another process"
    except OSError:
        return "another process"


@contextlib.contextmanager
def night_log(settings: NightlySettings, started: dt.datetime, connection: Connection) -> Iterator[Path]:
    """logs/<time>-nightly-<inbox>.log for the night, every line scrubbed of the tokens."""
    path, handler = start_log(settings.logs_folder, "nightly", settings.inbox.resolve(), started, connection.target)
    protect(handler, connection.secrets)
    try:
        yield path
    finally:
        stop_log(handler)


async def process_sheet(night: _Night, sheet: Path) -> SheetOutcome | None:
    """Apply one sheet like `run`, then archive it, reject it, or (aborted) leave it in the inbox.

    None: another run holds the sheet's lock; it stays in the inbox untouched.
    """
    digest = file_digest(sheet)
    earlier = night.ledger.find(digest)
    if earlier is not None:
        return archive_repeat(night, sheet, digest, earlier)
    # One results path (and so one journal) per sheet until it is applied: a sheet whose run stopped is
    # resumed the next night from where it stopped, with its true before-values, not started afresh.
    results = night.settings.archive_folder / IN_PROGRESS / f"{sheet.stem}{RESULTS_SUFFIX}"
    settings = night.settings
    job = Job(sheet, RUN, kind=settings.kind, results=results, max_changes=settings.max_changes)
    try:
        report = await run_job(
            job, night.connection, rate=settings.rate, concurrency=settings.concurrency, timeout=settings.timeout
        )
    except LockedError as exc:
        # Someone is running this very sheet by hand: nothing is wrong with it; leave it for the next night.
        log.warning("%s: %s", sheet.name, exc)
        return None
    except InputError as exc:
        # Reading and validation setup fail before anything is sent or any results file is opened.
        return reject(night, sheet, digest, night.redact(str(exc)))
    except Exception as exc:  # an unattended night must still end with its report; the log has the traceback
        log.exception("%s: unexpected error", sheet.name)
        reason = night.redact(f"unexpected error ({type(exc).__name__}: {exc}); see the log")
        return SheetOutcome(sheet.name, ABORTED, digest, location=sheet, results=_existing(results), note=reason)
    if report.aborted:
        kept = f"; partial results {results} and their journal {journal_path(results)} are kept for the next night"
        return SheetOutcome(
            sheet.name,
            ABORTED,
            digest,
            report.kind,
            report.counts,
            location=sheet,
            results=_existing(results),
            note=night.redact(report.aborted) + (kept if results.exists() else ""),
        )
    stem = free_stem(night.day, sheet.stem, (sheet.suffix, RESULTS_SUFFIX))
    archived, finished = night.day / f"{stem}{sheet.suffix}", night.day / f"{stem}{RESULTS_SUFFIX}"
    relative = archived.relative_to(night.settings.archive_folder).as_posix()
    night.ledger.record(digest, LedgerEntry(sheet.name, relative, f"{night.started:%Y-%m-%d %H:%M}"))
    move(sheet, archived)
    move(results, finished)
    if report.kept_previous is not None:  # an earlier night's record of writes: filed beside, never lost
        move(report.kept_previous, night.day / report.kept_previous.name)
    results = finished
    columns, problems, total = read_problems(results, night.redact)
    return SheetOutcome(
        sheet.name,
        APPLIED if report.exit_code == 0 else HAD_PROBLEMS,
        digest,
        report.kind,
        report.counts,
        location=archived,
        results=results,
        columns=columns,
        problems=problems,
        problem_total=total,
    )


def archive_repeat(night: _Night, sheet: Path, digest: str, earlier: LedgerEntry) -> SheetOutcome:
    """File a sheet whose bytes were applied before, unapplied, with a note saying which sheet it repeats."""
    note = (
        f"same content as {earlier.name}, applied {earlier.processed} (archive/{earlier.archived}); not applied again"
    )
    stem = free_stem(night.day, sheet.stem, (sheet.suffix, sheet.suffix + WHY_SUFFIX))
    target = night.day / f"{stem}{sheet.suffix}"
    move(sheet, target)
    write_note(target, note)
    return SheetOutcome(sheet.name, REPEAT, digest, location=target, note=note)


def reject(night: _Night, sheet: Path, digest: str, reason: str) -> SheetOutcome:
    """Move a file that cannot be read as a sheet to the rejected folder, with a note saying why."""
    folder = night.settings.rejected_folder
    stem = free_stem(folder, sheet.stem, (sheet.suffix, sheet.suffix + WHY_SUFFIX))
    target = folder / f"{stem}{sheet.suffix}"
    move(sheet, target)
    write_note(target, reason)
    return SheetOutcome(sheet.name, REJECTED, digest, location=target, note=reason)


def free_stem(folder: Path, stem: str, suffixes: Iterable[str]) -> str:
    """The first of stem, stem-2, stem-3 ... for which no stem+suffix exists in folder: nothing is overwritten."""
    endings = tuple(suffixes)
    candidate, number = stem, 2
    while any((folder / f"{candidate}{ending}").exists() for ending in endings):
        candidate, number = f"{stem}-{number}", number + 1
    return candidate


def move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, target)


def write_note(beside: Path, text: str) -> Path:
    """<name>.why.txt beside a filed-away file: one line saying why it was not applied."""
    note = beside.with_name(beside.name + WHY_SUFFIX)
    note.write_text(" ".join(text.split()) + "\n", encoding="utf-8")
    return note


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def read_problems(
    results: Path, redact: Callable[[str], str] = str
) -> tuple[tuple[str, ...], tuple[ProblemRow, ...], int]:
    """The sheet's headers, its first SHOWN_PROBLEMS invalid/failed/skipped rows, and how many there are in all."""
    recorded = read_results(results)
    problems: list[ProblemRow] = []
    total = 0
    for line in recorded.lines():
        if line.status not in PROBLEMS:
            continue
        total += 1
        if len(problems) < SHOWN_PROBLEMS:
            problems.append(ProblemRow(line.line, line.status, redact(line.error), line.inputs))
    return recorded.input_headers, tuple(problems), total


def describe(outcome: SheetOutcome) -> str:
    """One line for the progress output."""
    counts = ", ".join(f"{number} {status}" for status, number in outcome.counts.items())
    details = counts if outcome.status in (APPLIED, HAD_PROBLEMS) else outcome.note
    return f"{outcome.status} ({details})" if details else outcome.status
