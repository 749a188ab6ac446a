"""The ``rcstream.testing`` pytest plugin: its fixtures used directly, and a user's test
file run by pytester in pytest-asyncio's strict mode."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import rcstream
from rcstream.emulator import Emulator
from rcstream.emulator.vcc import VccEmulator
from rcstream.exceptions import GatewayError
from rcstream.testing import (
    collect,
    create_webhook_subscription,
    event_path,
    next_event,
    publish_call,
    publish_presence,
    publish_sms,
)
from rcstream.webhooks import VccClient, VccReceiver, WebhookReceiver
from rcstream.webhooks.vcc import new_secret

pytest_plugins = ["pytester"]

PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"
SMS = "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"
TELEPHONY = "/restapi/v1.0/account/~/extension/~/telephony/sessions"


async def test_rc_client_streams_from_rc_emulator(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    assert rc_client.server_url == rc_emulator.server_url
    async with rc_client.subscribe([PRESENCE, SMS, TELEPHONY]) as events:
        u1 = await publish_sms(rc_emulator, "hello bot", from_number="+15550001111")
        u2 = await publish_presence(rc_emulator, "Busy", telephonyStatus="Ringing")
        call = await publish_call(rc_emulator, seed=1)
        got = await collect(events, 6)
    assert [n.uuid for n in got] == [u1, u2, *call]
    sms, presence = got[0].to_wire(), got[1].to_wire()
    assert sms["body"]["subject"] == "hello bot"
    assert sms["body"]["from"]["phoneNumber"] == "+15550001111"
    assert presence["body"]["presenceStatus"] == "Busy"
    assert presence["body"]["telephonyStatus"] == "Ringing"
    codes = [n.to_wire()["body"]["parties"][0]["status"]["code"] for n in got[2:]]
    assert codes == ["Setup", "Proceeding", "Answered", "Disconnected"]


async def test_faults_through_the_fixture(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    async with rc_client.subscribe([PRESENCE]) as events:
        await rc_emulator.abort_connections()
        uuid = await publish_presence(rc_emulator, "Offline")  # buffered, then replayed
        assert (await next_event(events)).uuid == uuid
    assert rc_emulator.stats.recoveries_succeeded == 1


@pytest.mark.rc_emulator(extensions=3, seed=5)
def test_marker_configures_the_emulator(rc_emulator: Emulator, rc_env: dict[str, str]) -> None:
    assert len(rc_emulator.extension_ids) == 3
    assert rc_env["RINGCENTRAL_SERVER_URL"] == rc_emulator.server_url
    assert sorted(rc_env) == [
        "RINGCENTRAL_CLIENT_ID",
        "RINGCENTRAL_CLIENT_SECRET",
        "RINGCENTRAL_JWT",
        "RINGCENTRAL_SERVER_URL",
    ]
    assert event_path(rc_emulator, "presence").endswith(f"/{rc_emulator.extension_id}/presence")


def test_rc_env_vars_sets_the_environment(rc_env_vars: None, rc_env: dict[str, str]) -> None:
    client = rcstream.Client.from_env()
    assert client.server_url == rc_env["RINGCENTRAL_SERVER_URL"]


async def test_next_event_times_out(rc_emulator: Emulator, rc_client: rcstream.Client) -> None:
    async with rc_client.subscribe([PRESENCE]) as events:
        with pytest.raises(TimeoutError):
            await next_event(events, timeout=0.05)


USER_TEST = """
import re
from pathlib import Path

import pytest
from rcstream.testing import next_event, publish_sms

@pytest.mark.asyncio
async def test_my_bot(rc_emulator, rc_client):
    sms = "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"
    async with rc_client.subscribe([sms]) as events:
        await publish_sms(rc_emulator, "ping")
        event = await next_event(events)
        assert event.to_wire()["body"]["subject"] == "ping"

@pytest.mark.rc_emulator(extensions=2)
def test_sync_can_use_options(rc_emulator_options):
    assert rc_emulator_options["extensions"] == 2
    assert rc_emulator_options["auth_rate_limit"] is None
