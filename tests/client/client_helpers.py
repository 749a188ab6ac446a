"""Helpers for client tests: fast client options, publishing and taking events."""

from __future__ import annotations

import asyncio

import anyio
from support import client_for, fast_options, take, telephony

import rcstream
from rcstream.emulator import Emulator

TELEPHONY = "/restapi/v1.0/account/~/extension/~/telephony/sessions"
PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"

__all__ = [
    "PRESENCE",
    "TELEPHONY",
    "SleepRecorder",
    "background_done",
    "client_for",
    "fast_options",
    "presence",
    "take",
    "telephony",
]


class SleepRecorder:
    """An injectable sleep that records each wait (and really waits, briefly)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await anyio.sleep(min(seconds, 0.2))


async def presence(emulator: Emulator) -> str:
    return await emulator.publish_generated("presence")


async def background_done(client: rcstream.Client, limit: float = 10.0) -> None:
    """Wait for the client's background tasks (best-effort deletions of old subscriptions)
    to finish: an event to wait on instead of polling a counter."""
    with anyio.fail_after(limit):
        while client._background:
            await asyncio.gather(*client._background, return_exceptions=True)
