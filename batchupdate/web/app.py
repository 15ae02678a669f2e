"""The web page's routes: upload -> check -> plan -> apply -> results, over the same pipeline as the CLI.

    GET  /                      upload form and recent runs
    POST /uploads               save the file, check it offline        -> /uploads/ID
    GET  /uploads/ID            the check: every row, invalid ones with their messages
    POST /uploads/ID/plan       start a plan                           -> /jobs/JOB
    POST /uploads/ID/run        start a run                            -> /jobs/JOB
    GET  /jobs/JOB              progress, then the plan or the results (?status= filters)
    GET  /jobs/JOB/status       progress as JSON, polled by the page
    GET  /jobs/JOB/results      the results file, as a download
    POST /jobs/JOB/rerun        run the failed rows again, from the results file
"""

from __future__ import annotations

import contextlib
import hashlib
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

from batchupdate.config import Connection
from batchupdate.pacing import DEFAULT_CONCURRENCY
from batchupdate.redact import Redactor
from batchupdate.web import pages
from batchupdate.web.jobs import RUNNING, SHEET_SUFFIXES, Registry, Upload, WebJob, read_results_view
from batchupdate.web.security import LOOPBACK_NAMES, Guard

MEGABYTE = 1024 * 1024
MULTIPART_ALLOWANCE = 64 * 1024  # boundaries, part headers and the kind field around the file itself
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class WebConfig:
    """How the page is served: where files go, how big an upload may be, who may open it."""

    data_dir: Path = Path("web-data")
    max_upload_bytes: int = 10 * MEGABYTE
    password: str | None = field(default=None, repr=False)
    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES  # None: any (only with a password)
    rate: str = "auto"
    concurrency: int = DEFAULT_CONCURRENCY


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


def create_app(config: WebConfig, connection: Connection) -> Starlette:
    """The page's ASGI app; plans and runs go to ``connection``, whose tokens never leave this process."""
    registry = Registry(config.data_dir, connection, rate=config.rate, concurrency=config.concurrency)
    statics = {name: resources.files("batchupdate.web").joinpath("static", name).read_bytes() for name in STATIC_FILES}
    version = hashlib.sha256(b"".join(statics.values())).hexdigest()[:10]
    frame = pages.Frame(connection.target, version)
    scrub = Redactor(connection.secrets)  # nothing should carry a token this far; make sure of it

    def page(text: str, status_code: int = 200) -> HTMLResponse:
        return HTMLResponse(scrub(text), status_code=status_code)

    def not_found(what: str) -> HTMLResponse:
        message = f"There is no {what} at this address on this server (it may have been restarted since)."
        return page(pages.message_page(frame, "Not found", message), 404)

    def home(problem: str | None = None, status_code: int = 200) -> HTMLResponse:
        uploads = sorted(registry.uploads.values(), key=lambda upload: upload.created, reverse=True)[:10]
        html = pages.home_page(
            frame, max_bytes=config.max_upload_bytes, recent=registry.recent(), uploads=uploads, problem=problem
        )
        return page(html, status_code)

    async def index(request: Request) -> Response:
        return home()

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
            chosen_kind = kind if kind in pages.KIND_NAMES else None
            saved = await registry.add_upload(sheet.filename, content, chosen_kind)
        finally:
            await form.close()
        return RedirectResponse(f"/uploads/{saved.id}", status_code=303)

    def find_upload(request: Request) -> Upload | None:
        return registry.upload(request.path_params["upload_id"])

    def find_job(request: Request) -> WebJob | None:
        return registry.job(request.path_params["job_id"])

    async def check(request: Request) -> Response:
        found = find_upload(request)
        if found is None:
            return not_found("upload")
        html = pages.check_page(frame, found, busy=registry.busy(found), earlier=registry.jobs_of(found))
        return page(html)

    def start(found: Upload, begin: str) -> Response:
        busy = registry.busy(found)
        if busy is not None:
            message = f"A {busy.noun} of this sheet has not finished yet; wait for it, then try again."
            back = f"/jobs/{busy.id}"
            html = pages.message_page(frame, "Already running", message, back=back, back_label="Follow it")
            return page(html, 409)
        if found.checked is None:
            return page(pages.message_page(frame, "Cannot start", found.problem or "the sheet cannot be used"), 409)
        started = registry.plan(found) if begin == "plan" else registry.run(found)
        return RedirectResponse(f"/jobs/{started.id}", status_code=303)

    async def plan(request: Request) -> Response:
        found = find_upload(request)
        return not_found("upload") if found is None else start(found, "plan")

    async def run(request: Request) -> Response:
        found = find_upload(request)
        return not_found("upload") if found is None else start(found, "run")

    async def job(request: Request) -> Response:
        found = find_job(request)
        if found is None:
            return not_found("run")
        view = None
        if found.state != RUNNING and found.report is not None and found.results_path.exists():
            view = read_results_view(found.results_path)
        status_filter = request.query_params.get("status") or None
        children = [other for other in registry.jobs.values() if other.parent == found.id]
        html = pages.job_page(
            frame, found, view=view, status_filter=status_filter, children=children, busy=registry.busy(found.upload)
        )
        return page(html)

    async def status(request: Request) -> Response:
        found = find_job(request)
        if found is None:
            return JSONResponse({"problem": "no such run"}, status_code=404)
        status = found.status()
        if isinstance(status["problem"], str):
            status["problem"] = scrub(status["problem"])
        return JSONResponse(status)

    async def results(request: Request) -> Response:
        found = find_job(request)
        if found is None or found.state == RUNNING or not found.results_path.exists():
            return not_found("results file")
        return FileResponse(found.results_path, media_type="text/csv; charset=utf-8", filename=found.results_path.name)

    async def rerun(request: Request) -> Response:
        found = find_job(request)
        if found is None or found.report is None:
            return not_found("finished run")
        busy = registry.busy(found.upload)
        if busy is not None:
            return RedirectResponse(f"/jobs/{busy.id}", status_code=303)
        return RedirectResponse(f"/jobs/{registry.rerun_failed(found).id}", status_code=303)

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
        Route("/uploads/{upload_id}/plan", plan, methods=["POST"]),
        Route("/uploads/{upload_id}/run", run, methods=["POST"]),
        Route("/jobs/{job_id}", job),
        Route("/jobs/{job_id}/status", status),
        Route("/jobs/{job_id}/results", results),
        Route("/jobs/{job_id}/rerun", rerun, methods=["POST"]),
        Route("/static/{name}", static),
    ]
    middleware = [Middleware(Guard, password=config.password, allowed_hosts=config.allowed_hosts)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.registry = registry
    return app
