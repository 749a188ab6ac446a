"""Issue 11: the client against an emulator that behaves like the real platform (real
sockets on 127.0.0.1 port 0). One test (or more) per item of the issue."""

from __future__ import annotations

import logging
import socket
from typing import Any

import anyio
import pytest
from client_helpers import PRESENCE, TELEPHONY, background_done, client_for, take
from support import take_until

import rcstream
from rcstream.emulator import Emulator
from rcstream.models import Notification
from rcstream.models.lifecycle import Gap

ACC_PRESENCE = "/restapi/v1.0/account/~/presence"
LINE_PRESENCE = "/restapi/v1.0/account/~/extension/~/presence/line/presence"


# ---- 1. routing the way the platform delivers ------------------------------------------


async def test_account_filter_gets_every_extension_and_extension_filter_only_the_owner() -> None:
    async with Emulator(auth_rate_limit=None, seed=7, extensions=4) as emu:
        me = emu.extension_id
        other = next(e for e in emu.extension_ids if e != me)
        async with (
            client_for(emu) as client,
            client.subscribe(ACC_PRESENCE, raw=True) as everyone,
            client.subscribe(PRESENCE, raw=True) as mine,
        ):
            theirs_uid = await emu.publish_generated("account-presence", extension_id=other)
            mine_uid = await emu.publish_generated("account-presence", extension_id=me)
            got = await take(everyone, 2)
            assert [e["uuid"] for e in got] == [theirs_uid, mine_uid]
            assert f"/extension/{other}/presence" in got[0]["event"]  # the real path shape
            (own,) = await take(mine, 1)
            assert own["uuid"] == mine_uid  # never the other extension's presence
            assert client.stats.unmatched == 0


@pytest.mark.parametrize("path_kind", ["extension", "filter"])
async def test_line_presence_is_delivered_under_both_path_readings(path_kind: Any) -> None:
    async with Emulator(
        auth_rate_limit=None, seed=7, extensions=4, presence_event_path=path_kind
    ) as emu:
        async with client_for(emu) as client, client.subscribe(LINE_PRESENCE, raw=True) as ev:
            uid = await emu.publish_generated("line-presence")
            (item,) = await take(ev, 1)
            assert item["uuid"] == uid


# ---- 2. access tokens refreshed while connected ----------------------------------------


async def _ten_second_stream(expiry: Any, *, refresh: bool) -> tuple[Emulator, Any, set[str]]:
    # Compressed time: 2 s tokens are refreshed every ~1.1 s, far more often than the
    # platform's Auth group allows (about 5 a minute), so both the emulator's and the
    # client's Auth limits are switched off (auth_rate_limit=None); docs/reconnects.md.
    sent: set[str] = set()
    got: set[str] = set()
    async with Emulator(
        auth_rate_limit=None, seed=7, access_token_ttl=2, on_token_expiry=expiry
    ) as emu:
        async with (
            client_for(emu, refresh_while_connected=refresh, heartbeat_interval=1.0) as client,
            client.subscribe(TELEPHONY, raw=True) as ev,
        ):
            all_in = anyio.Event()
            published = False

            async def collect() -> None:
                async for item in ev:
                    got.add(item["uuid"])
                    if published and sent <= got:
                        all_in.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(collect)
                for _ in range(20):
                    sent.add(await emu.publish_generated("telephony-sessions"))
                    # not a poll: the stream must really span 10 s so that five 2 s tokens
                    # expire in the emulator's wall clock while events flow
                    await anyio.sleep(0.5)
                published = True
                if sent <= got:
                    all_in.set()
                with anyio.move_on_after(3):  # the lost ones never come: bounded wait
                    await all_in.wait()
                tg.cancel_scope.cancel()
            stats = client.stats
        return emu, stats, sent - got


@pytest.mark.parametrize("expiry", ["close", "silent"])
async def test_refresh_while_connected_keeps_one_connection_and_loses_nothing(expiry: Any) -> None:
    emu, stats, lost = await _ten_second_stream(expiry, refresh=True)
    assert lost == set()
    assert emu.stats.connections == 1
    assert stats.token_refreshes >= 4


