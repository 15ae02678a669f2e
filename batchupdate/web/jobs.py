"""What the web page runs: uploaded sheets saved under the data folder, and plans and runs as tasks.

A plan or run is an asyncio task on the server's own event loop calling the same ``run_job`` as the CLI,
so closing the browser does not touch it and its id in the address finds it again while the server runs.
The pipeline holds the sheet and results-file locks; the registry also refuses a second run of the same
content, so uploading one spreadsheet twice cannot apply it twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import hashlib
import logging
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from batchupdate.config import Connection
from batchupdate.errors import InputError
from batchupdate.pacing import DEFAULT_CONCURRENCY
from batchupdate.pipeline import CHECK, PLAN, RUN, Job, Report, load
from batchupdate.progress import Progress
from batchupdate.results import RowResult, result_headers
from batchupdate.session import run_job
from batchupdate.sheet import cell_text, header_key, unneutralise
from batchupdate.status import Status

log = logging.getLogger(__name__)

SHEET_SUFFIXES = (".csv", ".xlsx")
RUNNING, DONE, STOPPED = "running", "done", "stopped"
_ID = re.compile(r"[0-9a-f]{16}")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
MAX_NAME = 80


def new_id() -> str:
    return secrets.token_hex(8)


def is_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None


def safe_name(filename: str) -> str:
    """The uploaded file's own name, reduced to harmless characters and a known suffix."""
    base = re.split(r"[\\/]", filename)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = _UNSAFE_NAME.sub("-", stem).strip(" .-")[:MAX_NAME] or "sheet"
    return f"{stem}.{suffix.lower()}"


@dataclass(frozen=True)
class SheetRow:
    """One row as the page shows it: its line in the sheet, status, message, cells and changes."""

    line: int
    status: str
    error: str
    cells: tuple[str, ...]
    changes: str = ""


@dataclass(frozen=True)
class SheetView:
    """Rows of a checked sheet or a results file, ready to draw as a table."""

    headers: tuple[str, ...]
    rows: tuple[SheetRow, ...]

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(row.status for row in self.rows))


@dataclass(frozen=True)
class Checked:
    """The offline check of an upload: the same verdicts as `batchupdate check`."""

    kind: str
    source: str
    view: SheetView


@dataclass
class Upload:
    """A sheet saved under the data folder, with its check (or why it cannot be used)."""

    id: str
    path: Path
    name: str
    digest: str
    size: int
    kind: str | None
    created: dt.datetime
    checked: Checked | None = None
    problem: str | None = None


