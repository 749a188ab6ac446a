"""The official ``ringcentral`` SDK (0.9.2) against the emulator: login, wstoken, connect,
subscribe (with the SDK's trailing-slash path) and receive notifications.

The SDK calls ``requests`` synchronously from its async code, which blocks the event loop it
runs in; the emulator therefore runs in its own thread (:class:`EmulatorThread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from ringcentral import SDK  # type: ignore[import-untyped]
from ringcentral.websocket.events import WebSocketEvents  # type: ignore[import-untyped]
from websockets.exceptions import ConnectionClosed

from rcstream.emulator import EmulatorThread

STEP = 5.0


def _cancel_sdk_heartbeat_tasks() -> list[asyncio.Task[Any]]:
    # open_connection() starts a 600 s heartbeat task it never cancels; end it ourselves.
    tasks = [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "").endswith("timer_function")
    ]
    for task in tasks:
        task.cancel()
    return tasks


@pytest.fixture
def emulator() -> Any:
    with EmulatorThread(auth_rate_limit=None) as emu:
        yield emu


async def test_official_sdk_receives_notifications(emulator: EmulatorThread) -> None:
    sdk = SDK(emulator.client_id, emulator.client_secret, emulator.server_url)
    platform = sdk.platform()
    await asyncio.to_thread(platform.login, jwt=emulator.jwt)
    assert platform.logged_in()

    client = sdk.create_web_socket_client()
    connected = asyncio.Event()
    notifications: asyncio.Queue[list[Any]] = asyncio.Queue()
    messages: list[str] = []
    client.on(WebSocketEvents.connectionCreated, lambda _client: connected.set())
    client.on(WebSocketEvents.receiveSubscriptionNotification, notifications.put_nowait)
    client.on(WebSocketEvents.receiveMessage, messages.append)

    connection = asyncio.create_task(client.create_new_connection())
    try:
        async with asyncio.timeout(STEP):
            await connected.wait()
        details = json.loads(client.get_connection_info()["connection_details"])
        assert details[0]["type"] == "ConnectionDetails"

        event_filter = "/restapi/v1.0/account/~/extension/~/presence"
        async with asyncio.timeout(STEP):
            await client.create_subscription([event_filter])
        (sub,) = await asyncio.to_thread(emulator.wait_for_subscription)
        assert sub.transport == "WebSocket"

        path = (
            f"/restapi/v1.0/account/{emulator.account_id}"
            f"/extension/{emulator.extension_id}/presence"
        )
        uid = await asyncio.to_thread(emulator.publish, path, {"telephonyStatus": "Ringing"})
        async with asyncio.timeout(STEP):
            header, event = await notifications.get()
        assert header["type"] == "ServerNotification"
        assert event["uuid"] == uid
        assert event["subscriptionId"] == sub.id
        assert event["body"] == {"telephonyStatus": "Ringing"}

        generated = await asyncio.to_thread(emulator.publish_generated, "presence")
        async with asyncio.timeout(STEP):
            _, event = await notifications.get()
        assert event["uuid"] == generated

        # The subscription reply came through the SDK's receive loop as well.
        replies = [json.loads(m) for m in messages]
        assert any(r[0]["type"] == "ClientRequest" and r[0]["status"] == 200 for r in replies)
    finally:
        with contextlib.suppress(Exception):
            await client.close_connection()
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            async with asyncio.timeout(STEP):
                await connection
        tasks = _cancel_sdk_heartbeat_tasks()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert emulator.stats.grants == {"jwt": 1}
    assert emulator.stats.wstokens == 1
    await asyncio.to_thread(emulator.wait_for_connections, 0)
