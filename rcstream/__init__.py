"""rcstream: stream RingCentral platform events over the WebSocket gateway."""

from __future__ import annotations

from rcstream._http import Response
from rcstream.auth import (
    Auth,
    JWTAuth,
    PasswordAuth,
    RefreshTokenAuth,
    StaticTokenAuth,
    TokenProviderAuth,
)
from rcstream.client import Client, ClientOptions, ClientStats, Subscription
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
from rcstream.models import Notification
from rcstream.models.lifecycle import Connected, Disconnected, Gap, Lifecycle

__version__ = "0.1.0"

__all__ = [
    "Auth",
    "AuthenticationError",
    "Client",
    "ClientOptions",
    "ClientStats",
    "ConfigurationError",
    "Connected",
    "ConnectionFailedError",
    "Disconnected",
    "FrameDecodeError",
    "Gap",
    "GatewayError",
    "JWTAuth",
    "Lifecycle",
    "Notification",
    "PasswordAuth",
    "PermissionDeniedError",
    "ProtocolError",
    "RCStreamError",
    "RateLimitedError",
    "RecoveryFailedError",
    "RefreshTokenAuth",
    "RequestTimeoutError",
    "Response",
    "StaticTokenAuth",
    "StreamClosedError",
    "Subscription",
    "TokenProviderAuth",
    "UsageError",
    "__version__",
]
