"""Keep secrets out of every text that leaves the process: the tokens, and any credential a server echoes back.

A ColdFusion debug page or a proxy's error page can quote the request's headers; such text reaches results
cells, the screen, logs, reports and web pages. ``Redactor`` is the one scrubber all of them use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
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
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _CREDENTIAL.sub(lambda match: f"{match[1]}{match[2] or ''}{REDACTED}", text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the secrets and any credential-like header value replaced."""
    return Redactor(secrets)(text)
