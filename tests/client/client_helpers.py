"""Helpers for client tests: fast client options, publishing and taking events."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
from support import fast_options

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


def client_for(emulator: Emulator, **overrides: Any) -> rcstream.Client:
    return rcstream.Client.from_env(emulator.env(), options=fast_options(**overrides))


async def telephony(emulator: Emulator) -> str:
    return await emulator.publish_generated("telephony-sessions")


async def presence(emulator: Emulator) -> str:
    return await emulator.publish_generated("presence")


async def background_done(client: rcstream.Client, limit: float = 10.0) -> None:
    """Wait for the client's background tasks (best-effort deletions of old subscriptions)
    to finish: an event to wait on instead of polling a counter."""
    with anyio.fail_after(limit):
        while client._background:
            await asyncio.gather(*client._background, return_exceptions=True)


async def take(events: rcstream.Subscription, n: int, limit: float = 10.0) -> list[Any]:
    """The next ``n`` items from ``events`` (fails the test after ``limit`` seconds)."""
    out: list[Any] = []
    with anyio.fail_after(limit):
        async for item in events:
            out.append(item)
            if len(out) == n:
                break
    return out
