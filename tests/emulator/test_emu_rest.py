"""Emulator REST over HTTP: account/extension endpoints with paging, and subscriptions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from emu_helpers import Rc

MakeRc = Callable[..., Awaitable[Rc]]
PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"


async def token(rc: Rc) -> str:
    return str((await rc.login())["access_token"])


async def test_bearer_is_required(rc: Rc) -> None:
    reply = await rc.call("GET", "/restapi/v1.0/account/~")
    assert reply.status == 401
    assert reply.body["errorCode"] == "OAU-134"
    assert reply.headers["RCRequestId"]


async def test_account_and_extension_info(rc: Rc) -> None:
    at = await token(rc)
    account = await rc.api("GET", "/restapi/v1.0/account/~", at)
    assert account.status == 200
    assert str(account.body["id"]) == rc.emu.account_id
    me = await rc.api("GET", "/restapi/v1.0/account/~/extension/~", at)
    assert me.status == 200
    assert str(me.body["id"]) == rc.emu.extension_id
    assert me.body["account"]["id"] == rc.emu.account_id
    assert me.body["uri"] == (
        f"{rc.emu.server_url}/restapi/v1.0/account/{rc.emu.account_id}"
        f"/extension/{rc.emu.extension_id}"
    )
    other = rc.emu.extension_ids[2]
    by_id = await rc.api("GET", f"/restapi/v1.0/account/{rc.emu.account_id}/extension/{other}", at)
    assert by_id.body["extensionNumber"] == "103"
    missing = await rc.api("GET", "/restapi/v1.0/account/~/extension/1", at)
    assert missing.status == 404
    assert missing.body["errorCode"] == "CMN-102"
    foreign = await rc.api("GET", "/restapi/v1.0/account/1/extension", at)
    assert foreign.status == 404


async def test_extension_paging(make_rc: MakeRc) -> None:
    rc = await make_rc(extensions=7)
    at = await token(rc)
    seen: list[str] = []
    page = 1
    while True:
        reply = await rc.api(
            "GET",
            "/restapi/v1.0/account/~/extension",
            at,
            params={"page": str(page), "perPage": "3"},
        )
        assert reply.status == 200
        body = reply.body
        seen += [str(r["id"]) for r in body["records"]]
        for record in body["records"]:
            assert record["type"] == "User"
            assert record["status"] == "Enabled"
            assert set(record) >= {"id", "extensionNumber", "name", "uri"}
        paging, nav = body["paging"], body["navigation"]
        assert paging["page"] == page
        assert paging["perPage"] == 3
        assert paging["totalPages"] == 3
        assert paging["totalElements"] == 7
        assert paging["pageStart"] == (page - 1) * 3
        assert paging["pageEnd"] == min(page * 3, 7) - 1
        assert nav["firstPage"]["uri"].endswith("?page=1&perPage=3")
        assert nav["lastPage"]["uri"].endswith("?page=3&perPage=3")
        assert ("previousPage" in nav) == (page > 1)
        if "nextPage" not in nav:
            break
        assert nav["nextPage"]["uri"].endswith(f"?page={page + 1}&perPage=3")
        page += 1
    assert seen == list(rc.emu.extension_ids)


async def test_extension_list_defaults_to_100_per_page(rc: Rc) -> None:
    reply = await rc.api("GET", "/restapi/v1.0/account/~/extension", await token(rc))
    assert reply.body["paging"]["perPage"] == 100
    assert len(reply.body["records"]) == 5


@pytest.mark.parametrize("params", [{"page": "0"}, {"perPage": "x"}, {"perPage": "5000"}])
async def test_invalid_paging(rc: Rc, params: dict[str, str]) -> None:
    reply = await rc.api("GET", "/restapi/v1.0/account/~/extension", await token(rc), params=params)
    assert reply.status == 400
    assert reply.body["errorCode"] == "CMN-101"


async def test_webhook_subscription_lifecycle(rc: Rc) -> None:
    from rcstream.webhooks import WebhookReceiver

    at = await token(rc)
    base = "/restapi/v1.0/subscription"
    async with WebhookReceiver(token="t") as receiver:  # answers the validation request
        hook = {"transportType": "WebHook", "address": receiver.url}
        created = await rc.api(
            "POST", base, at, json_body={"eventFilters": [PRESENCE], "deliveryMode": hook}
        )
    assert created.status == 200
    sub = created.body
    assert sub["deliveryMode"] == {**hook, "encryption": False}
    assert sub["expiresIn"] == 604799
    read = await rc.api("GET", f"{base}/{sub['id']}", at)
    assert read.body["id"] == sub["id"]
    listed = await rc.api("GET", base, at)
    assert [r["id"] for r in listed.body["records"]] == [sub["id"]]
    updated = await rc.api(
        "PUT",
        f"{base}/{sub['id']}",
        at,
        json_body={"eventFilters": ["/restapi/v1.0/account/~/extension/~/voicemail"]},
    )
    assert updated.status == 200
    assert updated.body["eventFilters"][0].endswith("/voicemail")
    renewed = await rc.api("POST", f"{base}/{sub['id']}/renew", at)
    assert renewed.status == 200
    deleted = await rc.api("DELETE", f"{base}/{sub['id']}", at)
    assert deleted.status == 204
    assert deleted.body is None
    gone = await rc.api("GET", f"{base}/{sub['id']}", at)
    assert gone.status == 404
    assert gone.body["errorCode"] == "SUB-507"


@pytest.mark.parametrize(
    "delivery",
    [
        {"transportType": "WebHook"},
        {"transportType": "WebHook", "address": "ftp://nope"},
        {"transportType": "PubNub"},
        {"transportType": "WebSocket"},
        None,
    ],
)
async def test_invalid_rest_subscriptions(rc: Rc, delivery: dict[str, str] | None) -> None:
    body = {"eventFilters": [PRESENCE], "deliveryMode": delivery}
    reply = await rc.api("POST", "/restapi/v1.0/subscription", await token(rc), json_body=body)
    assert reply.status == 400
    assert reply.body["errorCode"] == "CMN-101"


async def test_invalid_json_body(rc: Rc) -> None:
    reply = await rc.api(
        "POST",
        "/restapi/v1.0/subscription",
        await token(rc),
        data=b"{nope",
    )
    assert reply.status == 400
    assert reply.body["errorCode"] == "CMN-103"


async def test_websocket_subscriptions_over_http(rc: Rc) -> None:
    at = await token(rc)
    ws = await rc.connect(access_token=at)
    sub_id = (await ws.subscribe(PRESENCE))[1]["id"]
    listed = await rc.api("GET", "/restapi/v1.0/subscription", at)
    (record,) = listed.body["records"]
    assert record["id"] == sub_id
    assert record["deliveryMode"]["transportType"] == "WebSocket"
    # They cannot be updated over HTTP ...
    put = await rc.api(
        "PUT", f"/restapi/v1.0/subscription/{sub_id}", at, json_body={"eventFilters": [PRESENCE]}
    )
    assert put.status == 400
    # ... but can be deleted, and the session then has none.
    assert (await rc.api("DELETE", f"/restapi/v1.0/subscription/{sub_id}", at)).status == 204
    assert rc.emu.sessions[0].subscription_id is None
    # Another user does not see or touch them.
    other = await rc.login(rc.emu.jwt_for(rc.emu.extension_ids[1]))
    listed = await rc.api("GET", "/restapi/v1.0/subscription", other["access_token"])
    assert listed.body["records"] == []


async def test_unknown_paths(rc: Rc) -> None:
    at = await token(rc)
    reply = await rc.api("GET", "/restapi/v1.0/dictionary/country", at)
    assert reply.status == 404
    assert reply.body["errorCode"] == "CMN-102"
    assert (await rc.call("GET", "/restapi/oauth/token")).status == 404


async def test_rate_limited_api_call(rc: Rc) -> None:
    at = await token(rc)
    rc.emu.rate_limit_next("request", retry_after=3)
    reply = await rc.api("GET", "/restapi/v1.0/account/~", at)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "3"
    assert (await rc.api("GET", "/restapi/v1.0/account/~", at)).status == 200


async def test_send_sms_over_rest_and_over_the_socket() -> None:
    import rcstream
    from rcstream.emulator import Emulator

    async with Emulator(auth_rate_limit=None) as emu:
        client = rcstream.Client.from_env(
            emu.env(), options=rcstream.ClientOptions(auth_rate_limit=None)
        )
        async with client:
            body = {
                "from": {"phoneNumber": "+16505550100"},
                "to": [{"phoneNumber": "+1415"}],
                "text": "hello",
            }
            over_ws = await client.request("POST", "/restapi/v1.0/account/~/extension/~/sms", body)
            over_http = await client.rest(
                "POST", "/restapi/v1.0/account/~/extension/~/sms", json=body
            )
            for resp in (over_ws, over_http):
                assert resp.body["subject"] == "hello"
                assert resp.body["direction"] == "Outbound"
                assert resp.body["type"] == "SMS"
            with pytest.raises(rcstream.GatewayError) as info:
                await client.request(
                    "POST", "/restapi/v1.0/account/~/extension/~/sms", {"to": [], "text": "x"}
                )
            assert info.value.error_code == "CMN-101"
    assert [m["subject"] for m in emu.sent_sms] == ["hello", "hello"]
    assert emu.stats.sms_sent == 2
