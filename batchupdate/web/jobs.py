"""What the web page runs and remembers: uploads, plans and runs, kept in SQLite under the data folder.

Every upload and job is a row of ``web.sqlite3`` (its settings, state, counts, who started it), and every
row of a check, plan or results file is a row there too, so pages are read a page at a time and a
restarted server still lists every past job. A plan or run is an asyncio task on the server's event loop
calling the same ``run_job`` as the CLI. One that was running when the server stopped shows as
``interrupted``; resuming it runs the same job into the same results file, so the run journal beside it
settles what was done (nothing written twice; rows caught mid-write are re-read).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import sqlite3
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree

from batchupdate.columns import HeaderQuestions
from batchupdate.config import Connection
from batchupdate.errors import InputError
from batchupdate.pacing import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT
from batchupdate.pipeline import CHECK, PLAN, RUN, Job, read_job
from batchupdate.progress import Progress
from batchupdate.results import RowResult, read_results
from batchupdate.session import run_job
from batchupdate.sheet import cell_text, header_key, unreadable_workbook, worksheets
from batchupdate.status import PROBLEMS, Status
from batchupdate.validate import validate

log = logging.getLogger(__name__)

SHEET_SUFFIXES = (".csv", ".xlsx")
RUNNING, DONE, STOPPED, INTERRUPTED = "running", "done", "stopped", "interrupted"
PAGE_ROWS = 200
JOBS_PAGE = 50
MAX_ROWS = 100_000
_ID = re.compile(r"[0-9a-f]{16}")
_UNSAFE_NAME = re.compile(r"[^\w.() -]+")
MAX_NAME = 80
SAVE_EVERY = 2.0  # seconds between progress saves of a running job


def new_id() -> str:
    return secrets.token_hex(8)


def is_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None


def safe_name(filename: str) -> str:
    """The uploaded file's own name, letters of any language kept, path and control characters removed."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", filename))[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = _UNSAFE_NAME.sub("-", stem).strip(" .-")[:MAX_NAME] or "sheet"
    return f"{stem}.{suffix.lower()}"


@dataclass(frozen=True)
class Settings:
    """How to read an upload: what the page's forms offer in place of --kind, --sheet, --map, --module-status."""

    kind: str | None = None
    sheet_name: str | None = None
    mapping: tuple[tuple[str, str], ...] = ()
    module_statuses: tuple[str, ...] | None = None

    @classmethod
    def load(cls, data: dict[str, Any]) -> Settings:
        statuses = data.get("module_statuses")
        return cls(
            kind=data.get("kind"),
            sheet_name=data.get("sheet_name"),
            mapping=tuple((str(h), str(c)) for h, c in data.get("mapping", ())),
            module_statuses=tuple(statuses) if statuses else None,
        )

    def job(self, sheet: Path, mode: str, **more: Any) -> Job:
        return Job(
            sheet,
            mode,
            self.kind,
            sheet_name=self.sheet_name,
            mapping=self.mapping,
            module_statuses=self.module_statuses,
            **more,
        )


@dataclass(frozen=True)
class SheetRow:
    """One row as the page shows it: its line in the sheet, status, message, cells and changes."""

    line: int
    status: str
    error: str
    cells: tuple[str, ...]
    changes: str = ""
    student: str = ""


@dataclass(frozen=True)
class RowsPage:
    """One page of a table: its rows, how many match the filter, counts per status of the whole table."""

    headers: tuple[str, ...]
    rows: tuple[SheetRow, ...]
    matching: int
    counts: dict[str, int]
    page: int
    pages: int
    status: str | None


@dataclass
class Upload:
    """A sheet saved under the data folder, with how it was last checked (or why it cannot be used)."""

    id: str
    path: Path
    name: str
    digest: str
    size: int
    created: dt.datetime
    user: str = ""
    settings: Settings = field(default_factory=Settings)
    worksheets: tuple[str, ...] = ()
    fitting: tuple[str, ...] = ()  # the worksheets whose first rows hold a header row
    kind: str | None = None  # as checked
    source: str = ""
    columns: str = ""  # how the headers were read, in one line
    mapped: tuple[tuple[str, str], ...] = ()  # (column, header) read by alias or --map
    notes: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    problem: str | None = None
    questions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # header, the columns it may be

    @property
    def usable(self) -> bool:
        return self.problem is None and self.kind is not None


