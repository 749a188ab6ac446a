"""``rcstream listen`` as a real subprocess against the in-process emulator."""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import socket
import sys
from typing import Any

import pytest
from cli_helpers import LIMIT, Receiver, assert_no_traceback
from support import child_env

from rcstream.cli import main
from rcstream.emulator import Emulator, catalog

PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"
SMS = "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"


def _presence_event(emu: Emulator, extension_id: str | None = None) -> str:
    ext = extension_id or emu.extension_id
    return f"/restapi/v1.0/account/{emu.account_id}/extension/{ext}/presence"


def _sms_event(emu: Emulator) -> str:
    return (
        f"/restapi/v1.0/account/{emu.account_id}/extension/{emu.extension_id}"
        "/message-store/instant?type=SMS"
    )


async def test_json_lines_are_the_notifications_as_published(emu: Emulator, run_cli: Any) -> None:
    cli = await run_cli("listen", "-e", "presence,sms", "-n", "3", env=emu.env())
    (sub,) = await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    published = [
        (_presence_event(emu), {"presenceStatus": "Available", "extensionId": emu.extension_id}),
        (_sms_event(emu), {"subject": "héllo \u2603", "from": {"phoneNumber": "+16505550100"}}),
        (_presence_event(emu), {"presenceStatus": "Busy", "nested": {"unknown": [1, None]}}),
    ]
    uuids = [await emu.publish(event, body) for event, body in published]
    lines = [await cli.json_line() for _ in published]
    assert await cli.wait() == 0
    for line, uuid, (event, body) in zip(lines, uuids, published, strict=True):
        assert set(line) == {"uuid", "event", "timestamp", "subscriptionId", "ownerId", "body"}
        assert line["uuid"] == uuid
        assert line["event"] == event
        assert line["body"] == body
        assert line["subscriptionId"] == sub.id
        assert line["ownerId"] == emu.extension_id
    assert len(cli.stdout_lines) == 3  # --count: nothing more on stdout
    stderr = await cli.stderr()
    assert_no_traceback(stderr)
    assert "Listening for 2 event filters;" in stderr
    await emu.wait_until(lambda e: not e.subscriptions, LIMIT)  # deleted on the way out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_signal_deletes_subscription_and_exits_130(
    emu: Emulator, run_cli: Any, signum: signal.Signals
) -> None:
    cli = await run_cli("listen", "-e", "presence", env=emu.env())
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    uuid = await emu.publish(_presence_event(emu), {"presenceStatus": "Available"})
    assert (await cli.json_line())["uuid"] == uuid
    cli.proc.send_signal(signum)
    assert await cli.wait() == 130
    assert emu.subscriptions == ()
    assert emu.stats.subscriptions_deleted == 1
    stderr = await cli.stderr()
    assert_no_traceback(stderr)
    assert "KeyboardInterrupt" not in stderr


async def test_closed_stdout_exits_quietly(emu: Emulator, tmp_path: Any) -> None:
    """``rcstream listen | head -1``: the second write hits a closed pipe; exit 0, no noise."""
    err = tmp_path / "stderr.txt"
    script = (
        f"{sys.executable} -m rcstream listen -e presence 2>{err} | head -n 1; "
        'echo "rcstream-exit=${PIPESTATUS[0]}"'
    )
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        stdout=asyncio.subprocess.PIPE,
        env=child_env(emu.env()),
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    await emu.wait_for_subscription(timeout=LIMIT)
    await emu.publish(_presence_event(emu), {"presenceStatus": "Available"})
    first = await asyncio.wait_for(proc.stdout.readline(), LIMIT)
    assert json.loads(first)["body"] == {"presenceStatus": "Available"}
    # head has exited (or is about to); keep publishing until rcstream notices the pipe.
    done = asyncio.ensure_future(proc.stdout.read())
    async with asyncio.timeout(LIMIT):
        while not done.done():
            await emu.publish(_presence_event(emu), {"presenceStatus": "Busy"})
            await asyncio.wait([done], timeout=0.05)
    rest = done.result().decode()
    await proc.wait()
    assert rest.strip() == "rcstream-exit=0"
    stderr = err.read_text()
    assert_no_traceback(stderr)
    assert "BrokenPipe" not in stderr
    await emu.wait_until(lambda e: not e.subscriptions, LIMIT)


