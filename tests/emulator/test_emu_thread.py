"""EmulatorThread (synchronous use from another thread)."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from typing import Any

import pytest
from websockets.sync.client import connect

from rcstream.emulator import EmulatorThread

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _post(url: str, *, data: bytes, headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _ws_url(emu: EmulatorThread) -> str:
    basic = base64.b64encode(f"{emu.client_id}:{emu.client_secret}".encode()).decode()
    tokens = _post(
        f"{emu.server_url}/restapi/oauth/token",
        data=urllib.parse.urlencode({"grant_type": JWT_GRANT, "assertion": emu.jwt}).encode(),
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    ws = _post(
        f"{emu.server_url}/restapi/oauth/wstoken",
        data=b"",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    return f"{ws['uri']}?access_token={ws['ws_access_token']}"


def test_emulator_thread_sync_round_trip() -> None:
    with EmulatorThread(seed=1) as emu:
        assert emu.server_url.startswith("http://127.0.0.1:")
        assert set(emu.env()) >= {"RINGCENTRAL_SERVER_URL", "RINGCENTRAL_JWT"}
        assert emu.extension_ids[0] == emu.extension_id
        with connect(_ws_url(emu), open_timeout=5) as ws:
            details = json.loads(ws.recv(timeout=5))
            assert details[0]["type"] == "ConnectionDetails"
            emu.wait_for_connections(1)
            ws.send(
                json.dumps(
                    [
                        {
                            "type": "ClientRequest",
                            "messageId": "s1",
                            "method": "POST",
                            "path": "/restapi/v1.0/subscription",
                        },
                        {
                            "eventFilters": ["/restapi/v1.0/account/~/extension/~/presence"],
                            "deliveryMode": {"transportType": "WebSocket"},
                        },
                    ]
                )
            )
            assert json.loads(ws.recv(timeout=5))[0]["status"] == 200
            (sub,) = emu.wait_for_subscription()
            assert emu.subscriptions == (sub,)
            assert emu.sessions[0].subscription_id == sub.id
            uid = emu.publish_generated("presence")
            assert json.loads(ws.recv(timeout=5))[1]["uuid"] == uid
            emu.wait_for_stat("notifications_sent", 1)

            # Fault methods are thread-safe wrappers.
            emu.rate_limit_next("wstoken", retry_after=1)
            emu.fail_next_recovery()
            emu.set_timeouts(idle=1000)
            assert emu.go_silent() == 1
            assert emu.end_silence() == 1
            assert emu.inject_raw("raw") == 1
            assert ws.recv(timeout=5) == "raw"
            assert emu.close_connections(4000, "bye") == 1
            emu.wait_until(lambda e: e.connected == 0)
        assert emu.stats.closes_by_reason == {"fault_close": 1}
        assert emu.oauth_sessions[0].extension_id == emu.extension_id
        assert emu.call(lambda e: e.account_id) == emu.account_id


def test_emulator_thread_faults_that_end_sockets() -> None:
    with EmulatorThread(auth_rate_limit=None) as emu:
        with connect(_ws_url(emu), open_timeout=5) as ws:
            ws.recv(timeout=5)
            assert emu.abort_connections() == 1
        with connect(_ws_url(emu), open_timeout=5) as ws:
            ws.recv(timeout=5)
            assert emu.expire_access_tokens(close_sockets=True) == 2
        with connect(_ws_url(emu), open_timeout=5) as ws:
            ws.recv(timeout=5)
            assert emu.revoke_oauth_sessions() == 3
        emu.wait_for_connections(0)


def test_emulator_thread_reports_start_errors() -> None:
    with pytest.raises(ValueError, match="extensions"), EmulatorThread(extensions=0):
        pass


def test_emulator_thread_forwards_every_control_method_generically() -> None:
    with EmulatorThread(options=None, accounts=2, seed=2) as emu:
        assert len(emu.accounts) == 2  # a property, read on the emulator's loop
        with connect(_ws_url(emu), open_timeout=5) as ws:
            ws.recv(timeout=5)
            emu.wait_for_connections(1)  # a coroutine method, made blocking
            assert emu.send_error("XYZ-1", "odd") == 1
            assert json.loads(ws.recv(timeout=5))[1]["errorCode"] == "XYZ-1"
        assert emu.delete_subscription("no-such-id") is False
        with pytest.raises(KeyError, match="no-such-id"):
            emu.set_subscription_status("no-such-id", "Suspended")  # a plain method
    assert emu.account_id == emu.accounts[0].account_id  # still readable once stopped
