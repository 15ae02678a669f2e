"""The web page's routes: upload -> check -> plan -> apply -> results, over the same pipeline as the CLI.

    GET  /                      upload form and every job this server ran (kept in SQLite)
    POST /uploads               save the file, check it offline        -> /uploads/ID
    GET  /uploads/ID            the check, a page of rows at a time (?status=, ?page=)
    POST /uploads/ID/settings   check again: worksheet, kind, header mapping, module statuses
    POST /uploads/ID/plan       start a plan                           -> /jobs/JOB
    GET  /jobs/JOB              progress, then the plan or the results (?status=, ?page=)
    GET  /jobs/JOB/status       progress as JSON, polled by the page
    GET  /jobs/JOB/results      the results file, as a download
    POST /jobs/JOB/apply        apply a finished plan                  -> /jobs/RUN
    POST /jobs/JOB/rerun        plan the failed rows of a run again    -> /jobs/PLAN
    POST /jobs/JOB/resume       go on with a job the server's restart interrupted
    GET  /export                "Start from a class": class IDs in ...
    POST /export                ... the classes' current enrolments out, as a workbook to fill in
    GET  /exports/ID/NAME       that workbook, as a download
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive

from batchupdate.columns import parse_map_option
from batchupdate.config import Connection
from batchupdate.errors import ApiError, InputError
from batchupdate.pacing import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT
from batchupdate.pipeline import PLAN, RUN
from batchupdate.redact import Redactor
from batchupdate.session import open_api
from batchupdate.status import Status
from batchupdate.web import pages
from batchupdate.web.jobs import (
    DONE,
    INTERRUPTED,
    MAX_ROWS,
    RUNNING,
    SHEET_SUFFIXES,
    Registry,
    Settings,
    Upload,
    WebJob,
    is_id,
    new_id,
)
from batchupdate.web.security import LOOPBACK_NAMES, USER_KEY, Guard, Throttle

MEGABYTE = 1024 * 1024
MULTIPART_ALLOWANCE = 64 * 1024  # boundaries, part headers and the kind field around the file itself
MAX_HEADERS = 500  # columns the header mapping form can carry
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class WebConfig:
    """How the page is served: where files go, how big an upload may be, who may open it."""

    data_dir: Path = Path("web-data")
    max_upload_bytes: int = 10 * MEGABYTE
    max_rows: int = MAX_ROWS
    password: str | None = field(default=None, repr=False)
    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES  # None: any (only with a password)
    public_url: str | None = None  # the address a reverse proxy serves the page at
    rate: str = "auto"
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT  # seconds each request to aXcelerate waits for its answer


class _TooLarge(Exception):
    """The request body went over the upload limit."""


def _limited(receive: Receive, limit: int) -> Receive:
    """A receive that stops reading once the body passes ``limit`` bytes, whatever Content-Length said."""
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return limited_receive


def _page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isdigit() else 1


def _statuses(text: str) -> tuple[str, ...] | None:
    return tuple(part.strip() for part in text.split(",") if part.strip()) or None


_CLASS_ID = re.compile(r"[0-9]+")


def class_ids(text: str) -> list[int]:
    """Class IDs as typed (commas, spaces or one a line); InputError naming the first that is not one."""
    ids = []
    for part in re.split(r"[\s,;]+", text.strip()):
        if not part:
            continue
        if not _CLASS_ID.fullmatch(part) or int(part) < 1:
            raise InputError(f"{part!r} is not a class ID; write the classes' numbers, e.g. 31001, 31002")
        ids.append(int(part))
    if not ids:
        raise InputError("write at least one class ID, e.g. 31001")
    return ids


def create_app(config: WebConfig, connection: Connection, *, throttle: Throttle | None = None) -> Starlette:
    """The page's ASGI app; plans and runs go to ``connection``, whose tokens never leave this process."""
    registry = Registry(
        config.data_dir,
        connection,
        rate=config.rate,
        concurrency=config.concurrency,
        timeout=config.timeout,
        max_rows=config.max_rows,
    )
    statics = {name: resources.files("batchupdate.web").joinpath("static", name).read_bytes() for name in STATIC_FILES}
    version = hashlib.sha256(b"".join(statics.values())).hexdigest()[:10]
    frame = pages.Frame(connection.target, version, registry.server)
    scrub = Redactor(connection.secrets)  # nothing should carry a token this far; make sure of it

    def page(text: str, status_code: int = 200) -> HTMLResponse:
        return HTMLResponse(scrub(text), status_code=status_code)

    def user(request: Request) -> str:
        return str(request.scope.get(USER_KEY, ""))

    def not_found(what: str) -> HTMLResponse:
        message = f"There is no {what} at this address on this server."
        return page(pages.message_page(frame, "Not found", message), 404)

    def refuse(title: str, message: str, back: str, back_label: str = "Back", status_code: int = 409) -> HTMLResponse:
        return page(pages.message_page(frame, title, message, back=back, back_label=back_label), status_code)

    def home(problem: str | None = None, status_code: int = 200, page_number: int = 1) -> HTMLResponse:
        recent, page_count = registry.recent(page_number)
        shown = {job.upload_id for job in registry.jobs.values()}
        uploads = sorted(
            (upload for upload in registry.uploads.values() if upload.id not in shown),
            key=lambda upload: upload.created,
            reverse=True,
        )[:10]
        html = pages.home_page(
            frame,
            max_bytes=config.max_upload_bytes,
            max_rows=config.max_rows,
            recent=recent,
            page=(min(page_number, page_count), page_count),
            uploads=uploads if page_number == 1 else [],
            names={upload.id: upload.name for upload in registry.uploads.values()},
            problem=problem,
        )
        return page(html, status_code)

    async def index(request: Request) -> Response:
        return home(page_number=_page_number(request))

    async def upload(request: Request) -> Response:
        limit = config.max_upload_bytes
        too_large = (
            f"That file is over the {pages.size_text(limit)} limit. Split the sheet into smaller ones, "
            "or remove columns and rows that are not needed, then upload again."
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + MULTIPART_ALLOWANCE:
            return home(too_large, 413)
        limited = Request(request.scope, _limited(request.receive, limit + MULTIPART_ALLOWANCE))
        try:
            form = await limited.form(max_files=1, max_fields=4)
        except _TooLarge:
            return home(too_large, 413)
        except (MultiPartException, ClientDisconnect):
            return home("The upload could not be read; choose the file again.", 400)
        sheet, kind = form.get("sheet"), form.get("kind")
        try:
            if not isinstance(sheet, UploadFile) or not sheet.filename:
                return home("Choose a CSV or Excel (.xlsx) file first.", 400)
            if not sheet.filename.lower().endswith(SHEET_SUFFIXES):
                return home(
                    f"{sheet.filename} is not a .csv or .xlsx file. Save it from Excel as 'Excel Workbook (.xlsx)' "
                    "or 'CSV UTF-8', then upload that.",
                    415,
                )
            content = await sheet.read(limit + 1)
            if len(content) > limit:
                return home(too_large, 413)
            settings = Settings(kind=kind if kind in pages.KIND_NAMES else None)
            saved = await registry.add_upload(sheet.filename, content, settings, user(request))
            del content
        finally:
            await form.close()
        return RedirectResponse(f"/uploads/{saved.id}", status_code=303)

    def find_upload(request: Request) -> Upload | None:
        return registry.upload(request.path_params["upload_id"])

    def find_job(request: Request) -> WebJob | None:
        return registry.job(request.path_params["job_id"])

    def check_page(
        found: Upload, request: Request | None = None, problem: str | None = None, status_code: int = 200
    ) -> HTMLResponse:
        rows = None
        if found.usable:
            wanted = (request.query_params.get("status") or None) if request else None
            rows = registry.rows(found, wanted, _page_number(request) if request else 1)
        html = pages.check_page(
            frame,
            found,
            rows=rows,
            problems=registry.store.problems(found.id),
            busy=registry.busy(found.digest),
            earlier=registry.jobs_of(found),
            interrupted=registry.interrupted(found.digest),
            settings_problem=problem,
        )
        return page(html, status_code)

    async def check(request: Request) -> Response:
        found = find_upload(request)
        return not_found("upload") if found is None else check_page(found, request)

    async def settings(request: Request) -> Response:
        found = find_upload(request)
        if found is None:
            return not_found("upload")
        if registry.busy(found.digest) is not None:
            wait = "Wait for the plan or run of this sheet to finish before changing how it is read."
            return check_page(found, problem=wait, status_code=409)
        try:
            form = await request.form(max_fields=2 * MAX_HEADERS + 8)
        except (MultiPartException, ClientDisconnect):
            return check_page(found, problem="The settings could not be read; choose them again.", status_code=400)
        kind = str(form.get("kind") or "")
        worksheet = str(form.get("sheet_name") or "") or None
        pairs = []
        for name, header in form.multi_items():
            if name.startswith("map-header-"):
                column = str(form.get("map-column-" + name.removeprefix("map-header-")) or "")
                if column:
                    pairs.append(f"{header}={column}")
        try:
            mapping = parse_map_option(pairs)
        except InputError as exc:
            return check_page(found, problem=str(exc).replace("--map", "The mapping"), status_code=400)
        chosen = Settings(
            kind=kind if kind in pages.KIND_NAMES else None,
            sheet_name=worksheet if worksheet in found.worksheets else None,
            mapping=mapping,
            module_statuses=_statuses(str(form.get("module_statuses") or "")),
        )
        checked = await registry.recheck(found, chosen)
        return RedirectResponse(f"/uploads/{checked.id}", status_code=303)

    def already_running(busy: WebJob) -> HTMLResponse:
        message = f"A {busy.noun} of this sheet has not finished yet; wait for it, then try again."
        return refuse("Already running", message, f"/jobs/{busy.id}", "Follow it")

    async def plan(request: Request) -> Response:
        found = find_upload(request)
        if found is None:
            return not_found("upload")
        busy = registry.busy(found.digest)
        if busy is not None:
            return already_running(busy)
        if not found.usable:
            return refuse("Cannot start", found.problem or "the sheet cannot be used", f"/uploads/{found.id}")
        return RedirectResponse(f"/jobs/{registry.plan(found, user(request)).id}", status_code=303)

    async def job(request: Request) -> Response:
        found = find_job(request)
        if found is None:
            return not_found("job")
        rows = None
        if found.state != RUNNING and found.headers:
            rows = registry.rows(found, request.query_params.get("status") or None, _page_number(request))
        upload = registry.uploads[found.upload_id]
        html = pages.job_page(
            frame,
            found,
            upload,
            rows=rows,
            children=registry.children(found),
            busy=registry.busy(found.digest),
        )
        return page(html)

    async def status(request: Request) -> Response:
        found = find_job(request)
        if found is None:
            return JSONResponse({"problem": "no such job", "server": registry.server}, status_code=404)
        answer = found.status(registry.server)
        if isinstance(answer["problem"], str):
            answer["problem"] = scrub(answer["problem"])
        return JSONResponse(answer)

    async def results(request: Request) -> Response:
        found = find_job(request)
        if found is None or found.state == RUNNING or not found.results_path.exists():
            return not_found("results file")
        return FileResponse(found.results_path, media_type="text/csv; charset=utf-8", filename=found.results_path.name)

    async def apply(request: Request) -> Response:
        found = find_job(request)
        if found is None:
            return not_found("plan")
        busy = registry.busy(found.digest)
        if busy is not None:
            return already_running(busy)
        if found.mode != PLAN or found.state != DONE:
            return refuse(
                "Cannot apply", "Only a finished plan can be applied; plan the sheet first.", f"/jobs/{found.id}"
            )
        return RedirectResponse(f"/jobs/{registry.apply(found, user(request)).id}", status_code=303)

    async def rerun(request: Request) -> Response:
        found = find_job(request)
        if found is None or found.mode != RUN or found.state not in (DONE, "stopped") or not found.headers:
            return not_found("finished run")
        if not found.counts.get(Status.FAILED):  # the page offers no re-run then: nothing to plan
            return not_found("run with failed rows")
        busy = registry.busy(found.digest)
        if busy is not None:
            return already_running(busy)
        return RedirectResponse(f"/jobs/{registry.plan_rerun(found, user(request)).id}", status_code=303)

    async def resume(request: Request) -> Response:
        found = find_job(request)
        if found is None:
            return not_found("job")
        busy = registry.busy(found.digest)
        if busy is not None:
            return already_running(busy)
        if found.state != INTERRUPTED:
            return refuse("Nothing to resume", f"This {found.noun} was not interrupted.", f"/jobs/{found.id}")
        return RedirectResponse(f"/jobs/{registry.resume(found).id}", status_code=303)

    async def export_form(request: Request) -> Response:
        return page(pages.export_page(frame, values={}))

    async def export(request: Request) -> Response:
        from batchupdate.client import describe_error
        from batchupdate.export import default_export_path, export_workbook

        form = await request.form(max_fields=10)
        fields = ("kind", "classes", "open_only", "module_statuses", "format")
        values = {name: str(form.get(name) or "") for name in fields}
        kind = values["kind"] if values["kind"] in pages.KIND_NAMES else "units"
        as_csv = values["format"] == "csv"
        try:
            ids = class_ids(values["classes"])
            name = default_export_path(kind, ids, dt.date.today()).with_suffix(".csv" if as_csv else ".xlsx").name
            export_id = new_id()
            path = config.data_dir / "exports" / export_id / name
            async with open_api(
                connection, rate=config.rate, concurrency=config.concurrency, timeout=config.timeout
            ) as api:
                exported = await export_workbook(
                    kind,
                    ids,
                    api,
                    path,
                    open_only=values["open_only"] == "on" and kind == "units",
                    statuses=_statuses(values["module_statuses"]) if kind == "modules" else None,
                )
        except InputError as exc:
            return page(pages.export_page(frame, values=values, problem=str(exc)), 400)
        except ApiError as exc:  # bad tokens, unreachable, a class listing refused: nothing was written
            problem = f"The export stopped, no file written: {describe_error(exc)}"
            return page(pages.export_page(frame, values=values, problem=problem), 502)
        return page(pages.exported_page(frame, exported, ids, f"/exports/{export_id}/{name}"))

    async def export_file(request: Request) -> Response:
        export_id, name = request.path_params["export_id"], request.path_params["name"]
        folder = config.data_dir / "exports" / export_id
        path = folder / name
        if not is_id(export_id) or path.parent != folder or not path.is_file():
            return not_found("export")
        media = "text/csv; charset=utf-8" if path.suffix == ".csv" else XLSX_TYPE
        return FileResponse(path, media_type=media, filename=path.name)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in statics:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(statics[name], media_type=STATIC_FILES[name], headers={"cache-control": "max-age=3600"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await registry.stop_all()

    routes = [
        Route("/", index),
        Route("/uploads", upload, methods=["POST"]),
        Route("/uploads/{upload_id}", check),
        Route("/uploads/{upload_id}/settings", settings, methods=["POST"]),
        Route("/uploads/{upload_id}/plan", plan, methods=["POST"]),
        Route("/jobs/{job_id}", job),
        Route("/jobs/{job_id}/status", status),
        Route("/jobs/{job_id}/results", results),
        Route("/jobs/{job_id}/apply", apply, methods=["POST"]),
        Route("/jobs/{job_id}/rerun", rerun, methods=["POST"]),
        Route("/jobs/{job_id}/resume", resume, methods=["POST"]),
        Route("/export", export_form),
        Route("/export", export, methods=["POST"]),
        Route("/exports/{export_id}/{name}", export_file),
        Route("/static/{name}", static),
    ]
    guard = Middleware(
        Guard,
        password=config.password,
        allowed_hosts=config.allowed_hosts,
        public_url=config.public_url,
        throttle=throttle,
    )
    app = Starlette(routes=routes, middleware=[guard], lifespan=lifespan)
    app.state.registry = registry
    return app
