"""A local RingCentral platform emulator: OAuth, REST and the WebSocket gateway.

* :class:`Emulator` runs in the current event loop (``async with Emulator() as emu``).
* :class:`EmulatorThread` runs one in a background thread for synchronous clients such as
  the official ``ringcentral`` SDK.
* :class:`EmulatorOptions` holds every option (``Emulator(**keywords)`` builds one).

The emulator never imports the client's codec (``rcstream.protocol``, ``rcstream.models``,
``rcstream.filters``): its frames are built independently in :mod:`._wire`.
"""

from __future__ import annotations

from rcstream.emulator._state import (
    AccountRecord,
    EmulatorStats,
    ExtensionRecord,
    GatewaySessionInfo,
    OAuthSessionInfo,
    SubscriptionRecord,
)
from rcstream.emulator._thread import EmulatorThread
from rcstream.emulator.server import Emulator, EmulatorOptions

__all__ = [
    "AccountRecord",
    "Emulator",
    "EmulatorOptions",
    "EmulatorStats",
    "EmulatorThread",
    "ExtensionRecord",
    "GatewaySessionInfo",
    "OAuthSessionInfo",
    "SubscriptionRecord",
]
