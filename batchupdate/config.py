"""Where to send requests, and with which tokens: from the environment or a `.env` file, never a flag."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from batchupdate.errors import ConfigError

URL_VARIABLE, API_TOKEN_VARIABLE, WS_TOKEN_VARIABLE = "AXCELERATE_URL", "AXCELERATE_API_TOKEN", "AXCELERATE_WS_TOKEN"


@dataclass(frozen=True)
class Connection:
    """An aXcelerate tenant's API base URL and the two tokens; ``repr`` never shows the tokens."""

    url: str
    api_token: str = field(repr=False)
    ws_token: str = field(repr=False)
    sandbox: bool = False

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_token, self.ws_token)

    @property
    def target(self) -> str:
        """Which aXcelerate this is, in words: shown in every plan and run header."""
        host = urlsplit(self.url).hostname or "?"
        if self.sandbox:
            return f"sandbox at {self.url}"
        if host.endswith(".stg.axcelerate.com"):
            return f"STAGING {host}"
        if host.endswith(".axcelerate.com"):
            return f"PRODUCTION {host}"
        return f"{host} ({self.url})"

    def http_client(self, *, concurrency: int, timeout: float) -> httpx.AsyncClient:
        """An httpx client that carries the tokens as headers and never follows redirects."""
        return httpx.AsyncClient(
            base_url=self.url + "/",
            headers={"apitoken": self.api_token, "wstoken": self.ws_token, "accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
        )


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (quotes stripped, comments and blanks skipped)."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_connection(environ: Mapping[str, str] = os.environ, dotenv: Path = Path(".env")) -> Connection:
    """The connection from the environment, falling back to `.env` in the working folder."""
    settings = {**read_dotenv(dotenv), **{key: value for key, value in environ.items() if value}}
    missing = [name for name in (URL_VARIABLE, API_TOKEN_VARIABLE, WS_TOKEN_VARIABLE) if not settings.get(name)]
    if missing:
        raise ConfigError(
            f"{', '.join(missing)} not set; set them in the environment or a .env file in this folder "
            "(or add --sandbox to rehearse against the built-in sandbox)"
        )
    return Connection(
        url=check_url(settings[URL_VARIABLE]),
        api_token=check_token(API_TOKEN_VARIABLE, settings[API_TOKEN_VARIABLE]),
        ws_token=check_token(WS_TOKEN_VARIABLE, settings[WS_TOKEN_VARIABLE]),
    )


def check_token(name: str, token: str) -> str:
    """A token as sent in a header: printable ASCII only (a pasted one can carry a curly quote or a space)."""
    token = token.strip()
    for position, character in enumerate(token, start=1):
        if not (character.isascii() and character.isprintable()) or character.isspace():
            # Never the token itself, nor the character (it may be part of it): only where to look.
            raise ConfigError(
                f"{name} has a character that is not plain ASCII (character {position} of {len(token)}); "
                "copy the token again from aXcelerate, without quotes or spaces"
            )
    return token


def check_url(url: str) -> str:
    """An API base URL that is https (or http on loopback only) and ends in /api."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{URL_VARIABLE} {url!r} is not a URL; use https://<tenant>.app.axcelerate.com/api")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{URL_VARIABLE} uses plain http:// for {parts.hostname}, which would send the tokens unencrypted; "
            "use https://"
        )
    if not parts.path.endswith("/api"):
        raise ConfigError(f"{URL_VARIABLE} {url!r} should end in /api, e.g. https://<tenant>.app.axcelerate.com/api")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{URL_VARIABLE} must be a plain base URL with no query, fragment or login in it")
    return url


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