@dataclass
class WebJob:
    """A plan or run the page started; its state and counts are saved, its progress is live while it runs."""

    id: str
    upload_id: str
    mode: str
    label: str
    sheet: Path
    results_path: Path
    settings: Settings
    started: dt.datetime
    digest: str
    target: str = ""
    user: str = ""
    only: tuple[str, ...] = ()
    parent: str | None = None  # the run whose failed rows this plans or runs again
    plan: str | None = None  # the plan a run was applied from
    state: str = RUNNING
    total: int | None = None
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problem: str | None = None
    aborted: bool = False  # stopped by the server's answers (tokens, unreachable): problem says why
    finished: dt.datetime | None = None
    seconds: float = 0.0
    resumed: int = 0  # rows an interrupted run had already decided, settled by the journal
    resumes: int = 0
    headers: tuple[str, ...] = ()
    task: asyncio.Task[None] | None = field(default=None, repr=False, compare=False)

    @property
    def noun(self) -> str:
        """What it is, in a sentence: 'plan', 'run' or 're-run'."""
        return "plan" if self.mode == PLAN else "re-run" if self.parent else "run"

    @property
    def failed(self) -> int:
        return sum(self.counts.get(status, 0) for status in PROBLEMS)

    @property
    def attempted(self) -> int:
        """Rows decided, without those a stop left 'not attempted'."""
        if self.aborted or self.state == INTERRUPTED:
            return max(0, self.done - self.counts.get(Status.SKIPPED, 0))
        return self.done

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.state == DONE else 0
        return min(100, self.attempted * 100 // self.total)

    def job(self) -> Job:
        return self.settings.job(
            self.sheet, self.mode, results=self.results_path, only=frozenset(self.only) if self.only else None
        )

    def status(self, server: str) -> dict[str, object]:
        """What the page polls while the job runs; ``server`` changes when the server restarts."""
        return {
            "state": self.state,
            "mode": self.mode,
            "total": self.total,
            "done": self.attempted,
            "percent": self.percent,
            "counts": self.counts,
            "problem": self.problem,
            "server": server,
        }


def _dump(value: Any) -> str:
    def default(item: object) -> object:
        if isinstance(item, Path):
            return str(item)
        if isinstance(item, dt.datetime):
            return item.isoformat()
        raise TypeError(type(item).__name__)

    return json.dumps(value, default=default, ensure_ascii=False)


def _record(item: Upload | WebJob) -> dict[str, Any]:
    return {f.name: getattr(item, f.name) for f in fields(item) if f.name != "task"} | {
        "settings": asdict(item.settings)
    }


def _moment(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _load_upload(data: dict[str, Any]) -> Upload:
    data = {**data, "path": Path(data["path"]), "created": _moment(data["created"])}
    data["settings"] = Settings.load(data["settings"])
    for name in ("worksheets", "fitting", "notes", "headers"):
        data[name] = tuple(data.get(name, ()))
    data["mapped"] = tuple(tuple(pair) for pair in data.get("mapped", ()))
    data["questions"] = tuple((header, tuple(choices)) for header, choices in data.get("questions", ()))
    return Upload(**{f.name: data[f.name] for f in fields(Upload) if f.name in data})


def _load_job(data: dict[str, Any]) -> WebJob:
    data = {**data, "sheet": Path(data["sheet"]), "results_path": Path(data["results_path"])}
    data["started"], data["finished"] = _moment(data["started"]), _moment(data.get("finished"))
    data["settings"] = Settings.load(data["settings"])
    data["only"], data["headers"] = tuple(data.get("only", ())), tuple(data.get("headers", ()))
    return WebJob(**{f.name: data[f.name] for f in fields(WebJob) if f.name in data and f.name != "task"})


class Store:
    """The SQLite file: uploads, jobs, and every row of their tables."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(
                "CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, created TEXT NOT NULL, data TEXT NOT NULL);"
                "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, started TEXT NOT NULL, data TEXT NOT NULL);"
                "CREATE TABLE IF NOT EXISTS rows (owner TEXT NOT NULL, position INTEGER NOT NULL,"
                " line INTEGER NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL, changes TEXT NOT NULL,"
                " student TEXT NOT NULL, cells TEXT NOT NULL, PRIMARY KEY (owner, position));"
                "CREATE INDEX IF NOT EXISTS rows_by_status ON rows (owner, status, position);"
            )

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                yield db
        finally:
            db.close()

    def save_upload(self, upload: Upload) -> None:
        with self.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?)",
                (upload.id, upload.created.isoformat(), _dump(_record(upload))),
            )

    def save_job(self, job: WebJob) -> None:
        with self.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)", (job.id, job.started.isoformat(), _dump(_record(job)))
            )

    def uploads(self) -> list[Upload]:
        with self.connect() as db:
            return [_load_upload(json.loads(data)) for (data,) in db.execute("SELECT data FROM uploads")]

    def jobs(self) -> list[WebJob]:
        with self.connect() as db:
            return [_load_job(json.loads(data)) for (data,) in db.execute("SELECT data FROM jobs")]

    def put_rows(self, owner: str, rows: Iterator[SheetRow]) -> None:
        with self.connect() as db:
            db.execute("DELETE FROM rows WHERE owner = ?", (owner,))
            db.executemany(
                "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (owner, position, row.line, row.status, row.error, row.changes, row.student, _dump(row.cells))
                    for position, row in enumerate(rows)
                ),
            )

    def page(self, owner: str, headers: Sequence[str], status: str | None, page: int) -> RowsPage:
        """One page of PAGE_ROWS rows, only those of ``status`` if given."""
        with self.connect() as db:
            counts = dict(db.execute("SELECT status, COUNT(*) FROM rows WHERE owner = ? GROUP BY status", (owner,)))
            matching = counts.get(status, 0) if status else sum(counts.values())
            pages = max(1, -(-matching // PAGE_ROWS))
            page = min(max(1, page), pages)
            where, arguments = ("owner = ? AND status = ?", (owner, status)) if status else ("owner = ?", (owner,))
            found = db.execute(
                f"SELECT line, status, error, changes, student, cells FROM rows WHERE {where} "
                "ORDER BY position LIMIT ? OFFSET ?",
                (*arguments, PAGE_ROWS, (page - 1) * PAGE_ROWS),
            ).fetchall()
        rows = tuple(
            SheetRow(line, status_, error, tuple(json.loads(cells)), changes, student)
            for line, status_, error, changes, student, cells in found
        )
        return RowsPage(tuple(headers), rows, matching, counts, page, pages, status)

    def problems(self, owner: str, limit: int = 8) -> list[SheetRow]:
        with self.connect() as db:
            found = db.execute(
                "SELECT line, status, error FROM rows WHERE owner = ? AND error != '' ORDER BY position LIMIT ?",
                (owner, limit),
            ).fetchall()
        return [SheetRow(line, status, error, ()) for line, status, error in found]


def worksheet_rows(path: Path) -> dict[str, int]:
    """Each worksheet of an .xlsx file and its number of rows, counted in its XML without parsing the cells.

    Rows written empty (``<row .../>``) are not counted. InputError when the file is no workbook.
    """
    try:
        with zipfile.ZipFile(path) as book:
            workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
            relations = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
            targets = {rel.get("Id"): rel.get("Target", "") for rel in relations}
            found: dict[str, int] = {}
            for sheet in workbook.iter():
                if not sheet.tag.endswith("}sheet"):
                    continue
                rel = next((value for name, value in sheet.attrib.items() if name.endswith("}id")), None)
                target = targets.get(rel, "")
                member = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
                if member in book.namelist():
                    found[sheet.get("name", "")] = _count_rows(book, member)
            return found
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise unreadable_workbook(path) from exc


_ROW_TAG = re.compile(rb"<(?:\w+:)?row\b[^>]*?(/?)>")


def _count_rows(book: zipfile.ZipFile, member: str) -> int:
    rows, tail = 0, b""
    with book.open(member) as stream:
        while chunk := stream.read(1 << 20):
            text = tail + chunk
            cut = text.rfind(b"<")
            text, tail = (text[:cut], text[cut:]) if cut > len(text) - 4096 else (text, b"")
            rows += sum(1 for match in _ROW_TAG.finditer(text) if not match.group(1))
    return rows + sum(1 for match in _ROW_TAG.finditer(tail) if not match.group(1))


def biggest_worksheet(path: Path, worksheet: str | None) -> tuple[str, int]:
    """The rows of the sheet, counted cheaply: lines of a CSV; for an .xlsx, the named worksheet's rows, or
    (when none is named, and the reader will pick the one whose header row fits) its biggest worksheet's."""
    if path.suffix.lower() == ".xlsx":
        sheets = worksheet_rows(path)
        if worksheet in sheets:
            return worksheet, sheets[worksheet]
        return max(sheets.items(), key=lambda item: item[1], default=("", 0))
    with path.open("rb") as handle:
        return "", sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def check_sheet(store: Store, upload: Upload, max_rows: int) -> Upload:
    """Validate offline, as `batchupdate check` does; save every row's verdict and cells for the table."""
    settings = upload.settings
    checked = replace(
        upload, kind=None, source="", columns="", mapped=(), notes=(), headers=(), counts={}, problem=None,
        questions=(), worksheets=(), fitting=(),
    )
    try:
        name, rows = biggest_worksheet(upload.path, settings.sheet_name)
        if upload.path.suffix.lower() == ".xlsx":
            checked.worksheets = tuple(worksheet_rows(upload.path))
        if rows > max_rows + 1:  # the header row
            where = f"its worksheet {name!r}" if len(checked.worksheets) > 1 else upload.name
            raise InputError(
                f"{where} has {rows - 1:,} rows; the page takes at most {max_rows:,}. Split it into sheets of "
                f"at most {max_rows:,} rows and upload each"
            )
        if len(checked.worksheets) > 1:  # which of them holds a header row, for the picker
            checked.fitting = tuple(sheet.name for sheet in worksheets(upload.path) if sheet.fits)
        # What `batchupdate check` does (pipeline.execute in check mode), keeping the sheet to draw its cells:
        # read it as the pipeline does, then validate it; reading it a second time would double the wait.
        _, kind, sheet, columns = read_job(settings.job(upload.path, CHECK))
        validation = validate(sheet, kind, columns)
    except HeaderQuestions as exc:
        checked.problem = str(exc)
        checked.questions = tuple((question.header, question.choices) for question in exc.questions)
        store.put_rows(upload.id, iter(()))
        return checked
    except InputError as exc:
        checked.problem = str(exc)
        store.put_rows(upload.id, iter(()))
        return checked
    verdicts = validation.verdicts
    tally: Counter[str] = Counter()

    def table() -> Iterator[SheetRow]:
        for index, cells in enumerate(sheet.frame.itertuples(index=False, name=None)):
            verdict = verdicts.get(index)
            status, error = (verdict.status, verdict.error) if verdict else (Status.VALID, "")
            tally[status] += 1
            yield SheetRow(sheet.lines[index], status, error, tuple(cell_text(c) for c in cells))

    store.put_rows(upload.id, table())
    checked.kind, checked.source, checked.headers = kind.name, sheet.source, sheet.headers
    checked.counts = dict(tally)
    if columns is not None:
        checked.columns = columns.describe()
        checked.mapped = tuple(
            (column, columns.written.get(column, header))
            for column, header in columns.sources.items()
            if columns.how.get(column) != "name"
        )
        checked.notes = columns.notes
    return checked


def import_results(store: Store, job: WebJob) -> None:
    """Save a finished job's results file as its table, read through the one results reader."""
    results = read_results(job.results_path)
    student = header_key("student_name")
    job.headers = results.input_headers
    store.put_rows(
        job.id,
        (
            SheetRow(line.line, line.status, line.error, line.inputs, line.changes, line.found.get(student, ""))
            for line in results.lines()
        ),
    )


class _Tally(Progress):
    def __init__(self, registry: Registry, web_job: WebJob) -> None:
        self.registry, self.web_job = registry, web_job
        self.saved = time.monotonic()

    def start(self, total: int) -> None:
        self.web_job.total = total
        self.web_job.done, self.web_job.counts = 0, {}

    def advance(self, result: RowResult) -> None:
        self.web_job.done += 1
        self.web_job.counts[result.status] = self.web_job.counts.get(result.status, 0) + 1
        if time.monotonic() - self.saved > SAVE_EVERY:
            self.saved = time.monotonic()
            self.registry.store.save_job(self.web_job)


class Registry:
    """The uploads and jobs of this server: saved in the store, their files under the data folder."""

    def __init__(
        self,
        data_dir: Path,
        connection: Connection | None,
        *,
        rate: str = "auto",
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        max_rows: int = MAX_ROWS,
        now: type[dt.datetime] = dt.datetime,
    ) -> None:
        self.data_dir = data_dir
        self.connection = connection
        self.rate = rate
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_rows = max_rows
        self._now = now
        self.store = Store(data_dir / "web.sqlite3")
        self.server = new_id()  # the page notices a restart when this changes
        self.uploads = {upload.id: upload for upload in self.store.uploads()}
        self.jobs = {job.id: job for job in self.store.jobs()}
        self._reading = asyncio.Semaphore(1)  # one sheet read at a time: memory stays bounded by one sheet
        for job in self.jobs.values():
            if job.state == RUNNING:  # the server stopped (or died) while it ran
                job.state, job.problem = INTERRUPTED, "the server stopped before it finished"
                self.store.save_job(job)

    @property
    def target(self) -> str:
        return self.connection.target if self.connection is not None else "offline"

    async def add_upload(self, filename: str, content: bytes, settings: Settings, user: str = "") -> Upload:
        """Save the bytes under a new id and check them offline."""
        upload_id = new_id()
        name = safe_name(filename)
        folder = self.data_dir / "uploads" / upload_id
        folder.mkdir(parents=True)
        path = folder / name
        path.write_bytes(content)
        upload = Upload(
            id=upload_id,
            path=path,
            name=name,
            digest=hashlib.sha256(content).hexdigest(),
            size=len(content),
            created=self._now.now(),
            user=user,
            settings=settings,
        )
        return await self.recheck(upload, settings)

    async def recheck(self, upload: Upload, settings: Settings) -> Upload:
        """Check the upload again as these settings read it (another worksheet, kind or header mapping)."""
        async with self._reading:
            wanted = replace(upload, settings=settings)
            checked = await asyncio.to_thread(check_sheet, self.store, wanted, self.max_rows)
        self.uploads[checked.id] = checked
        self.store.save_upload(checked)
        return checked

    def upload(self, upload_id: str) -> Upload | None:
        return self.uploads.get(upload_id) if is_id(upload_id) else None

    def job(self, job_id: str) -> WebJob | None:
        return self.jobs.get(job_id) if is_id(job_id) else None

    def jobs_of(self, upload: Upload) -> list[WebJob]:
        return sorted((job for job in self.jobs.values() if job.upload_id == upload.id), key=lambda job: job.started)

    def children(self, job: WebJob) -> list[WebJob]:
        return sorted(
            (other for other in self.jobs.values() if job.id in (other.parent, other.plan)), key=lambda o: o.started
        )

    def recent(self, page: int = 1, size: int = JOBS_PAGE) -> tuple[list[WebJob], int]:
        """One page of every job this server has run, newest first, and the number of pages."""
        ordered = sorted(self.jobs.values(), key=lambda job: job.started, reverse=True)
        pages = max(1, -(-len(ordered) // size))
        page = min(max(1, page), pages)
        return ordered[(page - 1) * size : page * size], pages

    def busy(self, digest: str) -> WebJob | None:
        """A job still running on this sheet, or on another upload of the very same content."""
        return next((job for job in self.jobs.values() if job.state == RUNNING and job.digest == digest), None)

    def interrupted(self, digest: str) -> list[WebJob]:
        """Jobs of this content that a restart cut short and nobody has resumed."""
        return [job for job in self.jobs.values() if job.state == INTERRUPTED and job.digest == digest]

    def rows(self, owner: Upload | WebJob, status: str | None, page: int) -> RowsPage:
        return self.store.page(owner.id, owner.headers, status, page)

    def plan(self, upload: Upload, user: str) -> WebJob:
        return self._start(upload, PLAN, "Plan", upload.path, "plan.csv", user=user)

    def plan_rerun(self, earlier: WebJob, user: str) -> WebJob:
        """Plan again only the rows that failed, from the earlier run's results file."""
        upload = self.uploads[earlier.upload_id]
        return self._start(
            upload, PLAN, "Plan: re-run failed rows", earlier.results_path, "rerun.plan.csv",
            user=user, only=(Status.FAILED,), parent=earlier.id,
        )

    def apply(self, plan: WebJob, user: str) -> WebJob:
        """Apply a finished plan: the same sheet, rows and settings it was planned with."""
        upload = self.uploads[plan.upload_id]
        label = "Re-run failed rows" if plan.parent else "Apply"
        suffix = "rerun.results.csv" if plan.parent else "results.csv"
        return self._start(
            upload, RUN, label, plan.sheet, suffix,
            user=user, only=plan.only, parent=plan.parent, plan=plan.id, settings=plan.settings,
        )

    def resume(self, job: WebJob) -> WebJob:
        """Go on with an interrupted job: same sheet, same results file, so its journal settles what was done."""
        job.state, job.problem, job.aborted, job.finished, job.resumes = RUNNING, None, False, None, job.resumes + 1
        self._launch(job)
        return job

    def _start(
        self,
        upload: Upload,
        mode: str,
        label: str,
        sheet: Path,
        suffix: str,
        *,
        user: str,
        only: Sequence[str] = (),
        parent: str | None = None,
        plan: str | None = None,
        settings: Settings | None = None,
    ) -> WebJob:
        job_id = new_id()
        results = upload.path.parent / "jobs" / job_id / f"{upload.path.stem}.{suffix}"
        web_job = WebJob(
            id=job_id, upload_id=upload.id, mode=mode, label=label, sheet=sheet, results_path=results,
            settings=settings or upload.settings, started=self._now.now(), digest=upload.digest,
            target=self.target, user=user, only=tuple(only), parent=parent, plan=plan,
        )
        self.jobs[job_id] = web_job
        self._launch(web_job)
        return web_job

    def _launch(self, web_job: WebJob) -> None:
        self.store.save_job(web_job)
        web_job.task = asyncio.get_running_loop().create_task(self._run(web_job), name=f"web-{web_job.id}")

    async def _run(self, web_job: WebJob) -> None:
        try:
            report = await run_job(
                web_job.job(),
                self.connection,
                rate=self.rate,
                concurrency=self.concurrency,
                timeout=self.timeout,
                progress=_Tally(self, web_job),
            )
            async with self._reading:  # the table first: the page shows it as soon as the state says done
                await asyncio.to_thread(import_results, self.store, web_job)
            web_job.counts, web_job.seconds, web_job.resumed = report.counts, report.seconds, report.resumed
            web_job.state = DONE
            if report.aborted:
                web_job.state, web_job.problem, web_job.aborted = STOPPED, report.aborted, True
        except InputError as exc:
            web_job.problem, web_job.state = str(exc), STOPPED
        except asyncio.CancelledError:
            web_job.problem, web_job.state = "the server stopped before it finished", INTERRUPTED
            raise
        except Exception:
            log.exception("%s of %s stopped by an unexpected error", web_job.label, web_job.sheet.name)
            web_job.problem = "an unexpected error stopped it; the server's log has the details"
            web_job.state = STOPPED
        finally:
            if web_job.state == RUNNING:
                web_job.problem, web_job.state = "the server stopped before it finished", INTERRUPTED
            web_job.finished = self._now.now()
            self.store.save_job(web_job)

    async def stop_all(self) -> None:
        """Cancel what is still running (the pipeline writes the results of the rows it finished)."""
        tasks = [job.task for job in self.jobs.values() if job.task is not None and not job.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
