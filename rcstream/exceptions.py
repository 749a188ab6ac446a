"""The rcstream error tree.

Every exception rcstream raises on purpose derives from :class:`RCStreamError`.
Third-party exceptions (aiohttp, websockets, pydantic) never escape untranslated:
they are re-raised as one of these with ``raise ... from exc``.

.. code-block:: text

    RCStreamError
    ├── ConfigurationError        missing or invalid settings (env vars, filters, options)
    ├── UsageError                the API was used in a way it does not support
    ├── AuthenticationError       OAuth failed: bad credentials, revoked session (do not retry)
    │   └── PermissionDeniedError the app lacks a permission, e.g. WebSocketsSubscription
    ├── RateLimitedError          HTTP 429 the retry budget could not absorb (has retry_after)
    ├── ConnectionFailedError     the socket could not be opened or kept (network, handshake)
    ├── ProtocolError             the server sent something the protocol does not allow
    │   └── FrameDecodeError      one frame could not be decoded (the stream skips it)
    ├── GatewayError              the gateway or a REST call over it answered with an error
    │   │                         (carries ``error_code``, ``status`` and ``message``)
    │   └── RequestTimeoutError   a ClientRequest got no answer within its deadline
    ├── RecoveryFailedError       the session could not be recovered or re-created
    └── StreamClosedError         the stream stopped and cannot deliver more events

Messages are one sentence that says what happened and what to do about it. They never
contain secrets: tokens and credentials are redacted before they reach an exception.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConnectionFailedError",
    "FrameDecodeError",
    "GatewayError",
    "PermissionDeniedError",
    "ProtocolError",
    "RCStreamError",
    "RateLimitedError",
    "RecoveryFailedError",
    "RequestTimeoutError",
    "StreamClosedError",
    "UsageError",
]


class RCStreamError(Exception):
    """Root of every error rcstream raises on purpose."""


class ConfigurationError(RCStreamError):
    """Settings are missing or invalid (environment variables, options, event filters)."""


class UsageError(RCStreamError):
    """The library was used in a way it does not support (e.g. iterating a closed stream)."""


class AuthenticationError(RCStreamError):
    """OAuth failed in a way that retrying will not fix (bad credentials, revoked session).

    ``error_code`` is the platform's code when it sent one (``OAU-*``, ``invalid_grant`` ...).
    """

    def __init__(self, message: str, *, error_code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.error_code = error_code
        self.status = status


class PermissionDeniedError(AuthenticationError):
    """The app or user lacks a permission the request needs (``CMN-401``, ``SUB-528`` ...)."""


class RateLimitedError(RCStreamError):
    """The platform answered 429 and the retry budget could not absorb it.

    ``retry_after`` is the wait the server asked for, in seconds, or ``None`` if it gave none.
    """

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ConnectionFailedError(RCStreamError):
    """The WebSocket or HTTP connection could not be opened or was lost."""


class ProtocolError(RCStreamError):
    """The server sent something the gateway protocol does not allow."""


class FrameDecodeError(ProtocolError):
    """One frame could not be decoded. ``raw`` holds a truncated, redacted copy of it."""

    def __init__(self, message: str, *, raw: str = ""):
        super().__init__(message)
        self.raw = raw


class GatewayError(RCStreamError):
    """The gateway, or a REST call made over it, answered with an error.

    ``error_code`` is the platform's code (``WSG-902``, ``SUB-505`` ...) or ``None``;
    ``status`` is the HTTP-like status when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        status: int | None = None,
        body: object = None,
    ):
        super().__init__(message)
        self.error_code = error_code
        self.status = status
        self.body = body


class RequestTimeoutError(GatewayError):
    """A request sent over the socket got no answer with its ``messageId`` in time."""


class RecoveryFailedError(RCStreamError):
    """The session could neither be recovered nor re-created within the retry budget."""


class StreamClosedError(RCStreamError):
    """The event stream has stopped and will deliver no more events."""
