"""The official `ringcentral` Python SDK against the rcstream emulator.

    python examples/official_sdk.py 3        # prints three notifications, then exits

With no ``RINGCENTRAL_*`` variables set it starts the bundled emulator in a thread (two
events a second). To use one of your own, start it in one shell and paste the four lines
it prints into another:

    rcstream emulator --rate 2
    export RINGCENTRAL_SERVER_URL=... RINGCENTRAL_CLIENT_ID=... \
           RINGCENTRAL_CLIENT_SECRET=... RINGCENTRAL_JWT=...

This is the emulator's fidelity check: code written for the real platform with the
official SDK runs unchanged against it (`pip install ringcentral`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Mapping

from ringcentral import SDK  # type: ignore[import-untyped]
from ringcentral.websocket.events import WebSocketEvents  # type: ignore[import-untyped]


async def main(count: int, env: Mapping[str, str]) -> None:
    sdk = SDK(
        env["RINGCENTRAL_CLIENT_ID"],
        env["RINGCENTRAL_CLIENT_SECRET"],
        env["RINGCENTRAL_SERVER_URL"],
    )
    # the SDK's REST calls are blocking (`requests`): keep them off the event loop
    await asyncio.to_thread(sdk.platform().login, jwt=env["RINGCENTRAL_JWT"])
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
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    try:
        if "RINGCENTRAL_SERVER_URL" in os.environ:
            asyncio.run(main(n, os.environ))
        else:
            from rcstream.emulator import EmulatorThread

            with EmulatorThread(event_rate=2.0) as emulator:
                asyncio.run(main(n, emulator.env()))
    except KeyboardInterrupt:
        sys.exit(130)  # Ctrl-C: main() was cancelled and cleaned up; no traceback
