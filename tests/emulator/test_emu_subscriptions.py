"""Emulator: subscriptions and REST over the socket (ClientRequest), both error styles."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest
from emu_helpers import Rc

from rcstream.emulator import catalog

MakeRc = Callable[..., Awaitable[Rc]]
PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"
SMS = "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WS = {"transportType": "WebSocket"}


@pytest.mark.parametrize("path", ["/restapi/v1.0/subscription", "/restapi/v1.0/subscription/"])
async def test_create_reply_shape(rc: Rc, path: str) -> None:
    ws = await rc.connect()
    header, body = await ws.subscribe(PRESENCE, SMS, path=path)
    assert header["type"] == "ClientRequest"
    assert header["status"] == 200
    assert set(header["headers"]) == {"Content-Type", "RCRequestId", "Date", "Server", "RoutingKey"}
    assert header["headers"]["Content-Type"].startswith("application/json")
    acc, ext = rc.emu.account_id, rc.emu.extension_id
    assert body["eventFilters"] == [
        f"/restapi/v1.0/account/{acc}/extension/{ext}/presence",
        f"/restapi/v1.0/account/{acc}/extension/{ext}/message-store/instant?type=SMS",
    ]
    assert body["status"] == "Active"
    assert body["expiresIn"] == 86399
    assert body["deliveryMode"] == {"transportType": "WebSocket", "encryption": False}
    assert body["uri"].endswith(f"/restapi/v1.0/subscription/{body['id']}")
    assert ISO_Z.match(body["creationTime"])
    assert ISO_Z.match(body["expirationTime"])
    (sub,) = await rc.emu.wait_for_subscription()
    assert sub.id == body["id"]
    assert sub.transport == "WebSocket"
    assert rc.emu.sessions[0].subscription_id == body["id"]
    assert rc.emu.stats.subscriptions_created == 1


async def test_second_post_replaces_the_first(rc: Rc) -> None:
    ws = await rc.connect()
    first = (await ws.subscribe(PRESENCE))[1]["id"]
    second = (await ws.subscribe(SMS))[1]["id"]
    assert first != second
    assert [s.id for s in rc.emu.subscriptions] == [second]
    assert rc.emu.stats.subscriptions_replaced == 1
    gone = await ws.request("GET", f"/restapi/v1.0/subscription/{first}")
    assert gone[0]["status"] == 404
    # The old subscription goes quiet: a presence event reaches nobody.
    acc, ext = rc.emu.account_id, rc.emu.extension_id
    await rc.emu.publish(f"/restapi/v1.0/account/{acc}/extension/{ext}/presence", {"n": 1})
    await rc.emu.publish(
        f"/restapi/v1.0/account/{acc}/extension/{ext}/message-store/instant?type=SMS", {"n": 2}
    )
    event = await ws.notification()
    assert event["body"] == {"n": 2}
    assert event["subscriptionId"] == second
    assert rc.emu.stats.notifications_sent == 1


async def test_read_update_delete(rc: Rc) -> None:
    ws = await rc.connect()
    sub_id = (await ws.subscribe(PRESENCE))[1]["id"]
    read = await ws.request("GET", f"/restapi/v1.0/subscription/{sub_id}")
    assert read[0]["status"] == 200
    assert read[1]["id"] == sub_id

    updated = await ws.request(
        "PUT",
        f"/restapi/v1.0/subscription/{sub_id}",
        {"eventFilters": [SMS], "deliveryMode": WS},
    )
    assert updated[0]["status"] == 200
    assert updated[1]["id"] == sub_id
    assert updated[1]["eventFilters"][0].endswith("/message-store/instant?type=SMS")
    assert rc.emu.stats.subscriptions_updated == 1

    # PHP sends only eventFilters on PUT.
    only_filters = await ws.request(
        "PUT", f"/restapi/v1.0/subscription/{sub_id}", {"eventFilters": [PRESENCE]}
    )
    assert only_filters[0]["status"] == 200

    deleted = await ws.request("DELETE", f"/restapi/v1.0/subscription/{sub_id}")
    assert len(deleted) == 1  # 204: no body element
    assert deleted[0]["status"] == 204
    assert "Content-Type" not in deleted[0]["headers"]
    assert rc.emu.subscriptions == ()
    assert rc.emu.sessions[0].subscription_id is None
    assert rc.emu.stats.subscriptions_deleted == 1


async def test_put_unknown_subscription_is_404_sub_507(rc: Rc) -> None:
    ws = await rc.connect()
    reply = await ws.request(
        "PUT", "/restapi/v1.0/subscription/nope", {"eventFilters": [PRESENCE], "deliveryMode": WS}
    )
    header, body = reply
    assert header["type"] == "ClientRequest"
    assert header["status"] == 404
    assert body["errorCode"] == "SUB-507"
    assert body["errors"][0]["errorCode"] == "SUB-507"
    assert body["message"]


@pytest.mark.parametrize(
    ("filters", "status", "code"),
    [
        ([], 400, "SUB-508"),
        (["not-a-path"], 400, "SUB-508"),
        (["/restapi/v1.0/account/~/extension/~/presence with space"], 400, "SUB-508"),
        (["/restapi/v1.0/account/~/extension/abc/presence"], 400, "SUB-508"),
        (["/restapi/v1.0/account/123/extension/~/presence"], 403, "SUB-406"),
        # not a known event filter shape (issue 12 item 6; DOCS errors.md: SUB-508)
        (["/restapi/v1.0/account/~/extension/~/presense"], 400, "SUB-508"),
        (["/restapi/v1.0/account/~/presence", "/team-messaging/v1/post"], 400, "SUB-508"),
        (["/restapi/v1.0/account/~/telephony/session"], 400, "SUB-508"),
    ],
)
async def test_invalid_filters(rc: Rc, filters: list[str], status: int, code: str) -> None:
    ws = await rc.connect()
    header, body = await ws.request(
        "POST", "/restapi/v1.0/subscription", {"eventFilters": filters, "deliveryMode": WS}
    )
    assert header["status"] == status
    assert body["errorCode"] == code
    assert rc.emu.subscriptions == ()


async def test_a_put_with_an_unknown_filter_shape_is_sub_508(rc: Rc) -> None:
    ws = await rc.connect()
    sub_id = (await ws.subscribe("/restapi/v1.0/account/~/extension/~/presence"))[1]["id"]
    header, body = await ws.request(
        "PUT",
        f"/restapi/v1.0/subscription/{sub_id}",
        {"eventFilters": ["/restapi/v1.0/account/~/extension/~/presense"], "deliveryMode": WS},
    )
    assert (header["status"], body["errorCode"]) == (400, "SUB-508")
    assert rc.emu.subscriptions[0].event_filters[0].endswith("/presence")  # unchanged


@pytest.mark.parametrize("family", catalog.FAMILIES)
async def test_every_catalogued_filter_is_a_known_shape(rc: Rc, family: str) -> None:
    ws = await rc.connect()
    await ws.subscribe(catalog.filter_for(family))


async def test_missing_delivery_mode_is_refused(rc: Rc) -> None:
    ws = await rc.connect()
    header, body = await ws.request(
        "POST", "/restapi/v1.0/subscription", {"eventFilters": [PRESENCE]}
    )
    assert header["status"] == 400
    assert body["errorCode"] == "CMN-101"


async def test_missing_websocket_permission(make_rc: MakeRc) -> None:
    rc = await make_rc(deny_websocket_permission=True)
    tokens = await rc.login()
    assert "WebSocketsSubscription" not in tokens["scope"].split()
    ws = await rc.connect(access_token=tokens["access_token"])
    header, body = await ws.request(
        "POST", "/restapi/v1.0/subscription", {"eventFilters": [PRESENCE], "deliveryMode": WS}
    )
    assert header["status"] == 403
    assert body["errorCode"] == "SUB-528"
    assert "WebSocketsSubscription" in body["message"]


async def test_forbidden_filter(make_rc: MakeRc) -> None:
    rc = await make_rc(forbidden_filters=[SMS])
    ws = await rc.connect()
    header, body = await ws.request(
        "POST",
        "/restapi/v1.0/subscription",
        {"eventFilters": [PRESENCE, SMS], "deliveryMode": WS},
    )
    assert header["status"] == 403
    assert body["errorCode"] == "SUB-528"
    assert (await ws.subscribe(PRESENCE))[0]["status"] == 200


async def test_subscription_limit_per_user(make_rc: MakeRc) -> None:
    rc = await make_rc(subscription_limit=2)
    tokens = await rc.login()
    for _ in range(2):
        ws = await rc.connect(access_token=tokens["access_token"])
        await ws.subscribe(PRESENCE)
    third = await rc.connect(access_token=tokens["access_token"])
    header, body = await third.request(
        "POST", "/restapi/v1.0/subscription", {"eventFilters": [PRESENCE], "deliveryMode": WS}
    )
    assert header["status"] == 403
    assert body == {
        "errorCode": "SUB-505",
        "message": "Subscriptions limit exceeded",
        "errors": [{"errorCode": "SUB-505", "message": "Subscriptions limit exceeded"}],
    }
    # Replacing on a session that already has one is still allowed at the limit.
    assert (await ws.subscribe(SMS))[0]["status"] == 200
    # Another user has a budget of its own.
    other = await rc.login(rc.emu.jwt_for(rc.emu.extension_ids[1]))
    ws_other = await rc.connect(access_token=other["access_token"])
    assert (await ws_other.subscribe(PRESENCE))[0]["status"] == 200


async def test_error_style_error_frame(make_rc: MakeRc) -> None:
    rc = await make_rc(error_style="Error")
    ws = await rc.connect()
    header, body = await ws.request(
        "POST",
        "/restapi/v1.0/subscription",
        {"eventFilters": ["bad"], "deliveryMode": WS},
        message_id="req-7",
    )
    assert header["type"] == "Error"
    assert header["messageId"] == "req-7"
    assert header["status"] == 400
    assert body["errorCode"] == "SUB-508"
    # Successes are still ClientRequest frames.
    assert (await ws.subscribe(PRESENCE))[0]["type"] == "ClientRequest"


async def test_rest_over_the_socket(make_rc: MakeRc) -> None:
    rc = await make_rc(extensions=3)
    ws = await rc.connect()
    header, info = await ws.request("GET", "/restapi/v1.0/account/~/extension/~")
    assert header["status"] == 200
    assert str(info["id"]) == rc.emu.extension_id
    assert info["type"] == "User"
    assert info["status"] == "Enabled"
    assert info["extensionNumber"] == "101"

    header, page = await ws.request(
        "GET", "/restapi/v1.0/account/~/extension", query={"perPage": 2, "page": 2}
    )
    assert header["status"] == 200
    assert [str(r["id"]) for r in page["records"]] == [rc.emu.extension_ids[2]]
    assert page["paging"] == {
        "page": 2,
        "totalPages": 2,
        "perPage": 2,
        "totalElements": 3,
        "pageStart": 2,
        "pageEnd": 2,
    }
    assert "nextPage" not in page["navigation"]
    assert page["navigation"]["previousPage"]["uri"].endswith("page=1&perPage=2")

    header, _ = await ws.request("GET", "/restapi/v1.0/account/~/extension?page=1&perPage=1")
    assert header["status"] == 200

    header, body = await ws.request("GET", "/restapi/v1.0/nothing/here")
    assert header["status"] == 404
    assert body["errorCode"] == "CMN-102"

    header, body = await ws.request("POST", "/restapi/oauth/token")
    assert header["status"] == 404


async def test_client_request_without_body_placeholder(rc: Rc) -> None:
    ws = await rc.connect()
    # .NET sends "" as the body when there is none.
    reply = await ws.request("GET", "/restapi/v1.0/account/~", "")
    assert reply[0]["status"] == 200
    assert str(reply[1]["id"]) == rc.emu.account_id


async def test_client_request_needs_a_message_id(rc: Rc) -> None:
    ws = await rc.connect()
    await ws.send([{"type": "ClientRequest", "method": "GET", "path": "/restapi/v1.0/account/~"}])
    frame = await ws.recv()
    assert frame[0]["type"] == "Error"
    assert frame[1]["errorCode"] == "CMN-104"


async def test_rate_limited_client_request(rc: Rc) -> None:
    ws = await rc.connect()
    rc.emu.rate_limit_next("request", retry_after=2)
    header, body = await ws.request("GET", "/restapi/v1.0/account/~")
    assert header["status"] == 429
    assert header["headers"]["Retry-After"] == "2"
    assert body["errorCode"] == "CMN-301"
    assert (await ws.request("GET", "/restapi/v1.0/account/~"))[0]["status"] == 200


async def test_put_from_another_session_moves_the_subscription(rc: Rc) -> None:
    # RCEX resumes a cached subscription after a restart with PUT on a new socket.
    tokens = await rc.login()
    old = await rc.connect(access_token=tokens["access_token"])
    sub_id = (await old.subscribe(PRESENCE))[1]["id"]
    new = await rc.connect(access_token=tokens["access_token"])
    await new.subscribe(SMS)  # replaced by the moved subscription below
    header, body = await new.request(
        "PUT", f"/restapi/v1.0/subscription/{sub_id}", {"eventFilters": [PRESENCE]}
    )
    assert header["status"] == 200
    assert body["id"] == sub_id
    assert [s.id for s in rc.emu.subscriptions] == [sub_id]
    # The old session lost it; the new session holds it.
    assert sorted(str(s.subscription_id) for s in rc.emu.sessions) == sorted(["None", sub_id])
    acc, ext = rc.emu.account_id, rc.emu.extension_id
    uid = await rc.emu.publish(f"/restapi/v1.0/account/{acc}/extension/{ext}/presence", {})
    assert (await new.notification())["uuid"] == uid
