"""Many accounts (issue 16 item 5): ``accounts=N`` gives N accounts, each with its own id,
extensions, JWTs and OAuth sessions; one app (client id) reaches all of them."""

from __future__ import annotations

from emu_helpers import MakeRc

V1 = "/restapi/v1.0"


async def test_accounts_are_distinct_and_each_has_working_credentials(make_rc: MakeRc) -> None:
    rc = await make_rc(accounts=3, extensions=2)
    accounts = rc.emu.accounts
    assert len(accounts) == 3
    assert accounts[0].account_id == rc.emu.account_id
    assert accounts[0].jwt == rc.emu.jwt
    assert len({a.account_id for a in accounts}) == 3
    assert len({e for a in accounts for e in a.extension_ids}) == 6
    assert {a.client_id for a in accounts} == {rc.emu.client_id}
    for account in accounts:
        tokens = await rc.login(account.jwt)
        assert tokens["owner_id"] == account.extension_ids[0]
        me = await rc.api("GET", f"{V1}/account/~/extension/~", tokens["access_token"])
        assert me.body["account"]["id"] == account.account_id
        listed = await rc.api("GET", f"{V1}/account/~/extension", tokens["access_token"])
        assert [str(r["id"]) for r in listed.body["records"]] == list(account.extension_ids)
        other = accounts[0] if account is not accounts[0] else accounts[1]
        refused = await rc.api("GET", f"{V1}/account/{other.account_id}", tokens["access_token"])
        assert refused.status == 404


async def test_events_reach_only_their_own_account(make_rc: MakeRc) -> None:
    rc = await make_rc(accounts=2)
    first, second = rc.emu.accounts
    ws_a = await rc.connect(access_token=(await rc.login(first.jwt))["access_token"])
    ws_b = await rc.connect(access_token=(await rc.login(second.jwt))["access_token"])
    await ws_a.subscribe(f"{V1}/account/~/presence")
    await ws_b.subscribe(f"{V1}/account/~/presence")
    ext = second.extension_ids[1]
    await rc.emu.publish(f"{V1}/account/{second.account_id}/extension/{ext}/presence", {"n": 1})
    got = await ws_b.notification()
    assert got["event"] == f"{V1}/account/{second.account_id}/extension/{ext}/presence"
    assert rc.emu.stats.notifications_sent == 1
    await rc.emu.publish_generated("account-presence", account_id=first.account_id)
    assert (await ws_a.notification())["event"].startswith(f"{V1}/account/{first.account_id}/")


async def test_a_filter_naming_another_account_is_refused(make_rc: MakeRc) -> None:
    rc = await make_rc(accounts=2)
    first, second = rc.emu.accounts
    ws = await rc.connect(access_token=(await rc.login(first.jwt))["access_token"])
    header, body = await ws.request(
        "POST",
        f"{V1}/subscription",
        {
            "eventFilters": [f"{V1}/account/{second.account_id}/presence"],
            "deliveryMode": {"transportType": "WebSocket"},
        },
    )
    assert (header["status"], body["errorCode"]) == (403, "SUB-406")


async def test_the_generator_serves_every_account(make_rc: MakeRc) -> None:
    rc = await make_rc(accounts=2, event_rate=200, seed=5)
    sockets = []
    for account in rc.emu.accounts:
        ws = await rc.connect(access_token=(await rc.login(account.jwt))["access_token"])
        await ws.subscribe(f"{V1}/account/~/presence", f"{V1}/account/~/telephony/sessions")
        sockets.append((account, ws))
    for account, ws in sockets:
        event = await ws.notification()
        assert event["event"].startswith(f"{V1}/account/{account.account_id}/extension/")


async def test_password_logins_per_account(make_rc: MakeRc) -> None:
    rc = await make_rc(accounts=2)
    second = rc.emu.accounts[1]
    reply = await rc.post_token(
        {"grant_type": "password", "username": second.username, "password": rc.emu.password}
    )
    assert reply.status == 200
    assert reply.body["owner_id"] == second.extension_ids[0]
