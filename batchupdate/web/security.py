"""What stands in front of every request: known host names, the password, same-origin posts, safe headers.

- Host: on loopback only the loopback names are served, so a web site that rebinds its DNS name to
  127.0.0.1 cannot drive the page from someone's browser.
- Password: HTTP Basic, any user name, compared in constant time; asked for whenever one is configured
  (it must be, off loopback).
- POSTs must come from a page of this server (Origin, else Referer, names this host).
- Every answer forbids framing, sniffing and anything but this server's own script and style.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # 'same-origin', not 'no-referrer': with no-referrer, browsers send 'Origin: null' on form posts.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port or IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def password_matches(authorization: str | None, password: str) -> bool:
    """Whether an 'Authorization: Basic ...' header carries the password (any user name)."""
    if not authorization:
        return False
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    _, _, given = decoded.partition(b":")
    return hmac.compare_digest(given, password.encode("utf-8"))


def same_origin(headers: Headers) -> bool:
    """A POST from one of this server's own pages: its Origin (or Referer) names the Host it was sent to."""
    source = headers.get("origin") or headers.get("referer")
    host = headers.get("host")
    if not source or not host or source == "null":
        return False
    return urlsplit(source).netloc.lower() == host.lower()


class Guard:
    """ASGI middleware: host names, password, same-origin posts, security headers."""

    def __init__(self, app: ASGIApp, *, password: str | None, allowed_hosts: frozenset[str] | None) -> None:
        self.app = app
        self.password = password
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        headers = Headers(scope=scope)
        if self.allowed_hosts is not None and host_name(headers.get("host", "")) not in self.allowed_hosts:
            refusal = PlainTextResponse("This page is only served as 127.0.0.1 or localhost.", status_code=400)
            await refusal(scope, receive, send_with_headers)
            return
        if self.password is not None and not password_matches(headers.get("authorization"), self.password):
            refusal = PlainTextResponse(
                "This page needs its password.",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="batchupdate", charset="UTF-8"'},
            )
            await refusal(scope, receive, send_with_headers)
            return
        if scope["method"] not in SAFE_METHODS and not same_origin(headers):
            refusal = PlainTextResponse(
                "Refused: this form was not sent from this server's own page.", status_code=403
            )
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