@pytest.mark.parametrize("expiry", ["close", "silent"])
async def test_a_token_that_expires_anyway_heals_under_both_readings(expiry: Any) -> None:
    # the proactive refresh (at 60 % of a 2 s token) is refused with a Retry-After past the
    # expiry: "close" ends the socket, "silent" keeps it open but stopped for good
    async with Emulator(
        auth_rate_limit=None, seed=7, access_token_ttl=2, on_token_expiry=expiry
    ) as emu:
        async with (
            client_for(emu, subscription_check_interval=0.5) as client,
            client.subscribe(TELEPHONY, raw=True) as ev,
        ):
            emu.rate_limit_next("token", retry_after=2.5)
            with anyio.fail_after(8):
                while client.stats.recoveries < 1:
                    await anyio.sleep(0.05)
            uid = await emu.publish_generated("telephony-sessions")
            (got,) = await take(ev, 1)
            assert got["uuid"] == uid
            assert emu.stats.connections == 2


async def test_without_refresh_the_emulator_really_enforces_expiry() -> None:
    emu, stats, _ = await _ten_second_stream("close", refresh=False)
    assert emu.stats.connections > 1  # the socket was closed at expiry (and came back)
    assert stats.token_refreshes == 0


# ---- 3. no orphaned subscriptions; SUB-505 is not fatal --------------------------------


async def test_failed_recovery_deletes_the_orphaned_subscription(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY, lifecycle=True) as ev:
        first = client.subscription_id
        assert first is not None
        emu.fail_next_recovery()
        await emu.abort_connections()
        with anyio.fail_after(10):
            async for item in ev:
                if isinstance(item, Gap):
                    break
            await emu.wait_until(lambda e: first not in {s.id for s in e.subscriptions}, 10)
            await background_done(client)  # the DELETE's answer was read
        assert client.stats.orphans_deleted == 1
        assert client.subscription_id != first
        assert first not in {s.id for s in emu.subscriptions}
        assert first not in client.created_subscription_ids


async def test_full_subscription_table_waits_for_a_free_slot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "rcstream.client")
    async with Emulator(auth_rate_limit=None, seed=7, subscription_limit=1) as emu:
        holder = client_for(emu)
        waiter = client_for(emu, subscription_limit_wait=0.05)
        async with holder, waiter:
            entered = anyio.Event()

            async def wait_for_slot() -> None:
                async with waiter.subscribe(PRESENCE):
                    entered.set()

            async with holder.subscribe(TELEPHONY), anyio.create_task_group() as tg:
                tg.start_soon(wait_for_slot)
                # the holder's subscription POST, the waiter's refused one, then the
                # waiter's retry over the same socket, which follows the SUB-505 log line
                await emu.wait_until(lambda e: e.stats.client_requests >= 3, 10)
                assert "SUB-505" in caplog.text
                assert not entered.is_set()
                assert "rcstream subscriptions delete" in caplog.text
                await holder.aclose()  # frees the slot
                with anyio.fail_after(10):
                    await entered.wait()


# ---- 4. OAuth hygiene -------------------------------------------------------------------


@pytest.mark.parametrize("keep", [False, True])
async def test_close_revokes_the_session_it_logged_in_unless_kept(
    emu: Emulator, keep: bool
) -> None:
    async with client_for(emu, keep_session_on_close=keep) as client, client.subscribe(TELEPHONY):
        pass
    assert emu.stats.revocations == (0 if keep else 1)


async def test_fork_shares_one_login_with_a_wstoken_per_connection(emu: Emulator) -> None:
    async with client_for(emu) as parent:
        async with (
            parent.subscribe(TELEPHONY, raw=True) as calls,
            parent.fork() as child,
            child.subscribe(PRESENCE, raw=True) as presence,
        ):
            tel = await emu.publish_generated("telephony-sessions")
            pres = await emu.publish_generated("presence")
            assert [e["uuid"] for e in await take(calls, 1)] == [tel]
            assert [e["uuid"] for e in await take(presence, 1)] == [pres]
            assert parent.subscription_id != child.subscription_id
        assert emu.stats.revocations == 0  # closing the fork keeps the shared session
    assert sum(emu.stats.grants.values()) == 1
    assert emu.stats.wstokens == 2
    assert emu.stats.revocations == 1


