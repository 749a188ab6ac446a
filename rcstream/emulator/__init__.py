"""A local RingCentral platform emulator: OAuth, REST and the WebSocket gateway.

* :class:`Emulator` runs in the current event loop (``async with Emulator() as emu``).
* :class:`EmulatorThread` runs one in a background thread for synchronous clients such as
  the official ``ringcentral`` SDK.
* :func:`serve` backs the ``rcstream emulator`` command.

The emulator never imports the client's codec (``rcstream.protocol``, ``rcstream.models``,
``rcstream.filters``): its frames are built independently in :mod:`._wire`.
"""

from __future__ import annotations

from rcstream.emulator._state import (
    EmulatorStats,
    ExtensionRecord,
    GatewaySessionInfo,
    OAuthSessionInfo,
    SubscriptionRecord,
)
from rcstream.emulator._thread import EmulatorThread, serve
from rcstream.emulator.server import Emulator

__all__ = [
    "Emulator",
    "EmulatorStats",
    "EmulatorThread",
    "ExtensionRecord",
    "GatewaySessionInfo",
    "OAuthSessionInfo",
    "SubscriptionRecord",
    "serve",
]