"""


def test_plugin_works_for_a_user_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TEST)
    pytester.makeini("[pytest]\nasyncio_mode = strict\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)


SCOPE_TEST = """
import re
from pathlib import Path

import pytest
from rcstream.testing import next_event, publish_sms

SMS = "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"

@pytest.mark.asyncio
async def test_function_loop(rc_emulator, rc_client):
    async with rc_client.subscribe([SMS]) as events:
        uid = await publish_sms(rc_emulator, "hi")
        assert (await next_event(events)).uuid == uid

@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop(rc_emulator, rc_client):
    pass
"""


def test_plugin_fails_a_wider_loop_scope_with_the_fix(pytester: pytest.Pytester) -> None:
    """Fixtures pinned to the function loop (even with a module default for fixtures); a
    module-scoped test loop fails at setup with a message naming the fix."""
    pytester.makepyfile(test_scope=SCOPE_TEST)
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = module\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*module-scoped event loop*function-scoped loop*loop_scope*"])
    result.stdout.no_fnmatch_line("*Timeout context manager*")


# ----------------------------------------------------------------------------- the docs example

DOCS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "testing-plugin.md"
TITLED_BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```', re.MULTILINE | re.DOTALL)


def _docs_files() -> dict[str, str]:
    return dict(TITLED_BLOCK.findall(DOCS_PAGE.read_text(encoding="utf-8")))


def test_the_docs_example_passes_as_shown(pytester: pytest.Pytester) -> None:
    """The files of docs/testing-plugin.md's example, written as shown, pass."""
    files = _docs_files()
    assert set(files) == {"pyproject.toml", "mybot.py", "test_bot.py"}
    for name, text in files.items():
        (pytester.path / name).write_text(text, encoding="utf-8")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)