# ---- 7. retry forever once connected; fail fast when never connected -------------------


def test_retry_forever_is_the_default() -> None:
    assert rcstream.ClientOptions().max_attempts is None
    assert rcstream.ClientOptions().first_connect_timeout == 15.0


async def test_never_connected_fails_fast_with_one_sentence_naming_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    url = f"http://127.0.0.1:{port}"
    env = {
        "RINGCENTRAL_SERVER_URL": url,
        "RINGCENTRAL_CLIENT_ID": "id",
        "RINGCENTRAL_CLIENT_SECRET": "secret",
        "RINGCENTRAL_JWT": "jwt",
    }
    opts = rcstream.ClientOptions(
        backoff_base=0.01, backoff_cap=0.05, first_connect_timeout=0.5, auth_rate_limit=None
    )
    client = rcstream.Client.from_env(env, options=opts)
    with anyio.fail_after(10), pytest.raises(rcstream.ConnectionFailedError) as info:
        async with client, client.subscribe(TELEPHONY):
            pass
    assert url in str(info.value)
    assert "secret" not in str(info.value) and "jwt" not in str(info.value).lower()


# ---- 8. a vanished subscription is noticed ---------------------------------------------


async def test_deleted_subscription_is_recreated_and_reported_as_a_gap(emu: Emulator) -> None:
    async with (
        client_for(emu, subscription_check_interval=0.2) as client,
        client.subscribe(TELEPHONY, lifecycle=True) as ev,
    ):
        sid = client.subscription_id
        await client.rest("DELETE", f"/restapi/v1.0/subscription/{sid}")  # another tool
        with anyio.fail_after(10):
            async for item in ev:
                if isinstance(item, Gap):
                    assert item.reason == "subscription_recreated"
                    break
        # the Gap is announced once the new subscription is in place
        assert client.subscription_id not in (None, sid)
        uid = await emu.publish_generated("telephony-sessions")
        with anyio.fail_after(10):
            async for item in ev:
                if isinstance(item, Notification):
                    assert item.uuid == uid
                    break
        assert client.stats.subscriptions_recreated == 1


async def test_a_401_over_the_socket_refreshes_once_and_retries() -> None:
    async with (
        Emulator(auth_rate_limit=None, seed=7, on_token_expiry="silent") as emu,
        client_for(emu, refresh_while_connected=False) as client,
        client.subscribe(TELEPHONY),
    ):
        sid = client.subscription_id
        # "silent": the socket stays open but stopped for good (requests get 401); a
        # refresh does not revive it, a new connection recovering with wsc does
        await emu.expire_access_tokens()
        reply = await client.request("GET", f"/restapi/v1.0/subscription/{sid}")
        assert reply.ok and reply.body["id"] == sid
        assert client.stats.token_refreshes == 1
        assert client.stats.recoveries == 1
        assert emu.stats.connections == 2


@pytest.mark.parametrize("how", ["deleted", "expired", "suspended"])
async def test_vanished_subscription_under_a_live_listener(emu: Emulator, how: str) -> None:
    async with (
        client_for(emu, subscription_check_interval=0.2) as client,
        client.subscribe(TELEPHONY, lifecycle=True) as ev,
    ):
        sid = client.subscription_id
        assert sid is not None
        if how == "deleted":
            await emu.delete_subscription(sid)
        elif how == "expired":
            await emu.expire_subscription(sid)
        else:
            emu.set_subscription_status(sid, "Suspended")
        with anyio.fail_after(10):
            async for item in ev:
                if isinstance(item, Gap):
                    assert item.reason == "subscription_recreated"
                    break
        uid = await emu.publish_generated("telephony-sessions")
        with anyio.fail_after(10):
            async for item in ev:
                if isinstance(item, Notification):
                    assert item.uuid == uid
                    break
        assert client.subscription_id not in (None, sid)
        if how == "suspended":  # it still took a slot: the client deleted it
            await emu.wait_until(lambda e: sid not in {s.id for s in e.subscriptions}, 10)


