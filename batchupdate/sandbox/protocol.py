"""aXcelerate's wire conventions: case-insensitive parameters, the error body, date formats."""

import re
from collections.abc import Mapping
from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse

MESSAGES = {
    401: "Unauthorized.",
    404: "Not Found.",
    405: "Method Not Allowed.",
    412: "Validation Error.",
    429: "Too Many Requests.",
    500: "Internal Server Error.",
    503: "Service Unavailable.",
}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ApiError(Exception):
    """A request the API refuses; becomes the error body with this status."""

    def __init__(self, status: int, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.details = details


def validation_error(*details: str) -> ApiError:
    """A 412 whose details are comma-joined, as aXcelerate joins them."""
    return ApiError(412, ", ".join(details))


def error_response(status: int, details: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The documented error body (lowercase keys, code as a string)."""
    body = {
        "error": True,
        "code": str(status),
        "messages": MESSAGES.get(status, "Error."),
        "details": details,
        "data": "",
    }
    return JSONResponse(body, status_code=status, headers=headers)


class Params:
    """Request parameters by case-insensitive name; a present-but-empty value stays distinct from absent."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {name.lower(): value for name, value in values.items()}

    @classmethod
    async def from_request(cls, request: Request) -> "Params":
        """Query string, then form fields on top (form wins); a JSON body is ignored like the real API does."""
        values = dict(request.query_params.multi_items())
        if request.method in ("PUT", "POST"):
            form = await request.form()
            values.update((name, value) for name, value in form.multi_items() if isinstance(value, str))
        return cls(values)

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)

    def has(self, name: str) -> bool:
        return name.lower() in self._values

    def get(self, name: str) -> str | None:
        """The raw value, None when absent."""
        return self._values.get(name.lower())

    def text(self, name: str) -> str | None:
        """The trimmed value, None when absent or blank."""
        value = self.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def require(self, *names: str) -> None:
        """412 naming every absent or blank parameter, in the documented spelling."""
        missing = [f"{name} is undefined in the request collection." for name in names if self.text(name) is None]
        if missing:
            raise validation_error(*missing)

    def integer(self, name: str) -> int | None:
        """A whole number, None when absent or blank; 412 when it is not a number."""
        value = self.text(name)
        if value is None:
            return None
        if not value.lstrip("-").isdigit():
            raise validation_error(f"{name} must be numeric, not '{value}'.")
        return int(value)

    def date_changes(self, start: str, end: str) -> dict[str, str]:
        """The start_date and end_date a write sets, from its fields named ``start`` and ``end`` (412 if malformed)."""
        dates = {"start_date": self.iso_date(start), "end_date": self.iso_date(end)}
        return {column: value for column, value in dates.items() if value is not None}

    def iso_date(self, name: str) -> str | None:
        """A YYYY-MM-DD date, None when absent or blank; 412 when malformed or not a real date."""
        value = self.text(name)
        if value is None:
            return None
        if ISO_DATE.fullmatch(value):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        raise validation_error(f"{name} '{value}' is not a valid date; use YYYY-MM-DD.")