def test_an_async_test_without_a_runner_setting_fails_with_the_fix(
    pytester: pytest.Pytester,
) -> None:
    """Strict mode without the marker: not pytest's "not natively supported" skip, but a
    failure naming asyncio_mode."""
    files = _docs_files()
    (pytester.path / "mybot.py").write_text(files["mybot.py"], encoding="utf-8")
    (pytester.path / "test_bot.py").write_text(files["test_bot.py"], encoding="utf-8")
    pytester.makeini("[pytest]\nasyncio_mode = strict\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(['*strict mode*asyncio_mode = "auto"*'])
    result.stdout.no_fnmatch_line("*not natively supported*")


async def test_next_event_skips_lifecycle_and_names_its_filters_on_timeout(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    async with rc_client.subscribe([PRESENCE], lifecycle=True) as events:
        uuid = await publish_presence(rc_emulator, "Busy")
        assert (await next_event(events)).uuid == uuid  # the Connected item was skipped
        with pytest.raises(TimeoutError, match=r"no notification within 0\.05 s .*presence"):
            await next_event(events, timeout=0.05)


# ----------------------------------------------------------------------------- webhooks


async def test_rc_webhook_receiver_gets_the_emulators_posts(
    rc_emulator: Emulator, rc_webhook_receiver: WebhookReceiver
) -> None:
    (record,) = rc_emulator.subscriptions
    assert (record.transport, record.address) == ("WebHook", rc_webhook_receiver.url)
    assert rc_webhook_receiver.stats.handshakes == 1
    sent = [
        await publish_sms(rc_emulator, "by webhook"),
        await publish_presence(rc_emulator, "Busy"),
        *await publish_call(rc_emulator, seed=2),
    ]
    got = []
    async with asyncio.timeout(5):
        for _ in sent:
            got.append(await anext(rc_webhook_receiver))
    assert [n.uuid for n in got] == sent
    assert all(n.subscription_id == record.id for n in got)
    assert rc_webhook_receiver.stats.rejected == 0


@pytest.mark.rc_webhook(filters=[PRESENCE])
async def test_rc_webhook_marker_sets_the_filters(
    rc_emulator: Emulator, rc_webhook_receiver: WebhookReceiver
) -> None:
    (record,) = rc_emulator.subscriptions
    assert record.event_filters == (event_path(rc_emulator, "presence"),)
    await publish_sms(rc_emulator, "not subscribed")
    uuid = await publish_presence(rc_emulator, "Away")
    async with asyncio.timeout(5):
        assert (await anext(rc_webhook_receiver)).uuid == uuid


async def test_create_webhook_subscription_refuses_a_receiver_that_fails_the_handshake(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    async with WebhookReceiver(token="t", path="/hook") as rx:
        with pytest.raises(GatewayError) as info:
            await create_webhook_subscription(rc_client, rx.url + "/not-here")
        assert info.value.error_code == "SUB-525"
        body = await create_webhook_subscription(rc_client, rx.url, verification_token="t")
        assert body["status"] == "Active"
        assert body["deliveryMode"]["address"] == rx.url
    assert len(rc_emulator.subscriptions) == 1


async def test_vcc_fixtures_deliver_signed_events_with_retries(
    vcc_emulator: VccEmulator, vcc_client: VccClient, vcc_env: dict[str, str]
) -> None:
    assert vcc_env["VCC_API_URL"] == vcc_emulator.base_url
    secret = new_secret(32)
    async with VccReceiver(secret=secret, queue_size=1) as rx:
        sub = await vcc_client.create_subscription(
            name="plugin test", url=rx.url, events=["channel.*"], secret=secret
        )
        first = await vcc_emulator.publish("channel.alerted.v1", {"channel": {"channelId": "1"}})
        # the queue of one is full: the receiver answers 503 and the emulator retries
        second = await vcc_emulator.publish("channel.held.v1", {"channel": {"channelId": "1"}})
        async with asyncio.timeout(5):
            got = [await anext(rx), await anext(rx)]
            await vcc_emulator.drain()
        assert [e.id for e in got] == [first["id"], second["id"]]
        assert rx.stats.busy >= 1
        retried = [d for d in vcc_emulator.deliveries if d.event_id == second["id"]]
        assert retried[0].attempts[0] == 503 and retried[0].delivered
        await vcc_client.delete_subscription(sub.id)


@pytest.mark.vcc_emulator(retry_delays=())
def test_vcc_marker_configures_the_emulator(vcc_emulator: VccEmulator) -> None:
    assert vcc_emulator.retry_delays == ()


WEBHOOK_USER_TEST = """
import asyncio

import pytest
from aiohttp import web

from rcstream.testing import create_webhook_subscription, publish_sms


@pytest.mark.asyncio
async def test_my_webhook_app(rc_emulator, rc_client):
    got = []

    async def hook(request):
        if "Validation-Token" in request.headers and not await request.read():
            return web.Response(headers={"Validation-Token": request.headers["Validation-Token"]},
                                content_type="application/json")
        assert request.headers["Verification-Token"] == "s3cret"
        got.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        await create_webhook_subscription(
            rc_client, f"http://127.0.0.1:{port}/hook", verification_token="s3cret"
        )
        uuid = await publish_sms(rc_emulator, "hi")
        assert [n["uuid"] for n in got] == [uuid]
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_my_vcc_consumer(vcc_emulator, vcc_client):
    from rcstream.webhooks import VccReceiver
    from rcstream.webhooks.vcc import new_secret

    secret = new_secret(32)
    async with VccReceiver(secret=secret) as rx:
        await vcc_client.create_subscription(
            name="mine", url=rx.url, events=["agent.*"], secret=secret
        )
        sent = await vcc_emulator.publish("agent.presencechanged.v1", {"user": {"agentId": "7"}})
        event = await asyncio.wait_for(anext(rx), 5)
        assert event.id == sent["id"]
"""


def test_webhook_fixtures_work_for_a_user_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_hooks=WEBHOOK_USER_TEST)
    pytester.makeini("[pytest]\nasyncio_mode = strict\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)


def test_the_docs_webhook_example_passes_as_shown(pytester: pytest.Pytester) -> None:
    """The python block of docs/testing-plugin.md's Webhooks section, run as a test file."""
    section = DOCS_PAGE.read_text(encoding="utf-8").split("## Webhooks", 1)[1]
    (block,) = re.findall(r"^```python\n(.*?)^```", section.split("\n## ", 1)[0], re.M | re.S)
    pytester.makepyfile(test_docs_hooks=block)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)
