"""What stands in front of every request: known host names, the password, same-origin posts, safe headers.

- Host: on loopback only the loopback names are served, so a web site that rebinds its DNS name to
  127.0.0.1 cannot drive the page from someone's browser.
- Password: HTTP Basic, any user name (kept as who ran a job), compared in constant time; asked for whenever
  one is configured (it must be, off loopback). Wrong passwords from one client slow it down: after
  ``FREE_TRIES`` the client must wait 1 s, then 2, 4, ... up to a minute before its next try is even read.
- Behind a reverse proxy, ``public_url`` (--public-url) is served too: its host name passes the Host check
  and its origin the same-origin check, and the client is the address the proxy names in X-Real-IP.
- POSTs must come from a page of this server (Origin, else Referer, names this host or the public URL).
- Every answer forbids framing, sniffing and anything but this server's own script and style.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
USER_KEY = "batchupdate.user"  # the scope key holding the Basic auth user name, for the job list
FREE_TRIES = 3
LONGEST_WAIT = 60.0
MAX_CLIENTS = 10_000


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port or IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def basic_credentials(authorization: str | None) -> tuple[str, bytes] | None:
    """The user name and password of an 'Authorization: Basic ...' header, if it is one."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, _, given = decoded.partition(b":")
    return user.decode("utf-8", errors="replace"), given


def password_matches(authorization: str | None, password: str) -> bool:
    """Whether an 'Authorization: Basic ...' header carries the password (any user name)."""
    credentials = basic_credentials(authorization)
    return credentials is not None and hmac.compare_digest(credentials[1], password.encode("utf-8"))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def same_origin(headers: Headers, public_origin: str | None = None) -> bool:
    """A POST from one of this server's own pages: its Origin (or Referer) names the Host, or the public URL."""
    source = headers.get("origin") or headers.get("referer")
    host = headers.get("host")
    if not source or source == "null":
        return False
    if public_origin is not None and origin_of(source) == public_origin:
        return True
    return bool(host) and urlsplit(source).netloc.lower() == str(host).lower()


@dataclass
class Throttle:
    """Growing waits after wrong passwords, per client: FREE_TRIES free, then 1 s, 2 s, 4 s ... LONGEST_WAIT."""

    clock: Callable[[], float] = time.monotonic
    failures: dict[str, tuple[int, float]] = field(default_factory=dict)  # client -> (wrong tries, free again at)

    def wait(self, client: str) -> float:
        """Seconds before this client's next password is read (0: now)."""
        _, until = self.failures.get(client, (0, 0.0))
        return max(0.0, until - self.clock())

    def failed(self, client: str) -> None:
        tries = self.failures.get(client, (0, 0.0))[0] + 1
        delay = 0.0 if tries <= FREE_TRIES else min(LONGEST_WAIT, 2.0 ** (tries - FREE_TRIES - 1))
        if len(self.failures) >= MAX_CLIENTS:  # forget the clients whose wait is over
            now = self.clock()
            self.failures = {key: value for key, value in self.failures.items() if value[1] > now}
        self.failures[client] = (tries, self.clock() + delay)

    def passed(self, client: str) -> None:
        self.failures.pop(client, None)


class Guard:
    """ASGI middleware: host names, password, same-origin posts, security headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        password: str | None,
        allowed_hosts: frozenset[str] | None,
        public_url: str | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.app = app
        self.password = password
        self.public_origin = origin_of(public_url) if public_url else None
        public_host = urlsplit(public_url).hostname if public_url else None
        if allowed_hosts is not None and public_host:
            allowed_hosts = allowed_hosts | {public_host}
        self.allowed_hosts = allowed_hosts
        self.throttle = throttle or Throttle()

    def client(self, scope: Scope, headers: Headers) -> str:
        """Who is knocking: the peer address, or behind the proxy (--public-url) the one it names."""
        peer = (scope.get("client") or ("", 0))[0]
        forwarded = headers.get("x-real-ip")
        if self.public_origin is not None and forwarded and peer in LOOPBACK_NAMES:
            return forwarded.strip()
        return str(peer)

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
            names = " or ".join(sorted(self.allowed_hosts - {"::1"}))
            refusal = PlainTextResponse(f"This page is only served as {names}.", status_code=400)
            await refusal(scope, receive, send_with_headers)
            return
        credentials = basic_credentials(headers.get("authorization"))
        if self.password is not None:
            client = self.client(scope, headers)
            wait = self.throttle.wait(client)
            if wait > 0:
                seconds = math.ceil(wait)
                refusal = PlainTextResponse(
                    f"Too many wrong passwords from your address; wait {seconds} s, then reload the page.",
                    status_code=429,
                    headers={"Retry-After": str(seconds)},
                )
                await refusal(scope, receive, send_with_headers)
                return
            if not password_matches(headers.get("authorization"), self.password):
                if credentials is not None:  # a password was given, and it was wrong
                    self.throttle.failed(client)
                refusal = PlainTextResponse(
                    "This page needs its password.",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="batchupdate", charset="UTF-8"'},
                )
                await refusal(scope, receive, send_with_headers)
                return
            self.throttle.passed(client)
        scope[USER_KEY] = credentials[0] if credentials is not None and self.password is not None else ""
        if scope["method"] not in SAFE_METHODS and not same_origin(headers, self.public_origin):
            refusal = PlainTextResponse(
                "Refused: this form was not sent from this server's own page.", status_code=403
            )
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
