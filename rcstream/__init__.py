"""rcstream: stream RingCentral platform events over the WebSocket gateway.

The public names below are imported lazily (PEP 562), so that ``import rcstream`` and
``rcstream --help`` stay fast; type checkers see ordinary imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from rcstream.models.lifecycle import Connected, Disconnected, Gap, Lifecycle, Reconnecting

from rcstream.version import __version__

_LAZY: dict[str, str] = {
    "Auth": "rcstream.auth",
    "AuthenticationError": "rcstream.exceptions",
    "Client": "rcstream.client",
    "ClientOptions": "rcstream.client",
    "ClientStats": "rcstream.client",
    "ConfigurationError": "rcstream.exceptions",
    "Connected": "rcstream.models.lifecycle",
    "ConnectionFailedError": "rcstream.exceptions",
    "Disconnected": "rcstream.models.lifecycle",
    "FrameDecodeError": "rcstream.exceptions",
    "Gap": "rcstream.models.lifecycle",
    "GatewayError": "rcstream.exceptions",
    "JWTAuth": "rcstream.auth",
    "Lifecycle": "rcstream.models.lifecycle",
    "Notification": "rcstream.models",
    "PasswordAuth": "rcstream.auth",
    "PermissionDeniedError": "rcstream.exceptions",
    "ProtocolError": "rcstream.exceptions",
    "RCStreamError": "rcstream.exceptions",
    "RateLimitedError": "rcstream.exceptions",
    "Reconnecting": "rcstream.models.lifecycle",
    "RecoveryFailedError": "rcstream.exceptions",
    "RefreshTokenAuth": "rcstream.auth",
    "RequestTimeoutError": "rcstream.exceptions",
    "Response": "rcstream._http",
    "StaticTokenAuth": "rcstream.auth",
    "StreamClosedError": "rcstream.exceptions",
    "Subscription": "rcstream.client",
    "TokenProviderAuth": "rcstream.auth",
    "UsageError": "rcstream.exceptions",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rcstream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "Reconnecting",
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
