"""Keep secrets out of every text that leaves the process: the tokens, and any credential a server echoes back.

A ColdFusion debug page or a proxy's error page can quote the request's headers; such text reaches results
cells, the screen, logs, reports and web pages. ``Redactor`` is the one scrubber all of them use.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
# Request headers whose values are credentials: the two aXcelerate tokens, and the usual HTTP ones.
CREDENTIAL_HEADERS = frozenset({"apitoken", "wstoken", "authorization", "proxy-authorization", "cookie", "x-api-key"})
# A header or field that carries a credential, then its value: `apitoken: abc`, `"wstoken":"abc"`,
# `Authorization: Basic abc=`, `wstoken=abc&...`. The value runs to the end of the line or a delimiter.
_CREDENTIAL = re.compile(
    r"""(?ix)
    (\b(?:apitoken|wstoken|api[_-]?token|ws[_-]?token|authorization|proxy-authorization|cookie|set-cookie|x-api-key)
     \b["']?\s*[:=]\s*["']?)
    ((?:basic|bearer|digest)\s+)?
    ([^\s"'<>,;&]+)
    """
)


class Redactor:
    """Replaces each known secret, and any credential-like header value, with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Each secret also as a URL or JSON string would carry it; longest first, so one that contains
        # another is replaced whole. Under 4 characters a secret would blank out ordinary words instead.
        forms = {form for secret in secrets if len(secret) >= 4 for form in _forms(secret)}
        self.secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _CREDENTIAL.sub(lambda match: f"{match[1]}{match[2] or ''}{REDACTED}", text)


def _forms(secret: str) -> set[str]:
    return {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret), json.dumps(secret)[1:-1]}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the secrets and any credential-like header value replaced."""
    return Redactor(secrets)(text)


def credential_values(headers: Mapping[str, str]) -> list[str]:
    """The values of the credential headers a client sends (its tokens), to scrub from whatever comes back."""
    return [value for name, value in headers.items() if name.lower() in CREDENTIAL_HEADERS and value]
