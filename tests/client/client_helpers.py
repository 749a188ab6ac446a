"""Helpers for client tests: fast client options, publishing and taking events."""

from __future__ import annotations

from typing import Any

import anyio

import rcstream
from rcstream.emulator import Emulator

TELEPHONY = "/restapi/v1.0/account/~/extension/~/telephony/sessions"
PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"


class SleepRecorder:
    """An injectable sleep that records each wait (and really waits, briefly)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await anyio.sleep(min(seconds, 0.2))


def fast_options(**overrides: Any) -> rcstream.ClientOptions:
    """Client options whose timeouts and backoff are milliseconds, for tests."""
    base: dict[str, Any] = {
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
        "auth_rate_limit": None,
        "heartbeat_interval": 5.0,
        "heartbeat_timeout": 5.0,
        "connect_timeout": 5.0,
        "request_timeout": 5.0,
        "close_timeout": 2.0,
        "ping_interval": None,
        "max_attempts": 20,
    }
    base.update(overrides)
    return rcstream.ClientOptions(**base)


def client_for(emulator: Emulator, **overrides: Any) -> rcstream.Client:
    return rcstream.Client.from_env(emulator.env(), options=fast_options(**overrides))


async def telephony(emulator: Emulator) -> str:
    return await emulator.publish_generated("telephony-sessions")


async def presence(emulator: Emulator) -> str:
    return await emulator.publish_generated("presence")


async def take(events: rcstream.Subscription, n: int, limit: float = 10.0) -> list[Any]:
    """The next ``n`` items from ``events`` (fails the test after ``limit`` seconds)."""
    out: list[Any] = []
    with anyio.fail_after(limit):
        async for item in events:
            out.append(item)
            if len(out) == n:
                break
    return out
