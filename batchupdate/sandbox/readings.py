"""How the sandbox plays the readings its settings name: the answers that differ from the fastest reading."""

import json
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from batchupdate.sandbox.settings import SandboxSettings

PROXY_PAGE = "<html><head><title>Request received</title></head><body><p>Your request was received.</p></body></html>"


def listed(settings: SandboxSettings, enrolment: dict[str, Any]) -> dict[str, Any]:
    """A program enrolment as a class listing (no contactID) shows it under the reading played."""
    if settings.listing_activities == "absent":
        return {key: value for key, value in enrolment.items() if key != "ACTIVITIES"}
    if settings.listing_activities == "empty":
        return {**enrolment, "ACTIVITIES": []}
    return enrolment


def write_answer(settings: SandboxSettings, documented: Response) -> Response:
    """What a write that worked answers under the reading played (``documented``: the sandbox's own answer)."""
    reply = settings.write_reply
    if reply == "html":
        return HTMLResponse(PROXY_PAGE)
    if reply == "empty":
        return Response(status_code=200)
    if reply == "no-content":
        return Response(status_code=204)
    if reply == "text":
        return PlainTextResponse("OK")
    if reply == "other-json":
        return JSONResponse({"RESULT": "saved"})
    return documented


def report_page(settings: SandboxSettings, rows: list[Any], paged: list[Any]) -> list[Any]:
    """The rows one report run answers: the page asked for (or every row, when paging is ignored), capped."""
    shown = paged if settings.report_paging else rows
    return shown if settings.report_row_cap is None else shown[: settings.report_row_cap]


def error_body(settings: SandboxSettings, response: Response) -> Response:
    """An error answer with UPPERCASE keys and code "0" (as a captured real error had), when the reading says so."""
    if settings.error_keys != "upper" or response.status_code < 400 or not isinstance(response, JSONResponse):
        return response
    body = {str(key).upper(): value for key, value in json.loads(bytes(response.body)).items()}
    body["CODE"] = "0"
    headers = {key: value for key, value in response.headers.items() if key.lower() not in ("content-length",)}
    return JSONResponse(body, status_code=response.status_code, headers=headers)
