"""Keep secrets out of logs, reprs, exceptions and stdout.

:class:`Secret` wraps a credential so that ``repr``/``str`` never show it.
:func:`redact` scrubs text that may carry secrets (URLs with ``access_token`` or ``wsc``
query parameters, JSON with token fields, ``Authorization`` headers) and is used on every
path that logs or raises with frame or URL content. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Final, overload

__all__ = ["MASK", "Secret", "as_secret", "redact", "redact_url"]

MASK: Final = "[secure]"

_SECRET_KEYS = (
    "access_token|refresh_token|ws_access_token|id_token|token|assertion|password|"
    "client_secret|jwt|wsc|code|code_verifier|client_assertion|secret|verificationToken"
)
# key=value in URLs and form bodies
_QUERY_RE: Final = re.compile(rf"(?i)(?<![A-Za-z_])({_SECRET_KEYS})=([^&\s\"'#]+)")
# "key": "value" in JSON; an unterminated value (text cut mid-token) is masked to the end
_JSON_RE: Final = re.compile(rf'(?i)"({_SECRET_KEYS})"\s*:\s*"((?:[^"\\]|\\.)*)(?:"|\\?$)')
# Authorization: Bearer/Basic xxx
_AUTH_RE: Final = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]+")


def redact(text: str) -> str:
    """Return ``text`` with every recognisable secret replaced by ``[secure]``.

    Safe on excerpts: a secret value cut off by truncation is masked up to the cut.
    Truncate first, then redact.
    """
    if not text:
        return text
    text = _QUERY_RE.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _JSON_RE.sub(lambda m: f'"{m.group(1)}":"{MASK}"', text)
    return _AUTH_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)


#: ``//user:password@`` in a URL
_USERINFO_RE = re.compile(r"(//[^/?#@:\s]*):[^/?#@\s]*@")


def redact_url(url: str) -> str:
    """Return ``url`` with secret query parameters (``access_token``, ``wsc`` ...) and the
    password of a ``user:password@`` part masked."""
    url = _USERINFO_RE.sub(lambda m: f"{m.group(1)}:{MASK}@", url)
    return _QUERY_RE.sub(lambda m: f"{m.group(1)}={MASK}", url)


class Secret:
    """A string credential that never shows itself in ``repr``, ``str`` or f-strings.

    Call :meth:`get` where the real value is needed (an HTTP header, a form body).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the secret value."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        raise TypeError("Secret values cannot be pickled")


@overload
def as_secret(value: str | Secret) -> Secret: ...
@overload
def as_secret(value: str | Secret | None) -> Secret | None: ...
def as_secret(value: str | Secret | None) -> Secret | None:
    """``value`` as a :class:`Secret`: a string is wrapped, a Secret and ``None`` are kept."""
    return value if value is None or isinstance(value, Secret) else Secret(value)
