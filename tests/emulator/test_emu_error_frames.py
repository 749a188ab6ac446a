"""Unsolicited ``Error`` frames (issue 11 item 6): ``send_error``.

Documented terminal Errors: ``WSG-902``/``WSG-903`` (DOCS ``heart-beats.md:7-20``) and
``WSG-400`` followed by a close (RECOV exp. 6). Whether non-terminal ones exist is unknown;
the emulator can send either.
"""

from __future__ import annotations

import json

from emu_helpers import Rc, Ws

V1 = "/restapi/v1.0"
FILTER = f"{V1}/account/~/extension/~/presence"


async def subscribed(rc: Rc) -> Ws:
    ws = await rc.connect()
    await ws.subscribe(FILTER)
    return ws


async def test_an_unknown_code_keeps_the_socket_delivering(rc: Rc) -> None:
    ws = await subscribed(rc)
    assert await rc.emu.send_error("XYZ-123", "Something odd") == 1
    header, body = await ws.recv()
    assert (header["type"], header["status"]) == ("Error", 400)
    assert (body["errorCode"], body["message"]) == ("XYZ-123", "Something odd")
    path = f"{V1}/account/{rc.emu.account_id}/extension/{rc.emu.extension_id}/presence"
    await rc.emu.publish(path, {"n": 1})
    assert (await ws.notification())["body"] == {"n": 1}


async def test_close_true_sends_the_error_then_a_close_handshake(rc: Rc) -> None:
    ws = await subscribed(rc)
    assert await rc.emu.send_error("WSG-400", "Bad request", close=True) == 1
    frames, closed = await ws.closed()
    assert frames[-1][1]["errorCode"] == "WSG-400"
    assert closed.rcvd is not None and closed.rcvd.code == 1008  # a clean close frame
    assert rc.emu.stats.closes_by_reason["fault_error"] == 1


async def test_terminal_timeouts_close_with_1000(rc: Rc) -> None:
    ws = await subscribed(rc)
    await rc.emu.send_error("WSG-903", "Absolute timeout expired", close=True)
    frames, closed = await ws.closed()
    assert json.dumps(frames[-1]).count("WSG-903") >= 1
    assert closed.rcvd is not None and closed.rcvd.code == 1000