async def test_bad_credentials_exit_3_with_one_line(emu: Emulator, run_cli: Any) -> None:
    env = emu.env() | {"RINGCENTRAL_JWT": "not-a-valid-jwt"}
    cli = await run_cli("listen", "-e", "presence", env=env)
    assert await cli.wait() == 3
    stderr = await cli.stderr()
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("rcstream: error: ")
    assert "not-a-valid-jwt" not in stderr
    assert cli.stdout_lines == []


async def test_unreachable_server_retries_then_exits_4(emu: Emulator, run_cli: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The port is closed now: every connection attempt is refused.
    cli = await run_cli(
        "listen",
        "-e",
        "presence",
        "--server",
        f"http://127.0.0.1:{port}",
        "--max-attempts",
        "3",
        env=emu.env(),
    )
    assert await cli.wait() == 4
    stderr = await cli.stderr()
    assert_no_traceback(stderr)
    # one stderr line per failed attempt while down (the first one a warning)
    assert stderr.count("Still disconnected") >= 2, stderr
    assert re.search(r"warning: Still disconnected after \d+ s: attempt 1 failed", stderr)
    assert ".)" not in stderr, stderr  # sentences are not nested with a doubled period
    errors = [line for line in stderr.splitlines() if line.startswith("rcstream: error:")]
    assert len(errors) == 1, stderr
    assert cli.stdout_lines == []


async def test_usage_errors_exit_2(run_cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    missing = await run_cli("listen", "-e", "presence")  # no credentials anywhere
    assert await missing.wait() == 2
    stderr = await missing.stderr()
    assert_no_traceback(stderr)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "RINGCENTRAL_" in stderr
    creds = {"RINGCENTRAL_CLIENT_ID": "x", "RINGCENTRAL_JWT": "y"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in creds.items():
            mp.setenv(key, value)
        for argv in (["listen"], ["listen", "-e", "no-such-preset"], ["listen", "--no-such-flag"]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1, err
            assert "error:" in err


async def test_all_extensions_presence_over_several_pages(run_cli: Any) -> None:
    async with Emulator(auth_rate_limit=None, extensions=7, seed=3) as emu:
        cli = await run_cli(
            "listen",
            "--all-extensions",
            "presence",
            "-n",
            "7",
            env=emu.env(),
            # 3 extensions per REST page (3 pages) and 4 filters per subscription (2 sockets)
            RCSTREAM_PAGE_SIZE="3",
            RCSTREAM_FILTERS_PER_SUBSCRIPTION="4",
        )
        subs = await cli.expect(emu.wait_for_subscription(2, timeout=LIMIT))
        await emu.wait_until(lambda e: sum(len(s.event_filters) for s in e.subscriptions) == 7)
        assert sorted(len(s.event_filters) for s in subs) == [3, 4]
        expected = {_presence_event(emu, ext) for ext in emu.extension_ids}
        assert len(expected) == 7
        for event in sorted(expected):
            await emu.publish(event, {"presenceStatus": "Available"})
        seen = {(await cli.json_line())["event"] for _ in expected}
        assert seen == expected
        assert await cli.wait() == 0
        assert "on 2 connections" in await cli.stderr()
        await emu.wait_until(lambda e: not e.subscriptions, LIMIT)


async def test_forward_to_posts_each_notification(emu: Emulator, run_cli: Any) -> None:
    receiver = Receiver(status=202)
    url = await receiver.__aenter__()
    try:
        cli = await run_cli(
            "listen",
            "-e",
            "sms",
            "-n",
            "2",
            "--forward-to",
            url,
            "-H",
            "X-Hook-Secret: s3cret",
            env=emu.env(),
        )
        await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
        uuids = [await emu.publish(_sms_event(emu), {"subject": f"msg {i}"}) for i in range(2)]
        await receiver.wait_for(2)
        for i, (uuid, raw, headers) in enumerate(
            zip(uuids, receiver.bodies, receiver.headers, strict=True)
        ):
            body = json.loads(raw)
            assert body["uuid"] == uuid
            assert body["body"] == {"subject": f"msg {i}"}
            assert headers["X-Hook-Secret"] == "s3cret"
            assert headers["Content-Type"] == "application/json"
        assert await cli.wait() == 0
        assert [json.loads(line)["uuid"] for line in cli.stdout_lines] == uuids
        stderr = await cli.stderr()
        assert stderr.count("--> sms") == 2, stderr
        assert stderr.count("<-- [202] POST") == 2, stderr
    finally:
        await receiver.__aexit__()


async def test_only_json_on_stdout_under_faults(emu: Emulator, run_cli: Any) -> None:
    cli = await run_cli("listen", "-e", "presence", "--lifecycle", "-n", "3", env=emu.env())
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    first = await cli.json_line()
    assert first["type"] == "connected"
    assert first["outcome"] == "fresh"
    u1 = await emu.publish(_presence_event(emu), {"presenceStatus": "Available"})
    assert (await cli.json_line())["uuid"] == u1

    await emu.abort_connections()
    u2 = await emu.publish(_presence_event(emu), {"presenceStatus": "Busy"})  # buffered
    await emu.wait_for_stat("recoveries_succeeded", 1, timeout=LIMIT)
    assert await emu.inject_raw("this is not JSON [") == 1
    await emu.inject_raw('[{"type":"ServerNotification"},{"uuid":')
    u3 = await emu.publish(_presence_event(emu), {"presenceStatus": "Offline"})
    assert await cli.wait() == 0

    records = [json.loads(line) for line in cli.stdout_lines]  # every line is JSON
    notifications = [r["uuid"] for r in records if "uuid" in r]
    assert notifications == [u1, u2, u3]
    kinds = [r["type"] for r in records if "type" in r]
    assert "disconnected" in kinds
    assert any(r.get("outcome") == "recovered" for r in records)
    assert_no_traceback(await cli.stderr())


async def test_timeout_exits_0(emu: Emulator, run_cli: Any) -> None:
    cli = await run_cli("listen", "-e", "presence", "--timeout", "0.3", env=emu.env())
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    assert await cli.wait() == 0
    assert "Timeout of 0.3 s reached" in await cli.stderr()
    await emu.wait_until(lambda e: not e.subscriptions, LIMIT)


async def test_pretty_format_one_line_per_event(emu: Emulator, run_cli: Any) -> None:
    cli = await run_cli("listen", "-e", "telephony", "--format", "pretty", "-n", "4", env=emu.env())
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    for event, body in catalog.telephony_call(
        account_id=emu.account_id, extension_id=emu.extension_id, rng=random.Random(1)
    ):
        await emu.publish(event, body)
    lines = [await cli.line() for _ in range(4)]
    assert await cli.wait() == 0
    for line, status in zip(
        lines, ["Setup", "Proceeding", "Answered", "Disconnected"], strict=True
    ):
        assert "telephony" in line
        assert status in line
        assert "→" in line
        assert "\033[" not in line  # stdout is not a terminal: no colours


async def test_only_json_on_stdout_through_every_kind_of_fault(emu: Emulator, run_cli: Any) -> None:
    """Drops, refused recovery, expiry, 429, revocation, WSG-903, close codes and garbage,
    with DEBUG logs on: stdout stays one JSON object per line, every event arrives, and
    every gap is a JSON lifecycle record."""
    env = emu.env() | {"RCSTREAM_AUTH_RATE_LIMIT": "0"}
    faults = 7
    cli = await run_cli(
        "listen", "-e", "presence", "--lifecycle", "-vv", "-n", str(faults + 1), env=env
    )
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    published = [await emu.publish(_presence_event(emu), {"presenceStatus": "Available"})]

    async def healed(n: int) -> None:
        # back on a new connection whose session carries a subscription
        await emu.wait_until(
            lambda e: (
                e.stats.connections >= n
                and any(s.connected and s.subscription_id for s in e.sessions)
            ),
            LIMIT,
        )

    async def fault(step: int) -> None:
        if step == 0:
            await emu.abort_connections()
        elif step == 1:
            emu.fail_next_recovery("WSG-1005")
            await emu.close_connections(1011, "restart")
        elif step == 2:
            await emu.expire_access_tokens(close_sockets=True)
        elif step == 3:
            emu.rate_limit_next("wstoken", retry_after=0.05)
            await emu.close_connections(4999, "odd")
        elif step == 4:
            await emu.revoke_oauth_sessions(error_code="OAU-129")
        elif step == 5:
            emu.set_timeouts(absolute=0.05)
        elif step == 6:
            await emu.inject_raw("}{ not json")
            await emu.abort_connections()

    for step in range(faults):
        before = emu.stats.connections
        await fault(step)
        await cli.expect(healed(before + 1))
        if step == 5:
            emu.set_timeouts(absolute=86400)
        uid = await emu.publish(_presence_event(emu), {"presenceStatus": f"Busy{step}"})
        published.append(uid)
        while True:  # read up to this event: each step is checked on its own
            record = await cli.json_line()
            if record.get("uuid") == uid:
                break
    assert await cli.wait() == 0
    records = [json.loads(line) for line in cli.stdout_lines]  # raises if not JSON
    assert [r["uuid"] for r in records if "uuid" in r] == published
    gaps = [r["reason"] for r in records if r.get("type") == "gap"]
    assert "recovery_failed" in gaps  # the refused recovery and the revocation
    stderr = await cli.stderr()
    assert_no_traceback(stderr)
    for secret in (emu.client_secret, emu.jwt):
        assert secret not in stderr


async def test_no_line_is_held_back_while_waiting_for_events(emu: Emulator, run_cli: Any) -> None:
    """Lines of a burst may share one flush, but each event published alone reaches the
    reader before the next is published (the CLI flushes before it waits)."""
    cli = await run_cli("listen", "-e", "presence", "-n", "4", env=emu.env())
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    for status in ("Available", "Busy", "Offline", "Available"):
        uuid = await emu.publish(_presence_event(emu), {"presenceStatus": status})
        assert (await cli.json_line())["uuid"] == uuid
    assert await cli.wait() == 0


async def test_all_extensions_chunks_share_one_login_and_report_their_gaps(
    run_cli: Any,
) -> None:
    """Issue 11 item 4: every chunk of ``--all-extensions`` is a ``Client.fork()`` of one
    login (one OAuth session, one wstoken per connection); a chunk whose session cannot be
    recovered after a drop reports its own gap on stdout (``--lifecycle``)."""
    async with Emulator(auth_rate_limit=None, extensions=7, seed=5) as emu:
        cli = await run_cli(
            "listen",
            "--all-extensions",
            "presence",
            "--lifecycle",
            env=emu.env(),
            RCSTREAM_FILTERS_PER_SUBSCRIPTION="3",  # 3 + 3 + 1 filters: three sockets
            RCSTREAM_AUTH_RATE_LIMIT="0",  # the reconnects below need 3 more wstokens now
        )
        await cli.expect(emu.wait_for_subscription(3, timeout=LIMIT))
        await cli.expect(emu.wait_for_connections(3, timeout=LIMIT))
        connected = [await cli.json_line() for _ in range(3)]
        assert [item["type"] for item in connected] == ["connected"] * 3
        assert len(emu.oauth_sessions) == 1  # one login for all three connections
        assert emu.stats.wstokens == 3
        # every chunk's session is lost over the drop: each reconnects fresh with a gap
        emu.fail_next_recovery("WSG-1005", count=3)
        assert await emu.abort_connections() == 3
        items = [await cli.json_line() for _ in range(9)]
        kinds = sorted(item["type"] for item in items)
        assert kinds == ["connected"] * 3 + ["disconnected"] * 3 + ["gap"] * 3
        assert {i["reason"] for i in items if i["type"] == "gap"} == {"recovery_failed"}
        await emu.wait_until(
            lambda e: sum(1 for s in e.sessions if s.connected and s.subscription_id) == 3, LIMIT
        )
        expected = {_presence_event(emu, ext) for ext in emu.extension_ids}
        for event in sorted(expected):
            await emu.publish(event, {"presenceStatus": "Busy"})
        seen = {(await cli.json_line())["event"] for _ in expected}
        assert seen == expected
        sessions = emu.oauth_sessions
        assert len(sessions) == 1 and not sessions[0].revoked  # still the one login
        assert sum(emu.stats.grants.values()) == 1
        assert emu.stats.wstokens == 6
        cli.proc.send_signal(signal.SIGINT)
        assert await cli.wait() == 130
        assert_no_traceback(await cli.stderr())
        await emu.wait_until(lambda e: not e.subscriptions, LIMIT)
        assert emu.stats.revocations == 1  # the one session, revoked once on exit


async def test_status_lines_read_naturally(emu: Emulator, run_cli: Any) -> None:
    """Issue 12 item 8: "now has 1 filter", and a deletion says so (no "(deleted) now has
    0 filters")."""
    cli = await run_cli("listen", "-e", "sms", "-n", "1", env=emu.env())
    (sub,) = await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    await emu.publish(_sms_event(emu), {"subject": "hi"})
    await cli.json_line()
    assert await cli.wait() == 0
    stderr = await cli.stderr()
    assert f"Subscription {sub.id} now has 1 filter\n" in stderr, stderr
    assert f"Deleted subscription {sub.id}\n" in stderr, stderr
    assert "filters" not in stderr.replace("1 event filter", ""), stderr
    assert "(deleted)" not in stderr, stderr


async def test_lifecycle_records_say_the_stream_is_still_retrying(
    emu: Emulator, run_cli: Any
) -> None:
    """Issue 11 item 7: while reconnect attempts fail, ``--lifecycle`` writes one
    ``reconnecting`` record per failed attempt and stderr says it is still disconnected."""
    cli = await run_cli("listen", "-e", "sms", "--lifecycle", env=emu.env())
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    assert (await cli.json_line())["type"] == "connected"
    emu.rate_limit_next("wstoken", retry_after=0.01, count=2)  # two attempts refused
    await emu.abort_connections()
    records = [await cli.json_line() for _ in range(4)]
    assert [r["type"] for r in records] == [
        "disconnected",
        "reconnecting",
        "reconnecting",
        "connected",
    ]
    assert [r["attempt"] for r in records[1:3]] == [1, 2]
    assert all(r["next_in"] >= 0.01 and "429" in r["reason"] for r in records[1:3])
    await emu.wait_until(
        lambda e: sum(1 for s in e.sessions if s.connected and s.subscription_id) == 1, LIMIT
    )
    uid = await emu.publish(_sms_event(emu), {"subject": "back"})
    assert (await cli.json_line())["uuid"] == uid
    cli.proc.send_signal(signal.SIGINT)
    assert await cli.wait() == 130
    stderr = await cli.stderr()
    assert_no_traceback(stderr)
    assert re.search(r"warning: Still disconnected after \d+ s: attempt 1 failed", stderr)
    assert "attempt 2 failed" in stderr, stderr
