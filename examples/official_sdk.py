"""The official `ringcentral` Python SDK against the rcstream emulator.

Start a local platform in one shell and paste the four lines it prints into another:

    rcstream emulator --rate 2
    export RINGCENTRAL_SERVER_URL=... RINGCENTRAL_CLIENT_ID=... \
           RINGCENTRAL_CLIENT_SECRET=... RINGCENTRAL_JWT=...
    python examples/official_sdk.py 3        # prints three notifications, then exits

This is the emulator's fidelity check: code written for the real platform with the
official SDK runs unchanged against it (`pip install ringcentral`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys

from ringcentral import SDK  # type: ignore[import-untyped]
from ringcentral.websocket.events import WebSocketEvents  # type: ignore[import-untyped]


async def main(count: int) -> None:
    sdk = SDK(
        os.environ["RINGCENTRAL_CLIENT_ID"],
        os.environ["RINGCENTRAL_CLIENT_SECRET"],
        os.environ["RINGCENTRAL_SERVER_URL"],
    )
    # the SDK's REST calls are blocking (`requests`): keep them off the event loop
    await asyncio.to_thread(sdk.platform().login, jwt=os.environ["RINGCENTRAL_JWT"])
    ws = sdk.create_web_socket_client()
    received: asyncio.Queue[list[object]] = asyncio.Queue()
    ws.on(WebSocketEvents.receiveSubscriptionNotification, received.put_nowait)
    connection = asyncio.create_task(ws.create_new_connection())
    try:
        await ws.create_subscription(
            [
                "/restapi/v1.0/account/~/extension/~/presence",
                "/restapi/v1.0/account/~/extension/~/telephony/sessions",
                "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS",
            ]
        )
        for _ in range(count):
            _header, event = await asyncio.wait_for(received.get(), timeout=30)
            print(json.dumps(event), flush=True)
    finally:
        await ws.close_connection()
        with contextlib.suppress(Exception):
            await connection
        # the SDK leaves its 600 s heartbeat task running after close; end it
        for task in asyncio.all_tasks():
            if getattr(task.get_coro(), "__qualname__", "").endswith("timer_function"):
                task.cancel()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