@dataclass
class WebJob:
    """A plan or run the page started: its progress while running, its report when done."""

    id: str
    upload: Upload
    job: Job
    label: str
    started: dt.datetime
    parent: str | None = None
    state: str = RUNNING
    total: int | None = None
    done: int = 0
    report: Report | None = None
    problem: str | None = None
    finished: dt.datetime | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    running_counts: Counter[str] = field(default_factory=Counter)

    @property
    def mode(self) -> str:
        return self.job.mode

    @property
    def results_path(self) -> Path:
        return self.job.results_path

    @property
    def noun(self) -> str:
        """What it is, in a sentence: 'a plan', 'a run' or 'a re-run'."""
        return "plan" if self.mode == PLAN else "re-run" if self.parent else "run"

    @property
    def counts(self) -> dict[str, int]:
        """Rows per status: final once done, else as far as the run has got."""
        if self.report is not None:
            return self.report.counts
        return dict(self.running_counts)

    @property
    def percent(self) -> int:
        if self.state != RUNNING:
            return 100 if self.report is not None else 0
        if not self.total:
            return 0
        return min(100, self.done * 100 // self.total)

    def status(self) -> dict[str, object]:
        """What the page polls while the job runs."""
        return {
            "state": self.state,
            "mode": self.mode,
            "total": self.total,
            "done": self.done,
            "percent": self.percent,
            "counts": self.counts,
            "problem": self.problem,
        }


class _Tally(Progress):
    def __init__(self, web_job: WebJob) -> None:
        self.web_job = web_job

    def start(self, total: int) -> None:
        self.web_job.total = total

    def advance(self, result: RowResult) -> None:
        self.web_job.done += 1
        self.web_job.running_counts[result.status] += 1


def check_sheet(path: Path, kind: str | None) -> Checked:
    """Validate offline, as `batchupdate check` does, and keep every row's cells for the table."""
    job = Job(path, CHECK, kind)
    report = asyncio.run(run_job(job, None))
    _, _, sheet = load(job)
    verdicts = {result.index: result for result in report.results}
    rows = tuple(
        SheetRow(
            line=sheet.lines[index],
            status=verdicts[index].status,
            error=verdicts[index].error,
            cells=tuple(cell_text(cell) for cell in sheet.frame.iloc[index]),
        )
        for index in range(len(sheet))
    )
    return Checked(report.kind, report.source, SheetView(sheet.headers, rows))


def read_results_view(path: Path) -> SheetView:
    """A results file as the page shows it: the input columns, then each row's status, error and changes."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        records = list(csv.reader(handle))
    if not records:
        return SheetView((), ())
    header, *lines = records
    dropped = result_headers()
    inputs = [i for i, name in enumerate(header) if header_key(name) not in dropped]
    common = {name: max(i for i, other in enumerate(header) if other == name) for name in ("row", "status")}
    common.update({name: header.index(name) for name in ("error", "changes") if name in header})

    def cell(line: list[str], name: str) -> str:
        index = common.get(name)
        return str(unneutralise(line[index])) if index is not None and index < len(line) else ""

    rows = tuple(
        SheetRow(
            line=int(cell(line, "row") or 0),
            status=cell(line, "status"),
            error=cell(line, "error"),
            cells=tuple(str(unneutralise(line[i])) if i < len(line) else "" for i in inputs),
            changes=cell(line, "changes"),
        )
        for line in lines
    )
    return SheetView(tuple(header[i] for i in inputs), rows)


class Registry:
    """The uploads and jobs of this server, in memory; their files live under the data folder."""

    def __init__(
        self,
        data_dir: Path,
        connection: Connection | None,
        *,
        rate: str = "auto",
        concurrency: int = DEFAULT_CONCURRENCY,
        now: type[dt.datetime] = dt.datetime,
    ) -> None:
        self.data_dir = data_dir
        self.connection = connection
        self.rate = rate
        self.concurrency = concurrency
        self._now = now
        self.uploads: dict[str, Upload] = {}
        self.jobs: dict[str, WebJob] = {}

    async def add_upload(self, filename: str, content: bytes, kind: str | None) -> Upload:
        """Save the bytes under a new id and check them offline (in a thread: big sheets take a moment)."""
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
            kind=kind,
            created=self._now.now(),
        )
        try:
            upload.checked = await asyncio.to_thread(check_sheet, path, kind)
        except InputError as exc:
            upload.problem = str(exc)
        self.uploads[upload_id] = upload
        return upload

    def upload(self, upload_id: str) -> Upload | None:
        return self.uploads.get(upload_id) if is_id(upload_id) else None

    def job(self, job_id: str) -> WebJob | None:
        return self.jobs.get(job_id) if is_id(job_id) else None

    def jobs_of(self, upload: Upload) -> list[WebJob]:
        return [job for job in self.jobs.values() if job.upload.id == upload.id]

    def recent(self, limit: int = 10) -> list[WebJob]:
        return sorted(self.jobs.values(), key=lambda job: job.started, reverse=True)[:limit]

    def busy(self, upload: Upload) -> WebJob | None:
        """A job still running on this sheet, or on another upload of the very same content."""
        return next(
            (job for job in self.jobs.values() if job.state == RUNNING and job.upload.digest == upload.digest),
            None,
        )

    def plan(self, upload: Upload) -> WebJob:
        return self._start(upload, PLAN, "Plan", upload.path, "plan.csv")

    def run(self, upload: Upload) -> WebJob:
        return self._start(upload, RUN, "Apply", upload.path, "results.csv")

    def rerun_failed(self, earlier: WebJob) -> WebJob:
        """Run again only the rows that failed, straight from the earlier run's results file."""
        return self._start(
            earlier.upload,
            RUN,
            "Re-run failed rows",
            earlier.results_path,
            "rerun.results.csv",
            only=frozenset({Status.FAILED}),
            parent=earlier.id,
        )

    def _start(
        self,
        upload: Upload,
        mode: str,
        label: str,
        sheet: Path,
        suffix: str,
        *,
        only: frozenset[str] | None = None,
        parent: str | None = None,
    ) -> WebJob:
        job_id = new_id()
        results = upload.path.parent / "jobs" / job_id / f"{upload.path.stem}.{suffix}"
        job = Job(sheet, mode, upload.kind, results=results, only=only)
        web_job = WebJob(job_id, upload, job, label, self._now.now(), parent)
        self.jobs[job_id] = web_job
        web_job.task = asyncio.get_running_loop().create_task(self._run(web_job), name=f"web-{mode}-{job_id}")
        return web_job

    async def _run(self, web_job: WebJob) -> None:
        try:
            web_job.report = await run_job(
                web_job.job,
                self.connection,
                rate=self.rate,
                concurrency=self.concurrency,
                progress=_Tally(web_job),
            )
            web_job.state = DONE
        except InputError as exc:
            web_job.problem, web_job.state = str(exc), STOPPED
        except Exception:
            log.exception("%s of %s stopped by an unexpected error", web_job.label, web_job.upload.name)
            web_job.problem = "an unexpected error stopped it; the server's log has the details"
            web_job.state = STOPPED
        finally:
            if web_job.state == RUNNING:  # cancelled: the server is shutting down
                web_job.problem, web_job.state = "the server stopped before it finished", STOPPED
            web_job.finished = self._now.now()

    async def stop_all(self) -> None:
        """Cancel what is still running (the pipeline writes the results of the rows it finished)."""
        tasks = [job.task for job in self.jobs.values() if job.task is not None and not job.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
