"""REST over HTTPS with aiohttp: one session per client, errors translated to ours.

Internal module. :class:`RestClient` sends requests and maps failures onto the
rcstream error tree (``429`` → :class:`RateLimitedError`, ``401`` → :class:`AuthenticationError`,
``403`` → :class:`PermissionDeniedError`, network failures → :class:`ConnectionFailedError`).
:class:`AuthBudget` spaces out calls of the platform's *Auth* rate-limit group
(token and wstoken share about five per minute).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio

from rcstream.exceptions import (
    AuthenticationError,
    ConnectionFailedError,
    GatewayError,
    PermissionDeniedError,
    RateLimitedError,
)
from rcstream.redact import redact, redact_url

__all__ = ["AuthBudget", "Response", "RestClient", "error_from_response", "never_sent"]

logger = logging.getLogger(__name__)

#: Error codes that mean "the app or user lacks a permission": fatal, never retried.
PERMISSION_CODES = frozenset({"CMN-401", "SUB-528", "InsufficientPermissions", "CMN-408"})
#: Advice for permission errors, by code.
PERMISSION_HINTS = {
    "SUB-528": "add the 'WebSocket Subscriptions' permission to the app in the developer console",
    "SUB-505": "the user has too many subscriptions for this app; delete unused ones "
    "(GET and DELETE /restapi/v1.0/subscription) or wait for old WebSocket sessions to expire",
    "CMN-401": "add the permission the error names to the app in the developer console",
}


@dataclass(frozen=True, slots=True)
class Response:
    """A REST answer: HTTP-like ``status``, response ``headers`` and the decoded ``body``.

    ``body`` is parsed JSON, raw text for non-JSON bodies, or ``None`` when empty.
    """

    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    code = body.get("errorCode")
    message = body.get("message") or body.get("error_description")
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = code or errors[0].get("errorCode")
        message = message or errors[0].get("message")
    if code is None and isinstance(body.get("error"), str):
        code = body["error"]
    return (
        code if isinstance(code, str) else None,
        redact(message) if isinstance(message, str) else None,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, in any letter case (HTTP header names are case-insensitive)."""
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lower), None)


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    raw = _header(headers, name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


#: The longest ``Retry-After`` honoured: the platform's penalty is 60 s; a server asking
#: for more than an hour (or for ``inf``) is not waited on for ever
_MAX_RETRY_AFTER = 3600.0


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (any header case), capped; None if absent or unreadable."""
    value = _header_number(headers, "Retry-After")
    return None if value is None else min(value, _MAX_RETRY_AFTER)


def error_from_response(what: str, response: Response) -> Exception:
    """Translate a non-2xx :class:`Response` into the matching rcstream exception."""
    code, message = _error_fields(response.body)
    detail = f" ({code}: {message})" if code or message else ""
    status = response.status
    if status == 429:
        retry_after = _retry_after(response.headers)
        wait = f"; the server asked to wait {retry_after:g} s" if retry_after is not None else ""
        return RateLimitedError(
            f"{what} was rate limited (HTTP 429){wait}; slow down or raise the app's limits.",
            retry_after=retry_after,
        )
    if code in PERMISSION_CODES or status == 403:
        hint = PERMISSION_HINTS.get(code or "", "check the app's permissions and the user's role")
        return PermissionDeniedError(
            f"{what} was refused{detail}: {hint}.", error_code=code, status=status
        )
    if (
        status == 401
        or (code or "").startswith("OAU-")
        or code in {"invalid_grant", "invalid_client"}
    ):
        return AuthenticationError(
            f"{what} failed{detail}; check the client id, secret and credentials.",
            error_code=code,
            status=status,
        )
    return GatewayError(
        f"{what} failed with HTTP {status}{detail}.",
        error_code=code,
        status=status,
        body=response.body,
    )


def never_sent(exc: BaseException) -> bool:
    """True if ``exc`` (a :class:`ConnectionFailedError` from :meth:`RestClient.send`) means
    the request never reached an HTTP server: connection refused, DNS or TLS failure.

    A timeout or a dropped connection is *not* such a failure: the server may have counted
    the request.
    """
    cause = exc.__cause__
    return isinstance(exc, ConnectionFailedError) and isinstance(
        cause, aiohttp.ClientConnectorError
    )


@dataclass
class AuthBudget:
    """A sliding-window limit on Auth-group calls (token, refresh and wstoken), shared per client.

    ``calls`` per ``window`` seconds; :meth:`acquire` waits (with the injected ``sleep``)
    until a call fits. ``None`` for ``calls`` disables the limit. The platform's default is 5
    calls per 60 s with a 60 s penalty after a 429 (the developer guide's
    rate-limits page), which the defaults mirror.

    An attempt that got no HTTP response at all (refused, DNS, TLS: :func:`never_sent`) is
    not counted: :meth:`spend` gives its slot back. A timeout is counted (the server may
    have seen it).

    Compressed time: tests that shrink token lifetimes by a factor *k* (a 2 s access token
    instead of 3600 s is k = 1800) shrink ``window`` by the same *k* and keep ``calls``, on
    both sides (``Emulator(auth_rate_window=...)`` and ``ClientOptions(auth_rate_window=...)``),
    so the ratio of Auth calls to token lifetimes stays what production allows.
    """

    calls: int | None = 5
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    _stamps: deque[float] = field(default_factory=deque)
    #: calls sent and not answered yet (the server may not have counted them)
    _in_flight: int = 0
    #: the rate-limit group the server named first for these calls (see :meth:`observe`)
    _group: str | None = None

    async def acquire(self) -> float:
        """Wait until one more Auth-group call fits in the window, record it, return its stamp."""
        if self.calls is None:
            return self.clock()
        while True:
            now = self.clock()
            while self._stamps and now - self._stamps[0] >= self.window:
                self._stamps.popleft()
            if len(self._stamps) < self.calls:
                self._stamps.append(now)
                return now
            wait = self.window - (now - self._stamps[0])
            logger.info("Waiting %.1f s to stay inside the Auth rate limit", wait)
            await self.sleep(wait)

    def refund(self, stamp: float) -> None:
        """Forget one call recorded at ``stamp`` (it never reached the server)."""
        with contextlib.suppress(ValueError):  # aged out or replaced by a penalty meanwhile
            self._stamps.remove(stamp)

    async def spend(self, send: Callable[[], Awaitable[Response]]) -> Response:
        """Run one Auth-group request inside the budget.

        The slot is given back when the request raised a :func:`never_sent` failure. An
        answered call is counted from the moment of its answer (the server counted it at
        some point in between). A 429 answer fills the window for its ``Retry-After`` (or
        the whole window).
        """
        stamp = await self.acquire()
        self._in_flight += 1
        try:
            response = await send()
        except ConnectionFailedError as exc:
            if never_sent(exc):
                self.refund(stamp)
            raise
        finally:
            self._in_flight -= 1
        if response.status == 429:
            self.penalise(_retry_after(response.headers))
        elif self.calls is not None:
            # the server counted the call somewhere between sending and answering: count it
            # from the answer, so our window never ends before the server's does
            self.refund(stamp)
            self._stamps.append(self.clock())
            self.observe(response.headers)
        return response

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the server's own count from an answered Auth-group call's rate-limit headers
        (``X-Rate-Limit-Group``/``-Limit``/``-Remaining``/``-Window``, the developer guide's
        rate-limit page), when it sends them.

        ``Remaining`` (this call included; our calls still in flight are added to what it
        leaves) replaces our count: lower when other clients of the same user and app spent
        some of the window (another process, a CLI command), so we wait instead of drawing
        a 429 and its penalty; higher when the server's window moved on or the server
        restarted and forgot our calls (a restarted emulator run with ``--auth-rate-limit``).

        Only ever as strict as our own limit or stricter: headers whose ``Limit`` is above
        the configured one are ignored whole (a looser group, or an app whose limit was
        raised: our own count stays the safer one), as are headers of a group other than
        the first one seen (the group names are not hard-coded, as the guide asks) and
        headers without both ``Limit`` and ``Remaining``. A smaller ``Limit`` and a longer
        ``Window`` are adopted.
        """
        if self.calls is None:
            return
        limit = _header_number(headers, "X-Rate-Limit-Limit")
        remaining = _header_number(headers, "X-Rate-Limit-Remaining")
        if limit is None or remaining is None or not 1 <= limit <= self.calls:
            return
        group = _header(headers, "X-Rate-Limit-Group")
        if self._group is None:
            self._group = group
        elif group != self._group:
            return
        self.calls = int(limit)
        window = _header_number(headers, "X-Rate-Limit-Window")
        if window is not None and window > self.window:
            self.window = window
        now = self.clock()
        stamps = self._stamps
        while stamps and now - stamps[0] >= self.window:
            stamps.popleft()
        # our calls still in flight may not be in the server's count yet: keep them
        used = max(0, self.calls - int(remaining)) + self._in_flight
        while len(stamps) > used:
            stamps.popleft()  # the server no longer counts our oldest calls
        while len(stamps) < used:
            stamps.append(now)  # spent elsewhere: counted from now, the safe side

    def penalise(self, retry_after: float | None) -> None:
        """Record a 429 so the next calls wait (fills the window)."""
        if self.calls is None:
            return
        now = self.clock()
        self._stamps.clear()
        start = now - self.window + (retry_after if retry_after is not None else self.window)
        self._stamps.extend([start] * self.calls)


class RestClient:
    """Sends REST requests to ``server_url`` over one aiohttp session."""

    def __init__(
        self,
        server_url: str,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 30.0,
        user_agent: str = "rcstream",
        verify_ssl: bool = True,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self._session = session
        self._timeout = timeout
        self._user_agent = user_agent
        self._ssl: bool | None = None if verify_ssl else False

    async def send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
        bearer: str | None = None,
        basic: tuple[str, str] | None = None,
        what: str | None = None,
    ) -> Response:
        """Send one request and return the :class:`Response` whatever its status.

        Network failures and timeouts raise :class:`ConnectionFailedError`.
        """
        url = path if path.startswith(("http://", "https://")) else self.server_url + path
        headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        elif basic is not None:
            raw = f"{basic[0]}:{basic[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        label = what or f"{method} {redact_url(path)}"
        kwargs: dict[str, Any] = {}
        if form is not None:
            kwargs["data"] = dict(form)
        elif json_body is not None:
            kwargs["json"] = json_body
        if query:
            kwargs["params"] = {k: str(v) for k, v in query.items()}
        if self._ssl is False:
            kwargs["ssl"] = False
        try:
            async with self._session.request(
                method,
                url,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                **kwargs,
            ) as resp:
                raw = await resp.read()
                # a proxy or captive portal may answer in any charset: never fail on it
                text = raw.decode(resp.get_encoding() if resp.charset else "utf-8", "replace")
                status = resp.status
                resp_headers = dict(resp.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ConnectionFailedError(
                f"{label} could not reach {self.server_url} ({type(exc).__name__}); "
                "check the server URL and the network."
            ) from exc
        body: Any = None
        if text:
            try:
                body = json.loads(text)
            except (ValueError, RecursionError):  # not JSON, or hostile nesting
                body = text
        logger.debug("%s %s -> %s", method, redact_url(path), status)
        return Response(status=status, headers=resp_headers, body=body)
