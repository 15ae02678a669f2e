"""The sandbox's routes, and the steps every request goes through before its handler.

Per request: delay (latency, slow share) -> auth (headers only) -> scripted fault's delay or 429 -> rate limit
-> scripted fault (not applied) -> random fault -> handler -> scripted or random fault after applying.
"""

import asyncio
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchupdate.sandbox import modules, units
from batchupdate.sandbox.context import Sandbox
from batchupdate.sandbox.faults import echoed_headers_page, land_late, retry_after_header
from batchupdate.sandbox.protocol import ApiError, Params, error_response
from batchupdate.sandbox.readings import error_body
from batchupdate.sandbox.settings import SandboxSettings

API_PREFIX = "/api"
Handler = Callable[[Sandbox, Params], Response]


def endpoint(handler: Handler, *, is_write: bool) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler in the sandbox's per-request steps."""

    async def serve(request: Request) -> Response:
        sandbox: Sandbox = request.app.state.sandbox
        return error_body(sandbox.settings, await steps(request, sandbox))

    async def steps(request: Request, sandbox: Sandbox) -> Response:
        delay = sandbox.faults.delay()
        if delay:
            await asyncio.sleep(delay)
        if not authorised(request, sandbox.settings):
            return error_response(401, "Missing or invalid apitoken / wstoken header.")
        params = await Params.from_request(request)
        path = request.url.path.removeprefix(API_PREFIX)
        scripted = sandbox.script.catch(request.method, path, params.as_dict())
        if scripted is not None and scripted.delay:
            await asyncio.sleep(scripted.delay)
        if scripted is not None and scripted.status == 429:
            sandbox.stats.record_throttled()
            return scripted.answer()
        wait = sandbox.limiter.admit()
        if wait is not None:
            sandbox.stats.record_throttled()
            retry_after = retry_after_header(wait, sandbox.settings.retry_after_as_date)
            return error_response(429, "Too many requests; slow down.", headers={"Retry-After": retry_after})
        sandbox.stats.record_served(request.method, path, params.as_dict())
        if scripted is not None and scripted.answers and not scripted.applied:
            return scripted.answer()
        if is_write and sandbox.settings.echo_headers:
            return error_response(400, echoed_headers_page(request.headers))
        if is_write:
            await land_late(sandbox.settings)
        fault = sandbox.faults.draw(is_write)
        if fault is not None and not fault.after_write:
            return error_response(fault.status, "Injected fault: nothing was changed.")
        try:
            response = handler(sandbox, params)
        except ApiError as error:
            return error_response(error.status, error.details)
        if scripted is not None and scripted.answers and response.status_code == 200:
            return scripted.answer()
        if fault is not None and response.status_code == 200:
            return error_response(fault.status, "Injected fault: the change was applied before this error.")
        return response

    return serve


def authorised(request: Request, settings: SandboxSettings) -> bool:
    """Both tokens, from headers only: the real API never takes them as parameters."""
    return request.headers.get("apitoken") == settings.api_token and request.headers.get("wstoken") == settings.ws_token


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown path (404) and wrong method (405) in the API's error body."""
    assert isinstance(exc, HTTPException)
    details = f"{request.method} {request.url.path}: {exc.detail}"
    return error_response(exc.status_code, details, headers=exc.headers)


def create_app(settings: SandboxSettings) -> Starlette:
    """The sandbox as an ASGI app; opens (or creates and seeds) the database in the settings."""
    routes = [
        Route("/api/course/enrolments", endpoint(units.list_enrolments, is_write=False), methods=["GET"]),
        Route("/api/course/enrolment", endpoint(units.update_unit_enrolment, is_write=True), methods=["PUT"]),
        Route("/api/report/fields", endpoint(modules.report_fields, is_write=False), methods=["GET"]),
        Route("/api/report/field", endpoint(modules.report_field, is_write=False), methods=["GET"]),
        Route("/api/report/run", endpoint(modules.run_report, is_write=False), methods=["POST"]),
        Route(
            "/api/v2/learningPlan/modules/enrolments",
            endpoint(modules.update_module_enrolment, is_write=True),
            methods=["PUT"],
        ),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.sandbox = Sandbox.open(settings)
    return app
