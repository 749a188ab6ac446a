"""rcstream: stream RingCentral platform events over the WebSocket gateway."""

from __future__ import annotations

from rcstream.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    FrameDecodeError,
    GatewayError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    RCStreamError,
    RecoveryFailedError,
    RequestTimeoutError,
    StreamClosedError,
    UsageError,
)

__version__ = "0.1.0"

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
    "__version__",
]
