"""Issue 11 item 9: closing never hangs, whenever it is interrupted."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from client_helpers import TELEPHONY, client_for

from rcstream.emulator import Emulator


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 5, 8, 13, 21, 34, 55])
async def test_cancelling_aclose_at_any_step_still_closes_within_close_timeout(
    emu: Emulator, steps: int
) -> None:
    # a second Ctrl-C during shutdown cancels the task that is closing the client: the
    # close is shielded and every wait in it is bounded by close_timeout
    client = client_for(emu, close_timeout=0.5)
    await client.__aenter__()
    sub = client.subscribe(TELEPHONY)
    await sub.__aenter__()
    closing = asyncio.ensure_future(client.aclose())
    for _ in range(steps):
        await asyncio.sleep(0)
    closing.cancel()
    with anyio.fail_after(5):  # several close_timeouts at most, never forever
        await asyncio.wait([closing])
        await client.aclose()  # idempotent, returns at once
    assert client._closing and client._http is None
    assert not client.connected
    with anyio.fail_after(5):
        await emu.wait_for_connections(0)