async def test_a_caller_supplied_token_stops_the_stream_at_its_expiry_with_one_sentence(
    emu: Emulator,
) -> None:
    async with client_for(emu, keep_session_on_close=True) as login:
        await login.rest("GET", "/restapi/v1.0/subscription")
        assert login._tokens is not None and login._tokens.tokens is not None
        token = login._tokens.tokens.access_token.get()
    auth = rcstream.StaticTokenAuth(token, expires_in=1.0)
    client = rcstream.Client(emu.server_url, auth=auth, options=client_for(emu).options)
    with anyio.fail_after(10), pytest.raises(rcstream.AuthenticationError) as info:
        async with client, client.subscribe(TELEPHONY) as ev:
            async for _ in ev:
                pass
    message = str(info.value)
    assert "expired" in message and token not in message
    assert emu.stats.revocations == 0  # never revoke a token the caller supplied


@pytest.mark.parametrize("recreate", [False, True])
async def test_recreate_after_recovery_replaces_the_recovered_subscription(
    recreate: bool,
) -> None:
    # RingCentral's own widget does not trust a recovered subscription and re-creates it;
    # rcstream does so when asked (recreate_after_recovery), with a Gap, old one deleted first
    async with Emulator(auth_rate_limit=None, seed=7) as emu:
        async with (
            client_for(
                emu, subscription_check_interval=None, recreate_after_recovery=recreate
            ) as client,
            client.subscribe(TELEPHONY, lifecycle=True) as events,
        ):
            first = client.subscription_id
            during = await emu.publish_generated("telephony-sessions")
            await emu.abort_connections()  # events published now are buffered for the replay
            while_down = await emu.publish_generated("telephony-sessions")
            await emu.wait_for_stat("recoveries_succeeded", 1)
            if recreate:
                await emu.wait_until(lambda e: first not in {s.id for s in e.subscriptions}, 10)
                await emu.wait_for_stat("subscriptions_created", 2)
            after = await emu.publish_generated("telephony-sessions")
            seen = await take_until(events, after)
            last = client.subscription_id
        notes = [i.uuid for i in seen if isinstance(i, Notification)]
        assert notes == [during, while_down, after]  # the replay is delivered either way
        gaps = [i.reason for i in seen if isinstance(i, Gap)]
        assert gaps == (["subscription_recreated"] if recreate else [])
        assert (last != first) is recreate
        assert emu.stats.subscriptions_created == (2 if recreate else 1)
        assert client.stats.orphans_deleted == 0  # deleted first, then created


@pytest.mark.parametrize("interval", [0.3, None])
async def test_recreate_after_recovery_waits_for_a_failed_delete_instead_of_doubling(
    interval: float | None,
) -> None:
    # the recovered subscription could not be deleted (429): no new one is created beside
    # it (both would deliver); the upkeep tries again after its wait (a quarter of the
    # token's life left, here under a second), also with periodic checks off
    async with Emulator(auth_rate_limit=None, seed=7, access_token_ttl=4) as emu:
        async with (
            client_for(
                emu, subscription_check_interval=interval, recreate_after_recovery=True
            ) as client,
            client.subscribe(TELEPHONY, lifecycle=True) as events,
        ):
            await emu.abort_connections()
            emu.rate_limit_next("request", retry_after=0.01)  # the DELETE after the replay
            await emu.wait_for_stat("subscriptions_created", 2)
            assert emu.stats.rate_limited == 1
            # the old one was deleted before the new one was asked for, not left beside it
            # (the platform might deliver both) to be deleted afterwards as an orphan
            assert emu.stats.subscriptions_deleted == 1
            assert client.stats.orphans_deleted == 0
            after = await emu.publish_generated("telephony-sessions")
            seen = await take_until(events, after)
        assert [i.reason for i in seen if isinstance(i, Gap)] == ["subscription_recreated"]
